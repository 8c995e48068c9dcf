"""The relational database: ``DB`` (Flask-SQLAlchemy), ``MIGRATE`` (Flask-Migrate) and their set-up."""

from __future__ import annotations

import logging
import os
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import flask_sqlalchemy.query
from flask_migrate import Migrate, upgrade
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy_utils import force_auto_coercion

from flask_ligand.errors import abort

if TYPE_CHECKING:
    from flask import Flask

_LOG = logging.getLogger(__name__)


class Query(flask_sqlalchemy.query.Query):
    """The legacy ``Model.query``, whose ``*_or_404`` answer with the standard JSON error body."""

    def get_or_404(self, ident: Any, description: str | None = None) -> Any:
        """Like ``get``, but abort with 404 when no row has that primary key.

        Args:
            ident: The primary key (a tuple or dict for a composite key).
            description: The 404's message; by default it names the model and the key.

        Raises:
            werkzeug.exceptions.NotFound: No such row.
        """
        # Session.get rather than the legacy Query.get, which warns under SQLAlchemy 2.
        entity: Any = self.column_descriptions[0]["entity"]
        item = self.session.get(entity, ident)
        if item is None:
            abort(HTTPStatus.NOT_FOUND, description or f"No {self._entity_name()} with id '{ident}' exists.")
        return item

    def first_or_404(self, description: str | None = None) -> Any:
        """Like ``first``, but abort with 404 when the query finds nothing.

        Raises:
            werkzeug.exceptions.NotFound: No row matches.
        """
        item = self.first()
        if item is None:
            abort(HTTPStatus.NOT_FOUND, description or f"No {self._entity_name()} matches the request.")
        return item

    def _entity_name(self) -> str:
        return str(self.column_descriptions[0]["name"])


class _Base(DeclarativeBase):
    """Declarative base of every ``DB.Model``."""


DB = SQLAlchemy(model_class=_Base, query_class=Query)
MIGRATE = Migrate()

# sqlalchemy-utils types (UUIDType...) coerce assigned values, so a str id behaves like a UUID before flushing.
force_auto_coercion()


def init_app(app: Flask) -> None:
    """Bind ``DB`` and ``MIGRATE`` to ``app`` and, when ``DB_AUTO_UPGRADE`` is set, upgrade the schema.

    Migrations come from ``DB_MIGRATION_DIR``; when that folder does not exist yet (before ``flask db init``),
    the upgrade is skipped with a warning.
    """
    DB.init_app(app)
    migration_dir = app.config["DB_MIGRATION_DIR"]
    MIGRATE.init_app(app, DB, directory=migration_dir, render_as_batch=True, compare_type=True)
    if not app.config["DB_AUTO_UPGRADE"]:
        return
    if not os.path.isdir(migration_dir):
        _LOG.warning("DB_AUTO_UPGRADE is set but DB_MIGRATION_DIR '%s' does not exist; not upgrading.", migration_dir)
        return
    with app.app_context():
        upgrade(directory=migration_dir)
