"""Fixtures: the petstore from flask-ligand's own pytest plugin, on a fresh database per test (SQLite, PostgreSQL).

The plugin (``flask_ligand.pytest_plugin``) gives ``app``, ``client``, ``database_uri``, ``make_token`` and
``auth_headers``; ``pyproject.toml`` names the petstore's factory and both databases. It is loaded here rather than
through its entry point, which ``addopts`` blocks: pytest imports entry-point plugins before coverage starts, and
importing ``flask_ligand.pytest_plugin`` imports ``flask_ligand`` itself. Here PostgreSQL is a private cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from flask_ligand.settings import ENV_SETTINGS
from flask_ligand.testing import HeadersFactory as HeadersFactory
from flask_ligand.testing import TokenFactory as TokenFactory
from tests import pg
from tests.servers import oidc_provider, require

pytest_plugins = ["flask_ligand.pytest_plugin"]

REPO_ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = REPO_ROOT / "migrations"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test without the developer's settings: no setting variables, no .env, no debug."""
    for key in (*ENV_SETTINGS, "FLASK_ENV", "FLASK_DEBUG", "FLASK_APP"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def postgresql_cluster() -> Iterator[pg.Cluster]:
    """A private PostgreSQL cluster on 127.0.0.1 for the whole session (skipped without PostgreSQL, except in CI)."""
    bindir = pg.find_bindir()
    require(bindir is not None, f"PostgreSQL's initdb and pg_ctl are not in {pg.DEBIAN_BINDIRS} nor on the PATH")
    assert bindir is not None
    cluster = pg.start_cluster(bindir)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def ligand_postgresql_url(postgresql_cluster: pg.Cluster) -> str:
    """The plugin's PostgreSQL server: the private cluster (so the ``[postgresql]`` half runs wherever it can)."""
    return postgresql_cluster.uri("postgres")


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    """The key of the identity provider that ``provider`` serves, for :func:`tests.servers.sign_token`."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def provider(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """An OpenID Connect provider on 127.0.0.1 publishing ``signing_key``, for services in ``prod``; its issuer URL."""
    with oidc_provider(signing_key) as issuer:
        yield issuer
