"""The pytest plugin of flask-ligand: a service's app on a fresh database per test, its client, tokens and headers.

Installed with flask-ligand and loaded by pytest through the ``flask-ligand-testing`` entry point. Point it at the
service's app factory with the ``ligand_app_factory`` ini option (``"package.module:create_app"``) or by overriding
the fixture of that name; every test that uses ``app`` or ``client`` then gets the app in ``testing`` on an empty
database of its own, with the tables created. ``--ligand-postgresql-url`` (or the ``ligand_postgresql_url`` ini
option) runs those tests on PostgreSQL too, as ``[sqlite]`` and ``[postgresql]`` variants.

Only pytest and the standard library are imported here: pytest imports every installed plugin at start-up, before
coverage measurement begins, so flask-ligand and the service are imported by the fixtures, when a test needs them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from flask import Flask
    from flask.testing import FlaskClient

    from flask_ligand.testing import HeadersFactory, TokenFactory

#: The databases every test that uses ``database_uri`` runs on, as test ids.
BACKENDS = ("sqlite", "postgresql")
_FACTORY_OPTION = "ligand_app_factory"
_URL_OPTION = "ligand_postgresql_url"
_DATABASES_OPTION = "ligand_databases"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The ini options and the command-line option of the plugin."""
    group = parser.getgroup("flask-ligand")
    group.addoption(
        "--ligand-postgresql-url",
        dest=_URL_OPTION,
        default=None,
        help="SQLAlchemy URL of a PostgreSQL server the tests may create a database on; runs them on it too.",
    )
    parser.addini(_FACTORY_OPTION, "The service's app factory, 'package.module:create_app'.", default="")
    parser.addini(_URL_OPTION, "As --ligand-postgresql-url.", default="")
    parser.addini(
        _DATABASES_OPTION,
        "Databases to run the tests on: sqlite, postgresql (default: sqlite, and postgresql given a URL).",
        type="args",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    """Check the ini options before any test runs.

    Raises:
        pytest.UsageError: ``ligand_databases`` names an unknown database.
    """
    databases(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test that uses the plugin's ``database_uri`` once per database, ``[sqlite]`` then ``[postgresql]``."""
    if "ligand_database_backend" in metafunc.fixturenames:
        backends = databases(metafunc.config)
        metafunc.parametrize("ligand_database_backend", backends, indirect=True, ids=backends)


def databases(config: pytest.Config) -> list[str]:
    """The databases the tests run on: the ``ligand_databases`` ini option, else SQLite, plus PostgreSQL given a URL.

    Raises:
        pytest.UsageError: The ini option names an unknown database.
    """
    chosen: list[str] = list(config.getini(_DATABASES_OPTION))
    unknown = [name for name in chosen if name not in BACKENDS]
    if unknown:
        raise pytest.UsageError(f"{_DATABASES_OPTION} lists {', '.join(unknown)}; use {' and/or '.join(BACKENDS)}.")
    if chosen:
        return chosen
    return ["sqlite", "postgresql"] if _configured_postgresql_url(config) else ["sqlite"]


@pytest.fixture
def ligand_app_factory(pytestconfig: pytest.Config) -> Callable[..., Any]:
    """The service's app factory, from the ``ligand_app_factory`` ini option; override the fixture to pass it.

    It is called as ``factory("testing", SQLALCHEMY_DATABASE_URI=..., **ligand_settings)`` and returns the app, or
    ``(app, api)`` as ``flask_ligand.create_app`` does.
    """
    spec = str(pytestconfig.getini(_FACTORY_OPTION)).strip()
    if not spec:
        pytest.fail(
            "flask-ligand's app fixture needs the service's app factory: set the ini option "
            f"{_FACTORY_OPTION} = 'package.module:create_app' (e.g. in pyproject.toml's [tool.pytest.ini_options]) "
            "or define a ligand_app_factory fixture in conftest.py.",
            pytrace=False,
        )
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # a module the service imports is missing: its traceback shows where
        pytest.fail(f"{_FACTORY_OPTION} = '{spec}' cannot be loaded: {exc}", pytrace=False)
    factory: Callable[..., Any] | None = getattr(module, attribute or "create_app", None)
    if factory is None:
        pytest.fail(f"{_FACTORY_OPTION} = '{spec}': {module_name} has no {attribute or 'create_app'}.", pytrace=False)
    return factory


@pytest.fixture
def ligand_settings() -> dict[str, Any]:
    """Extra settings the ``app`` fixture passes to the factory; override it to change them for some tests."""
    return {}


@pytest.fixture(scope="session")
def ligand_postgresql_url(pytestconfig: pytest.Config) -> str | None:
    """The PostgreSQL server given by ``--ligand-postgresql-url`` or the ini option; ``None`` without one.

    A suite that starts its own server overrides this session fixture to return its URL, and lists ``postgresql`` in
    the ``ligand_databases`` ini option: which variants a test has is decided when tests are collected, before any
    fixture runs.
    """
    return _configured_postgresql_url(pytestconfig)


@pytest.fixture(scope="session")
def ligand_postgresql_database(ligand_postgresql_url: str | None) -> Iterator[str]:
    """A database of this test session on the PostgreSQL server, dropped at the end; tests get a schema in it.

    Without a configured server the test is skipped, saying how to give one; when the ``CI`` environment variable
    is set (as CI services set it) it fails instead: there, a database the suite asks for is a broken pipeline.
    """
    if not ligand_postgresql_url:
        reason = f"no PostgreSQL server: pass --ligand-postgresql-url or set the {_URL_OPTION} ini option"
        if _in_ci():
            pytest.fail(f"{reason} (CI is set: the suite's ligand_databases ask for PostgreSQL)", pytrace=False)
        pytest.skip(reason)
    from flask_ligand.testing import postgresql_database

    with postgresql_database(ligand_postgresql_url) as url:
        yield url


@pytest.fixture
def ligand_database_backend(request: pytest.FixtureRequest) -> str:
    """The database this run of the test uses, ``sqlite`` or ``postgresql`` (set by the plugin's parametrization)."""
    backend: str = getattr(request, "param", "sqlite")
    return backend


@pytest.fixture
def database_uri(request: pytest.FixtureRequest, ligand_database_backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own: a SQLite file, or a fresh schema in the session's PostgreSQL database.

    A schema costs about a millisecond where a PostgreSQL database costs a third of a second; the URL selects it
    (``search_path``), so the app, migrations and subprocesses given the URL all see only it.
    """
    if ligand_database_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    from flask_ligand.testing import postgresql_schema

    with postgresql_schema(request.getfixturevalue("ligand_postgresql_database")) as url:
        yield url


@pytest.fixture
def app(ligand_app_factory: Callable[..., Any], database_uri: str, ligand_settings: dict[str, Any]) -> Iterator[Flask]:
    """The service in ``testing`` on this test's own database, with the tables of its models created."""
    from flask_ligand.testing import created_app

    if "SQLALCHEMY_DATABASE_URI" in ligand_settings:
        pytest.fail(
            "ligand_settings sets SQLALCHEMY_DATABASE_URI: override the database_uri fixture instead, which every "
            "test's database comes from.",
            pytrace=False,
        )
    with created_app(ligand_app_factory, SQLALCHEMY_DATABASE_URI=database_uri, **ligand_settings) as flask_app:
        yield flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """Flask's test client of ``app``."""
    return app.test_client()


@pytest.fixture
def make_token(app: Flask) -> TokenFactory:
    """Mint a token ``app`` accepts: ``make_token(roles=["user"], sub="tester", expires_in=None, **claims)``."""
    from flask_ligand import testing

    def make(roles: Any = ("user",), *, sub: str = "tester", expires_in: Any = None, **claims: Any) -> str:
        return testing.make_token(app, roles, sub=sub, expires_in=expires_in, **claims)

    return make


@pytest.fixture
def auth_headers(app: Flask) -> HeadersFactory:
    """Headers with a bearer token for roles: ``auth_headers("user", "admin", **{"If-Match": etag})``."""
    from flask_ligand import testing

    def headers(*roles: str, **extra: str) -> dict[str, str]:
        return testing.auth_headers(app, *roles, **extra)

    return headers


def _in_ci() -> bool:
    """Whether the ``CI`` environment variable says this runs in CI (``true``, ``1``...; not ``false`` or ``0``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _configured_postgresql_url(config: pytest.Config) -> str | None:
    url = config.getoption(_URL_OPTION, default=None) or str(config.getini(_URL_OPTION)).strip()
    return str(url) if url else None
