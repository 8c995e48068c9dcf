"""With ``ERRORS_PROBLEM_DETAILS``, every error is RFC 9457 ``application/problem+json``, and the spec says so."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_ligand.testing import json_body

HeadersFactory = Callable[..., dict[str, str]]
PROBLEM_JSON = "application/problem+json"
SPEC_URL = "/openapi/api-spec.json"


@pytest.fixture
def ligand_settings() -> dict[str, Any]:
    """Problem details on, for every test of this module unless it parametrizes ``ligand_settings``."""
    return {"ERRORS_PROBLEM_DETAILS": True}


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Check the problem details members and return the body."""
    assert response.status_code == status, response.text
    assert response.mimetype == PROBLEM_JSON
    body: dict[str, Any] = json_body(response)
    assert body["type"] == "about:blank"
    assert body["status"] == body["code"] == status
    assert body["detail"] == body["message"] and body["detail"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    return body


def test_not_found_is_problem_details_with_title_and_instance(client: FlaskClient) -> None:
    """An unknown URL answers a problem whose title is the reason phrase and instance the request's path."""
    body = assert_problem(client.get("/no/such/thing"), 404)

    assert (body["title"], body["instance"]) == ("Not Found", "/no/such/thing")


def test_validation_error_problem_keeps_errors_per_field(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A 422 problem carries the per-field ``errors`` of the default shape."""
    response = client.post("/pets/", json={"name": ""}, headers=auth_headers("user"))

    body = assert_problem(response, 422)
    assert "name" in body["errors"]["json"]


def test_unauthorized_problem_carries_www_authenticate(client: FlaskClient) -> None:
    """A 401 problem (flask-jwt-extended's loaders) still carries the Bearer challenge."""
    response = client.post("/pets/", json={"name": "Rex"})

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_missing_if_match_is_a_428_problem(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A PUT without If-Match answers a 428 problem."""
    created = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))

    response = client.put(created.headers["Location"], json={"name": "Max"}, headers=auth_headers("user"))

    assert_problem(response, 428)


def test_unknown_pet_problem_names_the_service_message(client: FlaskClient) -> None:
    """A 404 raised by a view keeps the view's message as ``detail``."""
    body = assert_problem(client.get(f"/pets/{uuid.uuid4()}"), 404)

    assert "pet ID" in body["detail"]


@pytest.mark.parametrize("ligand_settings", [{}])
def test_default_shape_is_unchanged_without_the_setting(client: FlaskClient) -> None:
    """Without the setting, an error is the default ``{code, status, message, request_id}`` JSON."""
    response = client.get("/no/such/thing")

    assert response.mimetype == "application/json"
    assert set(json_body(response)) == {"code", "status", "message", "request_id"}


def test_spec_documents_errors_as_problem_details(client: FlaskClient) -> None:
    """The spec's error responses are ``application/problem+json`` bodies of the ``ProblemDetails`` schema."""
    spec = client.get(SPEC_URL).json
    assert spec is not None

    not_found = spec["components"]["responses"]["NOT_FOUND"]["content"]
    assert not_found == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
    schema = spec["components"]["schemas"]["ProblemDetails"]
    assert {"type", "title", "status", "detail", "instance", "code", "message", "errors", "request_id"} <= set(
        schema["properties"]
    )


def test_spec_documents_view_specific_errors_as_problem_details(client: FlaskClient) -> None:
    """Error responses a view declares with ``ErrorSchema`` (client generation's 503) are problem details too."""
    spec = client.get(SPEC_URL).json
    assert spec is not None

    documented = [
        response["content"]
        for path in spec["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict)
        for code, response in operation.get("responses", {}).items()
        if code == "503" and "content" in response
    ]
    assert documented
    assert all(list(content) == [PROBLEM_JSON] for content in documented)


@pytest.mark.parametrize("ligand_settings", [{}])
def test_spec_documents_the_default_shape_without_the_setting(client: FlaskClient) -> None:
    """Without the setting, the spec's error responses stay ``application/json`` ``Error`` bodies."""
    spec = client.get(SPEC_URL).json
    assert spec is not None

    not_found = spec["components"]["responses"]["NOT_FOUND"]["content"]
    assert not_found == {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def test_instance_is_the_path_the_client_asked_for(client: FlaskClient) -> None:
    """Under a prefix a proxy mounts the service at (``SCRIPT_NAME``), the instance keeps it; it is a URI reference."""
    body = assert_problem(client.get("/no/such thing", base_url="http://localhost/petstore"), 404)

    assert body["instance"] == "/petstore/no/such%20thing"
