"""Fixtures: a fresh petstore on a fresh SQLite file per test, and tokens signed with the testing key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token

import example_petstore
from flask_ligand.extensions.database import DB
from flask_ligand.settings import ENV_SETTINGS

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"

TokenFactory = Callable[..., str]
HeadersFactory = Callable[..., dict[str, str]]


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test without the developer's settings: no setting variables, no .env, no debug."""
    for key in (*ENV_SETTINGS, "FLASK_ENV", "FLASK_DEBUG", "FLASK_APP"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """A SQLite file of this test's own."""
    return f"sqlite:///{tmp_path / 'petstore.sqlite'}"


@pytest.fixture
def app(database_uri: str) -> Iterator[Flask]:
    """The petstore in ``testing`` on a fresh database with its tables created."""
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri)
    with app.app_context():
        DB.create_all()
    yield app
    with app.app_context():
        DB.session.remove()
        DB.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_token(app: Flask) -> TokenFactory:
    """Mint a token the app's real verification accepts: ``make_token(roles=["user"], sub=..., **claims)``."""

    def make(roles: list[str] | tuple[str, ...] = ("user",), sub: str = "tester", **claims: Any) -> str:
        with app.app_context():
            return create_access_token(sub, additional_claims={"realm_access": {"roles": list(roles)}, **claims})

    return make


@pytest.fixture
def auth_headers(make_token: TokenFactory) -> HeadersFactory:
    """Headers with a bearer token for the given roles: ``auth_headers("user", "admin")``."""

    def headers(*roles: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(roles=roles)}", **extra}

    return headers
