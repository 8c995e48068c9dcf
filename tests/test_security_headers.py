"""Hardening headers on every response, a strict CSP on API responses, and ProxyFix only when configured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

import example_petstore
from tests.conftest import HeadersFactory

STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """SQLite only: headers do not depend on the database."""
    return f"sqlite:///{tmp_path / 'petstore.sqlite'}"


@pytest.mark.parametrize("path", ["/pets/", "/pets/not-a-uuid", "/nowhere", "/openapi/api-spec.json", "/health/live"])
def test_api_responses_carry_the_hardening_headers(client: FlaskClient, path: str) -> None:
    """JSON responses, errors included, forbid sniffing, framing, referrers and any active content."""
    response = client.get(path)

    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == STRICT_CSP


def test_docs_page_keeps_a_policy_that_lets_it_run(client: FlaskClient) -> None:
    """The Swagger UI page is not given the API's CSP, which would block its scripts and styles."""
    response = client.get("/apidocs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert policy != STRICT_CSP
    assert "script-src 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_headers_a_view_sets_itself_are_kept_once(app: Flask) -> None:
    """A view's own framing policy and CSP win over the defaults, and no header is sent twice."""

    @app.get("/embeddable")
    def embeddable() -> Response:
        return Response(
            "{}",
            mimetype="application/json",
            headers={"X-Frame-Options": "SAMEORIGIN", "Content-Security-Policy": "frame-ancestors 'self'"},
        )

    response = app.test_client().get("/embeddable")

    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("Content-Security-Policy") == ["frame-ancestors 'self'"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]


def test_request_too_large_is_413_json_with_the_headers(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A body over MAX_CONTENT_LENGTH answers 413 JSON, hardened like any response."""
    response = client.post(
        "/pets/", data=b"x" * (1024 * 1024 + 1), content_type="application/json", headers=auth_headers("user")
    )

    assert response.status_code == 413
    assert response.json is not None and response.json["code"] == 413
    assert response.headers["Content-Security-Policy"] == STRICT_CSP


@pytest.mark.parametrize(("settings", "logged"), [({}, "127.0.0.1"), ({"PROXY_FIX_X_FOR": 1}, "198.51.100.7")])
def test_client_address_comes_from_the_proxy_only_with_proxy_fix(
    database_uri: str, capsys: pytest.CaptureFixture[str], settings: dict[str, Any], logged: str
) -> None:
    """X-Forwarded-For is believed only when PROXY_FIX_X_FOR says a proxy sets it; the log shows the result."""
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri, **settings)

    app.test_client().get("/health/live", headers={"X-Forwarded-For": "198.51.100.7"})
    app.test_client().get("/nowhere", headers={"X-Forwarded-For": "198.51.100.7"})

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert {line["remote_addr"] for line in lines if line["event"] == "request started"} == {logged}


def test_request_id_is_trusted_from_the_proxy_behind_proxy_fix(database_uri: str) -> None:
    """Behind ProxyFix, the request id is trusted from the proxy itself, not from the client it forwards for."""
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri, PROXY_FIX_X_FOR=1)

    response = app.test_client().get(
        "/nowhere", headers={"X-Forwarded-For": "198.51.100.7", "X-Request-ID": "from-the-proxy"}
    )

    assert response.headers["X-Request-ID"] == "from-the-proxy"
