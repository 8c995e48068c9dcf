"""``PATCH`` as a JSON Merge Patch (RFC 7396): the petstore's ``/pets/<id>`` and a small app with a nullable field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient
from flask.views import MethodView
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.test import TestResponse

from example_petstore.models import Pet
from flask_ligand import DB, Blueprint
from flask_ligand.extensions.api import AutoSchema
from flask_ligand.testing import json_body
from tests.apps import blueprint_app

HeadersFactory = Callable[..., dict[str, str]]
MERGE_PATCH = "application/merge-patch+json"


class _ToyBase(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees this test-only table."""


class Toy(_ToyBase):
    """A row with a nullable field, which a merge patch can clear."""

    __tablename__ = "test_patch_toy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(String(100), nullable=True)


class _ToySchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Toy
        dump_only = ("id",)


TOYS = Blueprint("Toys", __name__, url_prefix="/toys")


@TOYS.route("/<int:toy_id>")
@TOYS.etag
class ToyById(MethodView):
    @TOYS.response(200, _ToySchema)
    def get(self, toy_id: int) -> Toy:
        return DB.session.get_one(Toy, toy_id)

    @TOYS.merge_patch_arguments(_ToySchema)
    @TOYS.response(200, _ToySchema)
    def patch(self, patch: dict[str, Any], toy_id: int) -> Toy:
        toy = DB.session.get_one(Toy, toy_id)
        TOYS.check_etag(toy, _ToySchema)
        _ToySchema().merge(toy, patch)
        DB.session.commit()
        return toy


@pytest.fixture
def toy_client(database_uri: str) -> Iterator[FlaskClient]:
    """A small app serving one toy (``id`` 1, name "Ball", note "Red") on this test's database."""
    with blueprint_app(TOYS, _ToyBase.metadata, database_uri, Toy(id=1, name="Ball", note="Red")) as app:
        yield app.test_client()


@pytest.fixture
def pet(client: FlaskClient, auth_headers: HeadersFactory) -> TestResponse:
    """The creation response of a pet "Rex", described as "Loyal"."""
    response = client.post("/pets/", json={"name": "Rex", "description": "Loyal"}, headers=auth_headers("user"))
    assert response.status_code == 201, response.json
    return response


def _patch(client: FlaskClient, pet: TestResponse, body: Any, headers: dict[str, str], **kwargs: Any) -> TestResponse:
    return client.patch(
        pet.headers["Location"],
        json=body,
        headers={"If-Match": pet.headers["ETag"], **headers},
        content_type=kwargs.get("content_type", MERGE_PATCH),
    )


def _stored(app: flask.Flask) -> tuple[str, str]:
    with app.app_context():
        stored = DB.session.scalars(select(Pet)).one()
        return stored.name, stored.description


def test_patch_changes_only_the_fields_sent(
    app: flask.Flask, client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A merge patch with only ``name`` renames the pet and keeps its description."""
    response = _patch(client, pet, {"name": "Max"}, auth_headers("user"))

    assert response.status_code == 200, response.json
    assert (json_body(response)["name"], json_body(response)["description"]) == ("Max", "Loyal")
    assert _stored(app) == ("Max", "Loyal")


def test_patch_accepts_plain_json(
    app: flask.Flask, client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A merge patch sent as ``application/json`` is applied too."""
    response = _patch(client, pet, {"description": "Calm"}, auth_headers("user"), content_type="application/json")

    assert response.status_code == 200, response.json
    assert _stored(app) == ("Rex", "Calm")


def test_patch_returns_a_new_etag(client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory) -> None:
    """The patched pet comes back with a new ETag, the one a GET then gives."""
    response = _patch(client, pet, {"name": "Max"}, auth_headers("user"))

    assert response.headers["ETag"] not in ("", pet.headers["ETag"])
    assert client.get(pet.headers["Location"]).headers["ETag"] == response.headers["ETag"]


def test_patch_ignores_read_only_fields(client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory) -> None:
    """``id`` and ``created_at`` in a merge patch are ignored, as in a body sent back from a GET."""
    body = {"id": "00000000-0000-0000-0000-000000000000", "created_at": "2000-01-01T00:00:00Z", "name": "Max"}

    response = _patch(client, pet, body, auth_headers("user"))

    assert response.status_code == 200, response.json
    assert (json_body(response)["id"], json_body(response)["created_at"]) == (
        json_body(pet)["id"],
        json_body(pet)["created_at"],
    )


def test_patch_with_null_for_a_non_nullable_field_returns_422(
    app: flask.Flask, client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """``null`` cannot clear the required ``name``: a 422 naming it, and nothing changes."""
    response = _patch(client, pet, {"name": None}, auth_headers("user"))

    assert response.status_code == 422
    assert "name" in json_body(response)["errors"]["json"]
    assert _stored(app) == ("Rex", "Loyal")


def test_patch_with_unknown_field_returns_422(
    client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A field the pet does not have is a 422 naming it."""
    response = _patch(client, pet, {"colour": "brown"}, auth_headers("user"))

    assert response.status_code == 422
    assert "colour" in json_body(response)["errors"]["json"]


def test_patch_with_a_non_object_returns_422(
    client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A merge patch that is not an object (which would replace the whole pet) is a 422."""
    response = _patch(client, pet, ["name", "Max"], auth_headers("user"))

    assert response.status_code == 422


def test_patch_keeps_the_business_rules(
    app: flask.Flask, client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A patched description is checked like a created one: hatred is a 400."""
    response = _patch(client, pet, {"description": "I hate cats"}, auth_headers("user"))

    assert response.status_code == 400
    assert _stored(app) == ("Rex", "Loyal")


def test_patch_without_if_match_returns_428(
    app: flask.Flask, client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A merge patch must be conditional, like PUT: without If-Match it is a 428."""
    response = client.patch(
        pet.headers["Location"], json={"name": "Max"}, headers=auth_headers("user"), content_type=MERGE_PATCH
    )

    assert response.status_code == 428
    assert _stored(app) == ("Rex", "Loyal")


def test_patch_with_stale_etag_returns_412(
    app: flask.Flask, client: FlaskClient, pet: TestResponse, auth_headers: HeadersFactory
) -> None:
    """A merge patch based on an outdated read is a 412, even when it touches another field."""
    assert _patch(client, pet, {"name": "Max"}, auth_headers("user")).status_code == 200

    response = _patch(client, pet, {"description": "Calm"}, auth_headers("user"))

    assert response.status_code == 412
    assert _stored(app) == ("Max", "Loyal")


def test_patch_without_token_returns_401(client: FlaskClient, pet: TestResponse) -> None:
    """PATCH needs the ``user`` role: without a token it is a 401."""
    assert _patch(client, pet, {"name": "Max"}, {}).status_code == 401


def test_patch_with_null_clears_a_nullable_field(toy_client: FlaskClient) -> None:
    """``null`` for a nullable field stores NULL and leaves the other fields alone."""
    etag = toy_client.get("/toys/1").headers["ETag"]

    response = toy_client.patch("/toys/1", json={"note": None}, headers={"If-Match": etag}, content_type=MERGE_PATCH)

    assert response.status_code == 200, response.json
    assert response.json == {"id": 1, "name": "Ball"}


def test_spec_documents_patch_with_a_partial_schema(client: FlaskClient) -> None:
    """The spec's ``updatePet`` takes a ``PetPatch`` merge patch, whose fields are all optional."""
    spec = json_body(client.get("/openapi/api-spec.json"))
    operation = spec["paths"]["/pets/{item_id}"]["patch"]
    body = operation["requestBody"]["content"][MERGE_PATCH]["schema"]

    assert operation["operationId"] == "updatePet"
    assert body == {"$ref": "#/components/schemas/PetPatch"}
    assert "required" not in spec["components"]["schemas"]["PetPatch"]
    assert "default" not in spec["components"]["schemas"]["PetPatch"]["properties"]["description"]
    assert "required" in spec["components"]["schemas"]["Pet"]
