"""Small apps for tests of framework features the petstore does not use: a blueprint on tables of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask

import flask_ligand
from flask_ligand import DB, Blueprint


@contextmanager
def blueprint_app(blueprint: Blueprint, metadata: sa.MetaData, database_uri: str) -> Iterator[Flask]:
    """An app in ``testing`` serving ``blueprint``, with ``metadata``'s tables (kept out of ``DB.metadata``, which the
    migrations' autogenerate check compares) created on ``database_uri``; its connections closed afterwards."""
    app, api = flask_ligand.create_app(
        blueprint.import_name, "testing", blueprint.name, "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri
    )
    api.register_blueprint(blueprint)
    with app.app_context():
        metadata.create_all(DB.engine)
    try:
        yield app
    finally:
        with app.app_context():
            DB.session.remove()
            DB.engine.dispose()
