"""CORS: any origin without credentials, our headers exposed to and allowed from browsers."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import HeadersFactory

ORIGIN = "https://ui.example.org"


def test_response_exposes_etag_and_pagination_headers(client: FlaskClient) -> None:
    """A cross-origin GET lets the browser read ETag and X-Pagination."""
    response = client.get("/pets/", headers={"Origin": ORIGIN})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    exposed = {name.strip().lower() for name in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "x-pagination"} <= exposed
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
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-evil"},
    )

    assert "x-evil" not in response.headers.get("Access-Control-Allow-Headers", "").lower()


def test_error_responses_carry_cors_headers(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A browser can read the JSON body of a cross-origin error."""
    response = client.post("/pets/", json={}, headers=auth_headers("user", Origin=ORIGIN))

    assert response.status_code == 422
    assert response.headers["Access-Control-Allow-Origin"] == "*"
