"""An app written exactly the way upstream flask-ligand 0.10's example (``flask_ligand_example``) is written.

It is kept as upstream wrote it (only the package and table names differ) to prove such apps run unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

import flask_ligand
from tests.upstream_app import views

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any


__version__ = "0.5.2"


def create_app(flask_env: str, api_title: str, api_version: str, openapi_client_name: str, **kwargs: Any) -> Flask:
    """
    Create Flask application.

    Args:
        flask_env: Specify the environment to use when launching the flask app.
        api_title: The title (name) of the API to display in the OpenAPI documentation.
        api_version: The semantic version for the OpenAPI client.
        openapi_client_name: The package name to use for generated OpenAPI clients.
        kwargs: Additional settings to add to the configuration object or overrides for unprotected settings.

    Returns:
        Fully configured Flask application.

    Raises:
        RuntimeError: Attempted to override a protected setting, specified an additional setting that was not all
            uppercase or the specified environment is invalid.
    """

    app, api = flask_ligand.create_app(__name__, flask_env, api_title, api_version, openapi_client_name, **kwargs)

    views.register_blueprints(api)

    return app
