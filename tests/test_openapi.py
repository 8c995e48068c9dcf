"""The OpenAPI spec and Swagger UI the petstore serves."""

from __future__ import annotations

from flask.testing import FlaskClient

from flask_ligand.testing import json_body


def test_spec_is_served_with_the_bearer_scheme(client: FlaskClient) -> None:
    """The spec declares the bearerAuth scheme that Swagger UI's Authorize button uses."""
    spec = json_body(client.get("/openapi/api-spec.json"))

    assert spec["openapi"] == "3.0.3"
    assert spec["info"] == {"title": "TESTING Pet Store", "version": "1.0.0"}
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_protected_operations_require_the_bearer_scheme(client: FlaskClient) -> None:
    """Writes are documented as secured, reads are not."""
    paths = json_body(client.get("/openapi/api-spec.json"))["paths"]

    assert paths["/pets/"]["post"]["security"] == [{"bearerAuth": []}]
    assert paths["/pets/{item_id}"]["put"]["security"] == [{"bearerAuth": []}]
    assert paths["/pets/{item_id}"]["delete"]["security"] == [{"bearerAuth": []}]
    assert "security" not in paths["/pets/"]["get"]


def test_every_operation_has_a_one_line_summary(client: FlaskClient) -> None:
    """Swagger UI and the generated clients show the summary as one line of plain text, so none spans lines."""
    paths = json_body(client.get("/openapi/api-spec.json"))["paths"]
    summaries = {
        f"{method.upper()} {path}": operation.get("summary", "")
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method != "parameters"
    }

    assert "GET /pets/" in summaries
    assert {operation: summary for operation, summary in summaries.items() if not summary or "\n" in summary} == {}


def test_error_schema_documents_the_json_error_shape(client: FlaskClient) -> None:
    """The documented error body has code, status and message, required, and optional errors and request_id."""
    schemas = json_body(client.get("/openapi/api-spec.json"))["components"]["schemas"]

    error = schemas["Error"]
    assert set(error["properties"]) == {"code", "status", "message", "errors", "request_id"}
    assert set(error["required"]) == {"code", "status", "message"}


def test_swagger_ui_page_is_served(client: FlaskClient) -> None:
    """Swagger UI answers at /apidocs and points at the spec."""
    response = client.get("/apidocs")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"openapi/api-spec.json" in response.data
