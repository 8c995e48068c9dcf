"""Small apps for tests of framework features the petstore does not use: a blueprint on tables of their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask

import flask_ligand
from flask_ligand import DB, Blueprint

_Item = TypeVar("_Item")


@contextmanager
def blueprint_app(
    blueprint: Blueprint,
    metadata: sa.MetaData,
    database_uri: str,
    *rows: Any,
    environment: str = "testing",
    **settings: Any,
) -> Iterator[Flask]:
    """An app in ``environment`` (``testing``) serving ``blueprint``, with ``metadata``'s tables (kept out of
    ``DB.metadata``, which the migrations' autogenerate check compares) created on ``database_uri`` and ``rows``
    stored in them; its connections closed afterwards."""
    app, api = flask_ligand.create_app(
        blueprint.import_name, environment, blueprint.name, "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri, **settings
    )
    api.register_blueprint(blueprint)
    with app.app_context():
        metadata.create_all(DB.engine)
        if rows:
            DB.session.add_all(rows)
            DB.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            DB.session.remove()
            DB.engine.dispose()


def store(item: _Item) -> _Item:
    """Add ``item`` to the session and commit: what a view creating a row does before answering it."""
    DB.session.add(item)
    DB.session.commit()
    return item
