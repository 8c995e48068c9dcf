"""Text no database can store (NUL, unpaired surrogates) is a 422 naming the field, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView

import flask_ligand
from example_petstore.models import Pet
from flask_ligand import Blueprint, Schema
from flask_ligand.extensions.database import DB
from flask_ligand.testing import json_body

HeadersFactory = Callable[..., dict[str, str]]

#: Raw JSON bodies: json.dumps would refuse nothing, but writing the escapes by hand shows what a client sends.
UNSTORABLE = {
    "nul": ("\\u0000", "Text must not contain the NUL character"),
    "high-surrogate": ("\\ud800", "Text must not contain unpaired UTF-16 surrogates"),
    "low-surrogate": ("\\udfff", "Text must not contain unpaired UTF-16 surrogates"),
    "reversed-pair": ("\\ude00\\ud83d", "Text must not contain unpaired UTF-16 surrogates"),
}


def _stored_names(app: Flask) -> list[str]:
    with app.app_context():
        return list(DB.session.scalars(sa.select(Pet.name)).all())


@pytest.mark.parametrize("field", ["name", "description"])
@pytest.mark.parametrize("kind", list(UNSTORABLE))
def test_body_with_unstorable_text_returns_422_naming_the_field(
    app: Flask, client: FlaskClient, auth_headers: HeadersFactory, kind: str, field: str
) -> None:
    """A JSON body whose string holds NUL or an unpaired surrogate is a 422 naming that field, and nothing is stored."""
    escape, message = UNSTORABLE[kind]
    values = {"name": "Rex", "description": "A dog."}
    values[field] = f"A{escape}B"
    raw = "{" + ", ".join(f'"{key}": "{value}"' for key, value in values.items()) + "}"

    response = client.post("/pets/", data=raw, content_type="application/json", headers=auth_headers("user"))

    assert response.status_code == 422, response.json
    assert json_body(response)["message"].startswith("The request holds text no database can store")
    assert list(json_body(response)["errors"]) == ["json"]
    assert list(json_body(response)["errors"]["json"]) == [field]
    assert json_body(response)["errors"]["json"][field][0].startswith(message)
    assert _stored_names(app) == []


def test_body_key_with_nul_returns_422_with_the_key_escaped(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A NUL in a JSON member name is a 422 too; the error names the member with the NUL escaped."""
    response = client.post(
        "/pets/",
        data='{"name": "Rex", "na\\u0000me": "x"}',
        content_type="application/json",
        headers=auth_headers("user"),
    )

    assert response.status_code == 422, response.json
    assert list(json_body(response)["errors"]["json"]) == ["na\\u0000me"]


def test_put_with_unstorable_text_returns_422_and_keeps_the_pet(
    app: Flask, client: FlaskClient, auth_headers: HeadersFactory
) -> None:
    """A replacement carrying a NUL is refused with 422 before anything is written."""
    created = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))
    headers = auth_headers("user", **{"If-Match": created.headers["ETag"]})

    response = client.put(
        created.headers["Location"], data='{"name": "R\\u0000x"}', content_type="application/json", headers=headers
    )

    assert response.status_code == 422, response.json
    assert _stored_names(app) == ["Rex"]


def test_query_string_with_nul_returns_422_naming_the_parameter(client: FlaskClient) -> None:
    """A query parameter holding a percent-encoded NUL is a 422 naming the parameter, not a database error."""
    response = client.get("/pets/?name=R%00x")

    assert response.status_code == 422, response.json
    assert list(json_body(response)["errors"]) == ["query"]
    assert list(json_body(response)["errors"]["query"]) == ["name"]


def test_characters_beyond_the_basic_plane_are_stored_and_read_back(
    client: FlaskClient, auth_headers: HeadersFactory
) -> None:
    """A complete surrogate pair (and the same character in UTF-8) is valid text: stored and served unchanged."""
    created = client.post(
        "/pets/",
        data='{"name": "Rex \\ud83d\\udc36", "description": "Good \U0001f436"}',
        content_type="application/json",
        headers=auth_headers("user"),
    )

    assert created.status_code == 201, created.json
    fetched = json_body(client.get(created.headers["Location"]))
    assert fetched["name"] == "Rex \U0001f436"
    assert fetched["description"] == "Good \U0001f436"


class _TagSchema(Schema):
    label = ma.fields.String(required=True)


class _NestedSchema(Schema):
    tags = ma.fields.List(ma.fields.String())
    owner = ma.fields.Nested(_TagSchema)


@pytest.fixture
def nested_client(database_uri: str) -> Iterator[FlaskClient]:
    """A service of any shape: a view taking lists and nested objects, which echoes what it got."""
    blp = Blueprint("Echo", __name__, url_prefix="/echo")

    @blp.route("/")
    class Echo(MethodView):
        @blp.arguments(_NestedSchema)
        @blp.response(200, _NestedSchema)
        def post(self, data: dict[str, Any]) -> dict[str, Any]:
            return data

    app, api = flask_ligand.create_app(__name__, "testing", "Echo", "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri)
    api.register_blueprint(blp)
    yield app.test_client()
    with app.app_context():
        DB.engine.dispose()


def test_unstorable_text_in_lists_and_nested_objects_is_named_by_its_path(nested_client: FlaskClient) -> None:
    """Every service gets the check: a NUL in a list item and a surrogate in a nested object are both reported."""
    response = nested_client.post(
        "/echo/",
        data='{"tags": ["ok", "b\\u0000d"], "owner": {"label": "\\ud800"}}',
        content_type="application/json",
    )

    assert response.status_code == 422, response.json
    errors = json_body(response)["errors"]["json"]
    assert set(errors) == {"tags", "owner"}
    assert list(errors["tags"]) == ["1"]
    assert list(errors["owner"]) == ["label"]
