"""Health probes: liveness, readiness of the database and the identity provider, bounded in time."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify
from flask.testing import FlaskClient

import example_petstore
from flask_ligand.testing import json_body
from tests.servers import serve


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """SQLite: the PostgreSQL flavour of readiness is in ``tests/test_database_outage.py``."""
    return f"sqlite:///{tmp_path / 'petstore.sqlite'}"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers: a hung database or provider."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for connection in accepted:
        connection.close()
    listener.close()


@pytest.fixture
def identity_provider() -> Iterator[str]:
    """A real OpenID Connect discovery document and JWKS on 127.0.0.1; yields the discovery URL."""
    public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public_key)), "kid": "k1", "alg": "RS256", "use": "sig"}
    provider = Flask("identity_provider")
    base: dict[str, str] = {}
    provider.add_url_rule(
        "/.well-known/openid-configuration",
        "discovery",
        lambda: jsonify(issuer=base["url"], jwks_uri=f"{base['url']}/jwks"),
    )
    provider.add_url_rule("/jwks", "jwks", lambda: jsonify(keys=[jwk]))
    with serve(provider) as url:
        base["url"] = url
        yield f"{url}/.well-known/openid-configuration"


def test_liveness_passes_without_a_token(client: FlaskClient) -> None:
    """``/health/live`` answers 200 JSON to anyone, and is never cached."""
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json == {"status": "pass"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readiness_passes_when_the_database_answers(client: FlaskClient) -> None:
    """``/health/ready`` answers 200 with a passing database check."""
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json is not None
    assert response.json["status"] == "pass"
    assert response.json["checks"]["database"]["status"] == "pass"
    assert "identity_provider" not in response.json["checks"]


def test_concurrent_readiness_probes_all_pass(client: FlaskClient) -> None:
    """Probes that overlap (a kubelet and a load balancer, or a flood) share a running check: none fails for it."""
    statuses: list[int] = []

    def probe() -> None:
        for _ in range(40):
            statuses.append(client.application.test_client().get("/health/ready").status_code)

    probers = [threading.Thread(target=probe) for _ in range(6)]
    for prober in probers:
        prober.start()
    for prober in probers:
        prober.join()

    assert statuses == [200] * 240


def test_readiness_fails_when_the_database_cannot_be_opened(tmp_path: Path) -> None:
    """A database that cannot be opened makes ``/health/ready`` answer 503, without the driver's error text."""
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'missing-dir' / 'db.sqlite'}"
    )

    response = app.test_client().get("/health/ready")

    assert response.status_code == 503
    assert response.json is not None
    check = response.json["checks"]["database"]
    assert response.json["status"] == check["status"] == "fail"
    assert check["output"] == "The database is unavailable; see the service's log."
    assert "sqlite" not in response.text.lower()


def test_readiness_gives_up_on_a_hung_database_within_the_timeout(silent_server: int) -> None:
    """A database that accepts connections but never answers fails the probe after HEALTH_TIMEOUT, not later."""
    app = example_petstore.create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://nobody@127.0.0.1:{silent_server}/db",
        HEALTH_TIMEOUT=1,
    )
    client = app.test_client()
    started = time.monotonic()

    first = client.get("/health/ready")
    second = client.get("/health/ready")

    # Not a speed target: without the timeout the probe would wait as long as the hung server (forever). The margin
    # is wide for a loaded machine; the second probe does not wait at all.
    assert time.monotonic() - started < 10
    assert first.status_code == second.status_code == 503
    assert first.json is not None and second.json is not None
    assert first.json["checks"]["database"]["output"] == "No answer within 1 s."
    assert second.json["checks"]["database"]["output"] == "An earlier check has not finished yet."


def test_readiness_checks_the_identity_provider_keys(identity_provider: str, tmp_path: Path) -> None:
    """With OIDC_DISCOVERY_URL set, readiness passes when the provider publishes its keys."""
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}", OIDC_DISCOVERY_URL=identity_provider
    )

    response = app.test_client().get("/health/ready")

    assert response.status_code == 200, response.text
    assert response.json is not None
    assert response.json["checks"]["identity_provider"]["status"] == "pass"


def test_readiness_fails_while_the_identity_provider_is_down(tmp_path: Path) -> None:
    """With OIDC_DISCOVERY_URL set and the provider unreachable, readiness answers 503 naming it."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        closed_port = probe.getsockname()[1]
    app = example_petstore.create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}",
        OIDC_DISCOVERY_URL=f"http://127.0.0.1:{closed_port}/.well-known/openid-configuration",
    )

    response = app.test_client().get("/health/ready")

    assert response.status_code == 503
    assert response.json is not None
    assert response.json["checks"]["identity_provider"]["status"] == "fail"
    assert response.json["checks"]["database"]["status"] == "pass"


def test_probes_are_not_in_the_public_spec_by_default(client: FlaskClient) -> None:
    """The OpenAPI spec leaves the probes out unless HEALTH_IN_OPENAPI is set."""
    paths = json_body(client.get("/openapi/api-spec.json"))["paths"]

    assert not any(path.startswith("/health") for path in paths)


def test_probes_are_in_the_spec_when_asked(database_uri: str) -> None:
    """With HEALTH_IN_OPENAPI, both probes are documented."""
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri, HEALTH_IN_OPENAPI=True)

    paths = json_body(app.test_client().get("/openapi/api-spec.json"))["paths"]

    assert {"/health/live", "/health/ready"} <= set(paths)


def test_probes_are_not_logged_at_info_level(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    """Probe requests stay out of an INFO log, which then shows only real traffic."""
    client.get("/health/live")
    client.get("/health/ready")
    client.get("/pets/")

    paths = [json.loads(line).get("path") for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert "/pets/" in paths
    assert not any(str(path).startswith("/health") for path in paths)
