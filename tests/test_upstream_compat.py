"""An app written the way upstream flask-ligand's documentation and example show runs unchanged (``upstream_app``)."""

from __future__ import annotations

import importlib
import json
import re
import uuid
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token

from flask_ligand.extensions.database import DB
from flask_ligand.testing import json_body

HeadersFactory = Callable[..., dict[str, str]]

ISO_8601_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
INVALID_PET_ID = "The specified pet ID does not exist or has an invalid format!"


@pytest.fixture(scope="module")
def upstream_app() -> Iterator[ModuleType]:
    """The ``upstream_app`` package, whose ``upstream_pet`` table is in ``DB.metadata`` only while this module runs.

    Its model is a ``DB.Model``, so importing it adds a table to the metadata every app shares; other modules
    (the migration checks) compare that metadata with the petstore's migrations and must not see it.
    """
    package = importlib.import_module("tests.upstream_app")
    table = importlib.import_module("tests.upstream_app.models").PetModel.__table__
    yield package
    DB.metadata.remove(table)


@pytest.fixture
def upstream(upstream_app: ModuleType, database_uri: str) -> Iterator[Flask]:
    """The upstream-style app in ``testing``, with flask-ligand's own JWT set-up.

    Upstream apps' test suites often also replace ``extensions.jwt.init_app`` with ``JWT.init_app``; that set-up is
    covered in ``test_jwt``, so that these tests go through the real one.
    """
    app = upstream_app.create_app(
        "testing", "Upstream Pets", "1.0.0", "upstream-pets-client", SQLALCHEMY_DATABASE_URI=database_uri
    )
    with app.app_context():
        DB.create_all()
    yield app
    with app.app_context():
        DB.session.remove()
        DB.engine.dispose()


@pytest.fixture
def upstream_client(upstream: Flask) -> FlaskClient:
    """A test client of the upstream-style app."""
    return upstream.test_client()


@pytest.fixture
def headers(upstream: Flask) -> HeadersFactory:
    """Bearer headers minted the upstream way: ``headers("user", "admin", **{"If-Match": etag})``."""

    def make(*roles: str, **extra: str) -> dict[str, str]:
        with upstream.app_context():
            token = create_access_token(
                "user-id", additional_claims={"sub": "user-id", "realm_access": {"roles": list(roles)}}
            )
        return {"Authorization": f"Bearer {token}", **extra}

    return make


def _create(client: FlaskClient, headers: HeadersFactory, name: str = "Rex", description: str = "Good") -> str:
    """Create a pet and return its URL."""
    response = client.post("/pets/", json={"name": name, "description": description}, headers=headers("user"))
    assert response.status_code == 201, response.json
    return f"/pets/{json_body(response)['id']}"


def _names(upstream: Flask) -> list[str]:
    """The names of the stored pets, read with upstream's ``Model.query``."""
    pet_model = importlib.import_module("tests.upstream_app.models").PetModel
    with upstream.app_context():
        return sorted(pet.name for pet in pet_model.query.all())


def test_list_is_paginated_with_etag(upstream_client: FlaskClient) -> None:
    """The upstream list view answers 200 with ``X-Pagination`` and an ``ETag``."""
    response = upstream_client.get("/pets/")

    assert response.status_code == 200
    assert response.json == []
    assert json.loads(response.headers["X-Pagination"]) == {"total": 0, "total_pages": 0}
    assert response.headers["ETag"]


def test_create_returns_201_and_stores_the_row(
    upstream: Flask, upstream_client: FlaskClient, headers: HeadersFactory
) -> None:
    """The upstream create view answers 201 with the pet, stored through ``DB.Model`` columns."""
    response = upstream_client.post("/pets/", json={"name": "Rex", "description": "Good"}, headers=headers("user"))

    assert response.status_code == 201, response.json
    assert uuid.UUID(json_body(response)["id"])
    assert (json_body(response)["name"], json_body(response)["description"]) == ("Rex", "Good")
    assert ISO_8601_UTC.fullmatch(json_body(response)["created_at"])
    assert _names(upstream) == ["Rex"]


def test_list_filters_by_name(upstream_client: FlaskClient, headers: HeadersFactory) -> None:
    """``PetModel.query.filter_by(**args)`` paginated by ``SQLCursorPage`` filters and counts."""
    _create(upstream_client, headers, "Rex")
    _create(upstream_client, headers, "Felix")

    response = upstream_client.get("/pets/", query_string={"name": "Felix"})

    assert [pet["name"] for pet in json_body(response)] == ["Felix"]
    assert json.loads(response.headers["X-Pagination"])["total"] == 1


def test_get_returns_the_pet(upstream_client: FlaskClient, headers: HeadersFactory) -> None:
    """``PetModel.query.get_or_404`` finds the pet by its UUID."""
    location = _create(upstream_client, headers)

    response = upstream_client.get(location)

    assert response.status_code == 200
    assert json_body(response)["name"] == "Rex"


def test_get_unknown_pet_returns_404_with_the_apps_message(upstream_client: FlaskClient) -> None:
    """``get_or_404(id, description=...)`` answers 404 with the app's own message."""
    response = upstream_client.get(f"/pets/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json == {
        "code": 404,
        "status": "Not Found",
        "message": INVALID_PET_ID,
        "request_id": response.headers["X-Request-ID"],
    }


def test_put_with_current_etag_replaces_the_pet(
    upstream: Flask, upstream_client: FlaskClient, headers: HeadersFactory
) -> None:
    """``BLP.check_etag`` plus ``PetSchema().update`` replace the pet when If-Match is current."""
    location = _create(upstream_client, headers)
    etag = upstream_client.get(location).headers["ETag"]

    response = upstream_client.put(location, json={"name": "Max"}, headers=headers("user", **{"If-Match": etag}))

    assert response.status_code == 200, response.json
    assert (json_body(response)["name"], json_body(response)["description"]) == ("Max", "")
    assert _names(upstream) == ["Max"]


@pytest.mark.parametrize(("if_match", "status"), [(None, 428), ('"stale"', 412)])
def test_put_without_current_etag_is_refused(
    upstream: Flask, upstream_client: FlaskClient, headers: HeadersFactory, if_match: str | None, status: int
) -> None:
    """PUT without If-Match is a 428 and with a stale one a 412; the pet is unchanged."""
    location = _create(upstream_client, headers)
    extra = {} if if_match is None else {"If-Match": if_match}

    response = upstream_client.put(location, json={"name": "Max"}, headers=headers("user", **extra))

    assert response.status_code == status
    assert _names(upstream) == ["Rex"]


def test_delete_with_current_etag_removes_the_pet(
    upstream: Flask, upstream_client: FlaskClient, headers: HeadersFactory
) -> None:
    """An admin's DELETE with the current ETag answers 204, then the pet is a 404 with the app's message."""
    location = _create(upstream_client, headers)
    etag = upstream_client.get(location).headers["ETag"]

    response = upstream_client.delete(location, headers=headers("admin", **{"If-Match": etag}))

    assert response.status_code == 204
    assert _names(upstream) == []
    assert json_body(upstream_client.get(location))["message"] == INVALID_PET_ID


def test_business_rule_abort_returns_400(upstream_client: FlaskClient, headers: HeadersFactory) -> None:
    """``abort(HTTPStatus(400), "...")`` imported from ``flask_ligand.extensions.jwt`` answers 400 with the message."""
    response = upstream_client.post("/pets/", json={"name": "Rex", "description": "I hate it"}, headers=headers("user"))

    assert response.status_code == 400
    assert response.json == {
        "code": 400,
        "status": "Bad Request",
        "message": "No pet hatred allowed!",
        "request_id": response.headers["X-Request-ID"],
    }


def test_without_token_returns_401(upstream_client: FlaskClient) -> None:
    """A protected upstream view without a token answers 401 ``Missing Authorization Header``."""
    response = upstream_client.post("/pets/", json={"name": "Rex"})

    assert response.status_code == 401
    assert json_body(response)["message"] == "Missing Authorization Header"


def test_without_role_returns_403(upstream_client: FlaskClient, headers: HeadersFactory) -> None:
    """A user without ``admin`` deleting a pet gets upstream's exact 403 message."""
    location = _create(upstream_client, headers)
    etag = upstream_client.get(location).headers["ETag"]

    response = upstream_client.delete(location, headers=headers("user", **{"If-Match": etag}))

    assert response.status_code == 403
    assert json_body(response)["message"] == "This endpoint requires the user to have the 'admin' role!"


def test_bearer_auth_documents_the_protected_operations(upstream_client: FlaskClient) -> None:
    """``@BLP.doc(security=BEARER_AUTH)`` marks the protected operations in the OpenAPI spec, and only those."""
    spec = json_body(upstream_client.get("/openapi/api-spec.json"))

    secured = {
        (path, method)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method != "parameters" and operation.get("security") == [{"bearerAuth": []}]
    }

    assert secured == {("/pets/", "post"), ("/pets/{item_id}", "put"), ("/pets/{item_id}", "delete")}
    assert "bearerAuth" in spec["components"]["securitySchemes"]
