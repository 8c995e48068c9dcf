"""A pet store on flask-ligand."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

import flask_ligand


def create_app(flask_env: str | None = None, **settings: Any) -> Flask:
    """Create the service in an environment: ``FLASK_ENV``'s (``prod`` in production), else ``local``."""
    from petstore import views

    environment = flask_env or os.environ.get("FLASK_ENV", "local")
    app, api = flask_ligand.create_app(__name__, environment, "Pet Store", "1.0.0", **settings)
    api.register_blueprint(views.BLP)
    return app
