"""Extensions bound to every app: the database and bearer-token security."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from flask_ligand.extensions import api as api
    from flask_ligand.extensions import database as database
    from flask_ligand.extensions import jwt as jwt
    from flask_ligand.extensions.api import Api as Api

#: Upstream imported these here, so ``flask_ligand.extensions.Api`` and ``flask_ligand.extensions.jwt`` (for
#: ``monkeypatch.setattr(flask_ligand.extensions.jwt, "init_app", ...)``) work after ``import flask_ligand.extensions``.
_SUBMODULES = frozenset({"api", "database", "jwt", "oidc"})


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


def _import_on_access(name: str) -> Any:
    """Import a submodule, or ``Api``, on first access (PEP 562): importing them here eagerly would be circular.

    Raises:
        AttributeError: No such name.
    """
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "Api":
        return importlib.import_module(f"{__name__}.api").Api
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not TYPE_CHECKING:  # type checkers read the imports above instead
    __getattr__ = _import_on_access
