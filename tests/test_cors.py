"""CORS: any origin without credentials by default, listed origins when configured, our headers exposed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

import example_petstore
from flask_ligand.extensions.database import DB
from tests.conftest import HeadersFactory

ORIGIN = "https://ui.example.org"
OTHER_ORIGIN = "https://evil.example.net"


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """SQLite only: CORS does not depend on the database."""
    return f"sqlite:///{tmp_path / 'petstore.sqlite'}"


@pytest.fixture
def listed_client(database_uri: str) -> FlaskClient:
    """The petstore allowing one origin, with credentials."""
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=database_uri, CORS_ORIGINS=[ORIGIN], CORS_SUPPORTS_CREDENTIALS=True
    )
    with app.app_context():
        DB.create_all()
    return app.test_client()


def preflight(client: FlaskClient, origin: str) -> dict[str, str]:
    response = client.options(
        "/pets/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    return dict(response.headers)


def test_response_exposes_etag_and_pagination_headers(client: FlaskClient) -> None:
    """A cross-origin GET lets the browser read the headers the API documents: ETag, pagination, Location..."""
    response = client.get("/pets/", headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {name.strip().lower() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "x-pagination", "link", "x-total-count", "x-request-id", "location", "retry-after"} <= exposed
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_preflight_allows_authorization_and_conditional_headers(client: FlaskClient) -> None:
    """A preflight for a conditional, authenticated PUT is allowed."""
    requested = "authorization, if-match, if-none-match, content-type"
    response = client.options(
        "/pets/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": requested,
        },
    )

    assert response.status_code == 200
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "if-match", "if-none-match", "content-type"}
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]


def test_preflight_does_not_allow_unlisted_headers(client: FlaskClient) -> None:
    """A header outside the allowed list is not granted to the browser."""
    response = client.options(
        "/pets/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, x-evil",
        },
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"].lower().split(", ") == ["authorization"]


def test_error_responses_carry_cors_headers(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A browser can read the JSON body of a cross-origin error."""
    response = client.post("/pets/", json={}, headers=auth_headers("user", Origin=ORIGIN))

    assert response.status_code == 422
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight_from_a_listed_origin_is_allowed_with_credentials(listed_client: FlaskClient) -> None:
    """A preflight from a listed origin gets that origin back, with credentials allowed."""
    headers = preflight(listed_client, ORIGIN)

    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in headers["Access-Control-Allow-Methods"]


def test_request_from_a_listed_origin_can_be_read(listed_client: FlaskClient) -> None:
    """An actual request from a listed origin is readable by the browser."""
    response = listed_client.get("/pets/", headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_preflight_from_an_unlisted_origin_is_not_allowed(listed_client: FlaskClient) -> None:
    """A preflight from another origin gets no CORS grant, so the browser does not send the request."""
    headers = preflight(listed_client, OTHER_ORIGIN)

    assert "Access-Control-Allow-Origin" not in headers
    assert "Access-Control-Allow-Credentials" not in headers


def test_request_from_an_unlisted_origin_cannot_be_read(listed_client: FlaskClient) -> None:
    """An actual request from another origin gets no CORS headers, so the browser hides the response."""
    response = listed_client.get("/pets/", headers={"Origin": OTHER_ORIGIN})

    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    "origins", ["*", ".*", "^.*", "https://.*", "https://ui.example.org|.*", f"{ORIGIN},(?s).*", "null"]
)
def test_wildcard_origin_with_credentials_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, database_uri: str, origins: str
) -> None:
    """CORS_SUPPORTS_CREDENTIALS with any origin allowed stops create_app, naming both settings."""
    monkeypatch.setenv("CORS_ORIGINS", origins)
    monkeypatch.setenv("CORS_SUPPORTS_CREDENTIALS", "true")

    with pytest.raises(RuntimeError, match="CORS_SUPPORTS_CREDENTIALS.*CORS_ORIGINS"):
        example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri)


@pytest.mark.parametrize(
    "origins",
    [ORIGIN, r"^https://[a-z]+\.example\.org$", r"https://ui\.example\.org", f"{ORIGIN},https://admin.example.org"],
)
def test_origins_that_name_the_front_ends_are_accepted_with_credentials(
    monkeypatch: pytest.MonkeyPatch, database_uri: str, origins: str
) -> None:
    """Literal origins, or a pattern matching only the service's own front ends, may send credentials."""
    monkeypatch.setenv("CORS_ORIGINS", origins)
    monkeypatch.setenv("CORS_SUPPORTS_CREDENTIALS", "true")
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri)
    with app.app_context():
        DB.create_all()

    allowed = app.test_client().get("/pets/", headers={"Origin": ORIGIN})
    refused = app.test_client().get("/pets/", headers={"Origin": "https://stranger.example.net"})

    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in refused.headers


@pytest.mark.parametrize("credentials", [False, True])
def test_an_origin_pattern_matches_whole_origins_only(database_uri: str, credentials: bool) -> None:
    """flask-cors matches a pattern against the start of an origin; here ``https://ui\\.example\\.org`` does not let
    ``https://ui.example.org.evil.net`` in, with or without credentials."""
    app = example_petstore.create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database_uri,
        CORS_ORIGINS=[r"https://ui\.example\.org", re.compile(r"https://[a-z]+\.example\.com")],
        CORS_SUPPORTS_CREDENTIALS=credentials,
    )
    with app.app_context():
        DB.create_all()
    client = app.test_client()

    for allowed in (ORIGIN, "https://admin.example.com"):
        assert client.get("/pets/", headers={"Origin": allowed}).headers["Access-Control-Allow-Origin"] == allowed
    for stranger in ("https://ui.example.org.evil.net", "https://admin.example.com.evil.net"):
        assert "Access-Control-Allow-Origin" not in client.get("/pets/", headers={"Origin": stranger}).headers


def test_resource_origins_are_checked_too(database_uri: str) -> None:
    """Origins given per resource (``CORS_RESOURCES``) cannot let any site in with credentials either."""
    with pytest.raises(RuntimeError, match="CORS_SUPPORTS_CREDENTIALS.*CORS_RESOURCES"):
        example_petstore.create_app(
            "testing",
            SQLALCHEMY_DATABASE_URI=database_uri,
            CORS_ORIGINS=[ORIGIN],
            CORS_RESOURCES={"/*": {"origins": "https://.*"}},
            CORS_SUPPORTS_CREDENTIALS=True,
        )


def test_an_origin_pattern_that_does_not_compile_stops_the_service(database_uri: str) -> None:
    """A broken pattern is named at start-up instead of being compared as text with every origin."""
    broken = r"https://(ui\.example\.org"
    with pytest.raises(RuntimeError, match=re.escape(f"'CORS_ORIGINS' has item '{broken}', not a valid pattern")):
        example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri, CORS_ORIGINS=[broken])
