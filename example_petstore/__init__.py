"""The reference service: a pet store built only on flask-ligand's public API."""

from __future__ import annotations

from typing import Any

from flask import Flask

import flask_ligand
from example_petstore import views

API_TITLE = "Pet Store"
API_VERSION = "1.0.0"


def create_app(
    flask_env: str,
    api_title: str = API_TITLE,
    api_version: str = API_VERSION,
    openapi_client_name: str | None = None,
    **settings: Any,
) -> Flask:
    """Create the petstore app for an environment (``prod``, ``stage``, ``local``, ``testing`` or ``cli``).

    Raises:
        RuntimeError: The settings are invalid (see ``flask_ligand.create_app``).
    """
    app, api = flask_ligand.create_app(__name__, flask_env, api_title, api_version, openapi_client_name, **settings)
    api.register_blueprint(views.BLP)
    return app
