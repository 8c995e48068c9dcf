"""A pet store on flask-ligand."""

from __future__ import annotations

from typing import Any

from flask import Flask

import flask_ligand


def create_app(flask_env: str = "local", **settings: Any) -> Flask:
    """Create the service in an environment: ``local`` by default, ``testing`` in tests, ``prod`` in production."""
    from petstore import views

    app, api = flask_ligand.create_app(__name__, flask_env, "Pet Store", "1.0.0", **settings)
    api.register_blueprint(views.BLP)
    return app
