"""Extensions bound to every app: the database and bearer-token security."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from flask_ligand.extensions.api import Api


def create_api(app: Flask, offline: bool = False) -> Api:
    """Create the ``Api`` for ``app`` and, unless ``offline`` (the ``cli`` environment), bind the extensions.

    The extensions' ``init_app`` are looked up on their modules at call time, so a test suite may replace
    ``flask_ligand.extensions.jwt.init_app`` (upstream's documented way to skip the identity provider).
    """
    # Imported here: the modules of this package import each other's siblings, and whichever one a program
    # imports first must not find this package half-initialised.
    from flask_ligand.extensions import database, jwt
    from flask_ligand.extensions.api import Api

    api = Api(app)
    if offline:
        app.cli.add_command(database.offline_db_command)
    else:
        for extension in (database, jwt):
            extension.init_app(app)
    return api
