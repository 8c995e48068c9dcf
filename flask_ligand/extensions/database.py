"""The relational database: ``DB`` (Flask-SQLAlchemy), ``MIGRATE`` (Flask-Migrate) and their set-up.

Flask-Migrate imports alembic, which only the ``flask db`` commands and ``DB_AUTO_UPGRADE`` use, and which costs a
tenth of a second at every start of a service: ``MIGRATE`` is made on first access (PEP 562), and until then an app
gets the ``flask db`` commands and Flask-Migrate's ``app.extensions["migrate"]`` through stand-ins that import it
when they are used.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import click
import flask_sqlalchemy.query
from flask import current_app
from flask.cli import FlaskGroup
from sqlalchemy import String, event
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.orm import DeclarativeBase, Mapped, Mapper, Session, declared_attr, mapped_column
from sqlalchemy_utils import force_auto_coercion

from flask_ligand.errors import ConfigurationError, abort
from flask_ligand.logging import kept_logging_configuration

if TYPE_CHECKING:
    from flask import Flask
    from flask_migrate import Migrate

    MIGRATE: Migrate

_LOG = logging.getLogger(__name__)
#: How ``MIGRATE`` is bound to every app (Flask-Migrate's defaults, said here because the stand-in repeats them).
_MIGRATE_OPTIONS = {"render_as_batch": True, "compare_type": True}
_MIGRATE_LOCK = threading.Lock()
#: Whether a SQLite connection of the pool enforces foreign keys, in its record's ``info``.
_FOREIGN_KEYS = "ligand_foreign_keys"

#: Characters of a :class:`Versioned` row's version (a UUID4 in hex).
VERSION_LENGTH = 32


class Query(flask_sqlalchemy.query.Query):
    """The legacy ``Model.query``, whose ``*_or_404`` answer the standard JSON error, naming what was not found."""

    def get_or_404(self, ident: Any, description: str | None = None) -> Any:
        """Like ``get``, but abort with 404 when no row has that primary key.

        Args:
            ident: The primary key (a tuple or dict for a composite key).
            description: The 404's message; by default it names the model and the key.

        Raises:
            werkzeug.exceptions.NotFound: No such row.
        """
        # Session.get rather than the legacy Query.get, which warns under SQLAlchemy 2.
        return _get_or_404(self.session, self.column_descriptions[0]["entity"], ident, description)

    def first_or_404(self, description: str | None = None) -> Any:
        """Like ``first``, but abort with 404 when the query finds nothing.

        Raises:
            werkzeug.exceptions.NotFound: No row matches.
        """
        return _found_or_404(self.first(), self, description)

    def one_or_404(self, description: str | None = None) -> Any:
        """Like ``one``, but abort with 404 unless exactly one row matches.

        Raises:
            werkzeug.exceptions.NotFound: No row, or several, match.
        """
        return _one_or_404(self.one, self, description)


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, whose ``*_or_404`` name what was not found when given no description, as ``Query``'s do.

    Named as the class it extends, which ``DB`` was, so that its ``repr`` and type name stay the same.
    """

    def get_or_404(self, entity: Any, ident: Any, *, description: str | None = None, **kwargs: Any) -> Any:
        """Like ``session.get``, but abort with 404 when no row has that primary key."""
        return _get_or_404(self.session, entity, ident, description, **kwargs)

    def first_or_404(self, statement: Any, *, description: str | None = None) -> Any:
        """Like ``session.execute(statement).scalar()``, but abort with 404 when nothing matches."""
        return _found_or_404(self.session.execute(statement).scalar(), statement, description)

    def one_or_404(self, statement: Any, *, description: str | None = None) -> Any:
        """Like ``session.execute(statement).scalar_one()``, but abort with 404 unless exactly one row matches."""
        return _one_or_404(lambda: self.session.execute(statement).scalar_one(), statement, description)


def _get_or_404(session: Any, entity: Any, ident: Any, description: str | None, **kwargs: Any) -> Any:
    """What ``Query.get_or_404`` and ``DB.get_or_404`` both do: ``session.get``, or a 404 naming the model and key."""
    item = session.get(entity, ident, **kwargs)
    if item is None:
        abort(
            HTTPStatus.NOT_FOUND, description or f"No {getattr(entity, '__name__', entity)} with id '{ident}' exists."
        )
    return item


def _found_or_404(item: Any, statement: Any, description: str | None) -> Any:
    """``item``, or a 404 saying nothing matches ``statement``: what both ``first_or_404`` do with their row."""
    if item is None:
        abort(HTTPStatus.NOT_FOUND, description or _none_matches(statement))
    return item


def _looked_for(statement: Any) -> str:
    """What ``statement`` looks for: its first entity's name (``Pet``), or "row" for text and unions, without one."""
    descriptions = getattr(statement, "column_descriptions", None)
    return str(descriptions[0]["name"]) if descriptions else "row"


def _none_matches(statement: Any) -> str:
    return f"No {_looked_for(statement)} matches the request."


def _one_or_404(one: Callable[[], Any], statement: Any, description: str | None) -> Any:
    try:
        return one()
    except NoResultFound:
        abort(HTTPStatus.NOT_FOUND, description or _none_matches(statement))
    except MultipleResultsFound:
        abort(
            HTTPStatus.NOT_FOUND,
            description or f"More than one {_looked_for(statement)} matches the request; expected one.",
        )


#: Values the database computes in an ``INSERT`` or ``UPDATE`` (``server_default``, ``onupdate=func.now()``) are
#: fetched by the statement itself (``RETURNING``), in the write's transaction: with sessions that keep values at
#: commit (``_SESSION_OPTIONS``), nothing of a written row is read again after its commit.
_MAPPER_ARGS: dict[str, Any] = {"eager_defaults": True}


class _Base(DeclarativeBase):
    """Declarative base of every ``DB.Model``."""


class Versioned:
    """A model mixin that makes writes conditional: ``class Pet(Versioned, DB.Model)``.

    Each row carries a version, a random token replaced on every ``UPDATE`` (SQLAlchemy's ``version_id_col``).
    The row's ETag is its version, so computing it costs nothing, and every ``UPDATE`` or ``DELETE`` of the row has
    ``WHERE version_id = <the version this request read>``: when another request changed the row in the meantime,
    nothing matches, SQLAlchemy raises ``StaleDataError`` at commit and the client gets 412 — never a silently lost
    update. Random tokens rather than a counter, so a row deleted and created again under the same key never takes
    back an ETag a client still holds.

    The version is HTTP metadata, not data: generated schemas (``AutoSchema``) leave it out. A model that declares
    its own ``__mapper_args__`` replaces this mixin's, so it must include ``"version_id_col": cls.version_id`` and
    ``"version_id_generator": new_version`` (in a ``declared_attr.directive``, as here). The mixin also asks for
    ``eager_defaults``, which models of ``DB`` get anyway.
    """

    version_id: Mapped[str] = mapped_column(String(VERSION_LENGTH), nullable=False)

    @declared_attr.directive
    @classmethod
    def __mapper_args__(cls) -> dict[str, Any]:
        return {**_MAPPER_ARGS, "version_id_col": cls.version_id, "version_id_generator": new_version}


def new_version(current: str | None = None) -> str:
    """Make the next version of a :class:`Versioned` row: a random token, whatever ``current`` is."""
    return uuid.uuid4().hex


def with_default_driver(uri: str) -> str:
    """Give a PostgreSQL URL without a driver (``postgresql://``, Heroku's ``postgres://``) the psycopg 3 driver."""
    scheme, separator, rest = uri.partition("://")
    if separator and scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return uri


def version_etag(item: object) -> str | None:
    """The ETag of ``item``: its version if it is a :class:`Versioned` row that was stored, else ``None``."""
    if not isinstance(item, Versioned):
        return None
    version = item.version_id
    return version or None


#: Objects keep their values at commit instead of being read again on next access: a view returns what its own write
#: stored, even when another request changes or deletes the row between the commit and the response (which would
#: otherwise show the other write, or fail with ``ObjectDeletedError``). Columns the database fills in itself (server
#: defaults) are still loaded from it after the flush that wrote them.
_SESSION_OPTIONS = {"expire_on_commit": False}

DB = SQLAlchemy(model_class=_Base, query_class=Query, session_options=_SESSION_OPTIONS)

#: Loading strategies whose relationships cannot be loaded again on access, so are never expired.
_NOT_RELOADABLE = frozenset({"raise", "raise_on_sql", "noload", "dynamic", "write_only"})


@event.listens_for(DB.session, "after_commit")
def _expire_loaded_relationships(session: Session) -> None:
    """Read loaded relationships again after a commit, as ``expire_on_commit`` did; column values stay.

    A loaded ``pet.owner`` is not changed by setting ``pet.owner_id``, nor ``owner.pets`` by adding a pet with that
    ``owner_id``: a response nesting them would contradict the write it answers. Expiring a relationship only marks
    it unloaded; the next access reads it, and a row gone meanwhile reads as ``None`` or is missing from the list.
    """
    for state in list(session.identity_map.all_states()):
        item = state.obj()
        if item is None:
            continue
        loaded = [
            relationship.key
            for relationship in state.mapper.relationships
            if relationship.key in state.dict and relationship.lazy not in _NOT_RELOADABLE
        ]
        if loaded:
            session.expire(item, loaded)


@event.listens_for(DB.Model, "instrument_class", propagate=True)
def _fetch_computed_values(mapper: Mapper[Any], _class: type) -> None:
    """Give every model of ``DB`` ``_MAPPER_ARGS``' ``eager_defaults``, whatever ``__mapper_args__`` it declares.

    Set on the mapper rather than as a base class's ``__mapper_args__``, which subclasses of mapped models would
    inherit whole (a parent's ``polymorphic_identity`` among them).
    """
    if mapper.eager_defaults == "auto":
        mapper.eager_defaults = _MAPPER_ARGS["eager_defaults"]


# sqlalchemy-utils types (UUIDType...) coerce assigned values, so a str id behaves like a UUID before flushing.
force_auto_coercion()


def init_app(app: Flask) -> None:
    """Bind ``DB`` and ``MIGRATE`` to ``app`` and, when ``DB_AUTO_UPGRADE`` is set, upgrade the schema.

    A ``postgresql://`` (or ``postgres://``) URL without a driver uses psycopg 3, the driver of the ``postgresql``
    extra, rather than SQLAlchemy's default psycopg2. Migrations come from ``DB_MIGRATION_DIR``; when that folder
    does not exist yet (before ``flask db init``), the upgrade is skipped with a warning.

    Raises:
        ConfigurationError: The database URL needs a driver that is not installed.
    """
    uri = app.config.get("SQLALCHEMY_DATABASE_URI")
    if isinstance(uri, str):
        app.config["SQLALCHEMY_DATABASE_URI"] = uri = with_default_driver(uri)
    try:
        DB.init_app(app)
    except ModuleNotFoundError as exc:
        scheme = uri.partition("://")[0] if isinstance(uri, str) else "this"
        hint = " (pip install 'flask-ligand[postgresql]')" if scheme.startswith("postgresql") else ""
        raise ConfigurationError(
            f"Config 'SQLALCHEMY_DATABASE_URI' uses the '{scheme}' dialect, whose driver '{exc.name}' is not "
            f"installed. Install it{hint}."
        ) from exc
    with app.app_context():
        for engine in DB.engines.values():
            if engine.dialect.name == "sqlite":
                event.listen(engine, "checkout", _sqlite_foreign_keys)
    migration_dir = app.config["DB_MIGRATION_DIR"]
    upgrading = bool(app.config["DB_AUTO_UPGRADE"])
    if upgrading and _running_flask_db():
        _LOG.info("DB_AUTO_UPGRADE skipped: 'flask db' manages the migrations itself.")
        upgrading = False
    if upgrading and not os.path.isdir(migration_dir):
        _LOG.warning("DB_AUTO_UPGRADE is set but DB_MIGRATION_DIR '%s' does not exist; not upgrading.", migration_dir)
        upgrading = False
    if not upgrading and "MIGRATE" not in globals():
        app.extensions["migrate"] = _PendingMigrate(migration_dir)
        app.cli.add_command(_MigrateCommands())
        return
    _bind_migrate(app)
    if upgrading:
        with app.app_context():
            with kept_logging_configuration():  # alembic's env.py would replace the service's log handlers
                _flask_migrate().upgrade(directory=migration_dir)


def _sqlite_foreign_keys(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Make SQLite enforce foreign keys, as PostgreSQL does, except while Alembic migrates (as Django does).

    SQLite checks them only on connections that ask (``PRAGMA foreign_keys``), so a pet of a missing owner was stored
    and ``ON DELETE`` was ignored. During a migration they stay off: batch mode copies a table, drops the old one and
    renames the copy, and with enforcement the drop would delete or refuse the rows referring to it. The pragma is
    set as a connection leaves the pool, outside any transaction (where SQLite would ignore it), when it changes.
    """
    wanted = not _alembic_migrating()
    if record.info.get(_FOREIGN_KEYS) is not wanted:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if wanted else 'OFF'}")
        finally:
            cursor.close()
        record.info[_FOREIGN_KEYS] = wanted


def _alembic_migrating() -> bool:
    """Whether an Alembic environment (``env.py``: an upgrade, downgrade, autogenerate...) runs in this process."""
    context = sys.modules.get("alembic.context")  # imported by every env.py, and never before a migration
    return getattr(context, "_proxy", None) is not None  # the EnvironmentContext that env.py's ``context`` is


#: Options of the ``flask`` command that take a value, to find the command name after them in ``sys.argv``.
_FLASK_OPTIONS_WITH_VALUES = frozenset({"--app", "-A", "--env-file", "-e"})


def _running_flask_db() -> bool:
    """Whether this process runs ``flask db ...``: a ``flask db downgrade`` must not be undone by upgrading first.

    Flask's command line (``flask``, or a service's own script made with ``FlaskGroup``) makes the app while it looks
    the command up, before click knows it, so the command line is read: the first argument after the group's own
    options. Anything else (a WSGI server, a script, another click program) is never taken for ``flask db``.
    """
    context = click.get_current_context(silent=True)
    if context is None or not isinstance(context.find_root().command, FlaskGroup):
        return False
    arguments = iter(sys.argv[1:])
    for argument in arguments:
        if argument in _FLASK_OPTIONS_WITH_VALUES:
            next(arguments, None)
        elif not argument.startswith("-"):
            return argument == "db"
    return False


@click.command(
    "db",
    help="Database migrations: not in the cli environment, which sets up no database.",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
)
def offline_db_command() -> None:
    """``flask db`` in the ``cli`` environment: say where it works instead of "No such command"."""
    raise click.ClickException(
        "'flask db' needs the database, which the cli environment does not set up. Run it in the environment "
        "whose database it is: FLASK_ENV=prod (or stage) with their settings, or local."
    )


def _make_migrate_on_access(name: str) -> Any:
    """Make ``MIGRATE`` on first access: the module's ``__getattr__``, called for names it does not have (PEP 562).

    Raises:
        AttributeError: No such name.
    """
    if name == "MIGRATE":
        return _migrate()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if not TYPE_CHECKING:  # type checkers read the declaration of MIGRATE instead, so that a misspelt name stays an error
    __getattr__ = _make_migrate_on_access


def _migrate() -> Migrate:
    with _MIGRATE_LOCK:
        if "MIGRATE" not in globals():
            made = _flask_migrate().Migrate(**_MIGRATE_OPTIONS)
            made.configure(_print_to_current_stdout)
            globals()["MIGRATE"] = made
        migrate: Migrate = globals()["MIGRATE"]
        return migrate


def _flask_migrate() -> Any:  # the module; Flask-Migrate has no type hints
    # alembic logs its plugins at INFO as it is imported; imported at start-up, before the service configured
    # logging, those lines went nowhere, and imported later they would be noise in the service's log.
    plugins_log = logging.getLogger("alembic.runtime.plugins")
    level = plugins_log.level
    plugins_log.setLevel(logging.WARNING)
    try:
        import flask_migrate
    finally:
        plugins_log.setLevel(level)
    return flask_migrate


def _print_to_current_stdout(config: Any) -> Any:
    # alembic's Config takes sys.stdout as it was when alembic was imported (a default argument): imported on first
    # use, that may be a stream a test runner replaced and closed since, so each command prints to today's.
    config.stdout = sys.stdout
    return config


def _bind_migrate(app: Flask) -> None:
    _migrate().init_app(app, DB, directory=app.config["DB_MIGRATION_DIR"], **_MIGRATE_OPTIONS)


class _PendingMigrate:
    """``app.extensions["migrate"]`` before Flask-Migrate is imported: what migration scripts read of it.

    It has the attributes of Flask-Migrate's own record (``db``, ``directory``, ``configure_args``, ``metadata``);
    reading ``migrate``, as Flask-Migrate's functions do (in an app context), binds ``MIGRATE`` to the current app,
    which replaces this stand-in with Flask-Migrate's record.
    """

    def __init__(self, directory: str) -> None:
        self.db = DB
        self.directory = str(directory)
        self.configure_args = dict(_MIGRATE_OPTIONS)

    @property
    def metadata(self) -> Any:
        return self.db.metadata

    @property
    def migrate(self) -> Migrate:
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        _bind_migrate(app)
        return _migrate()


class _MigrateCommands(click.Group):
    """``flask db``: Flask-Migrate's command group, imported when a command line or help text goes into it.

    Click runs a subcommand through the context it makes (``Group.invoke`` calls ``sub_ctx.command.invoke``), so
    handing that over to Flask-Migrate's group hands over its options, subcommands, help and completion.
    """

    def __init__(self) -> None:
        super().__init__("db")

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        return _commands().make_context(info_name, args, parent, **extra)

    def get_short_help_str(self, limit: int = 45) -> str:
        return _commands().get_short_help_str(limit)


def _commands() -> click.Group:
    _flask_migrate()
    from flask_migrate.cli import db

    group: click.Group = db
    return group
