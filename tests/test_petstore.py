"""The ``/pets/`` resource of the example petstore, end to end through HTTP on a real SQLite database."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from example_petstore.models import Pet
from example_petstore.views import INVALID_PET_ID
from flask_ligand.extensions.database import DB
from flask_ligand.testing import json_body

HeadersFactory = Callable[..., dict[str, str]]
CreatePet = Callable[..., TestResponse]

ISO_8601_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HATRED = "No pet hatred allowed!"


@pytest.fixture
def create_pet(client: FlaskClient, auth_headers: HeadersFactory) -> CreatePet:
    """POST a pet as a ``user`` and return the response: ``create_pet(name="Rex", description="...")``."""

    def create(**body: Any) -> TestResponse:
        return client.post("/pets/", json=body, headers=auth_headers("user"))

    return create


def _rows(app: Flask) -> list[dict[str, Any]]:
    """Every pet stored in the database, as plain dicts ordered by name."""
    with app.app_context():
        pets = DB.session.scalars(select(Pet).order_by(Pet.name)).all()
        return [{"id": str(pet.id), "name": pet.name, "description": pet.description} for pet in pets]


def _etag(client: FlaskClient, location: str) -> str:
    """The current ETag of the resource at ``location``, from a GET."""
    response = client.get(location)
    assert response.status_code == 200, response.json
    return str(response.headers["ETag"])


def test_pet_lifecycle_story(app: Flask, client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A pet is created, listed, read conditionally, replaced under If-Match and deleted by an admin."""
    user, admin = auth_headers("user"), auth_headers("admin")

    created = client.post("/pets/", json={"name": "Rex", "description": "A good boy"}, headers=user)
    assert created.status_code == 201, created.json
    location = created.headers["Location"]
    assert location == f"/pets/{json_body(created)['id']}"

    listed = client.get("/pets/")
    assert listed.status_code == 200
    assert [pet["name"] for pet in json_body(listed)] == ["Rex"]
    assert json.loads(listed.headers["X-Pagination"])["total"] == 1

    got = client.get(location)
    etag = got.headers["ETag"]
    assert got.json == created.json
    assert client.get(location, headers={"If-None-Match": etag}).status_code == 304

    body = {"name": "Rex", "description": "The best boy"}
    assert client.put(location, json=body, headers=user).status_code == 428
    assert client.put(location, json=body, headers={**user, "If-Match": '"stale"'}).status_code == 412
    replaced = client.put(location, json=body, headers={**user, "If-Match": etag})
    assert replaced.status_code == 200, replaced.json
    assert json_body(replaced)["description"] == "The best boy"

    assert client.delete(location, headers={**admin, "If-Match": etag}).status_code == 412
    deleted = client.delete(location, headers={**admin, "If-Match": replaced.headers["ETag"]})
    assert deleted.status_code == 204
    assert client.get(location).status_code == 404
    assert _rows(app) == []


def test_create_returns_201_with_location_and_etag(create_pet: CreatePet) -> None:
    """Creating a pet answers 201 with the new pet's URL in Location and its ETag."""
    response = create_pet(name="Rex", description="A good boy")

    assert response.status_code == 201
    assert response.headers["Location"] == f"/pets/{json_body(response)['id']}"
    assert re.fullmatch(r'"[0-9a-f]+"', response.headers["ETag"])


def test_create_returns_every_field_and_no_null(create_pet: CreatePet) -> None:
    """The created pet's body has its id, name, description and timestamps, none of them null."""
    body = json_body(create_pet(name="Rex"))

    assert list(body) == ["id", "name", "description", "created_at", "updated_at"]
    assert uuid.UUID(body["id"])
    assert body["name"] == "Rex"
    assert body["description"] == ""
    assert None not in body.values()


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
def test_create_returns_datetimes_as_iso_8601_utc_seconds(create_pet: CreatePet, field: str) -> None:
    """Timestamps are rendered as ``YYYY-MM-DDTHH:MM:SSZ``."""
    body = json_body(create_pet(name="Rex"))

    assert ISO_8601_UTC.fullmatch(body[field]), body[field]


def test_create_stores_a_row(app: Flask, create_pet: CreatePet) -> None:
    """A created pet is a row in the database with the sent name and description."""
    created = json_body(create_pet(name="Rex", description="A good boy"))

    assert _rows(app) == [{"id": created["id"], "name": "Rex", "description": "A good boy"}]


def test_location_serves_the_created_pet(client: FlaskClient, create_pet: CreatePet) -> None:
    """GET on the Location of a created pet returns that pet with the same ETag."""
    created = create_pet(name="Rex")

    got = client.get(created.headers["Location"])

    assert got.status_code == 200
    assert got.json == created.json
    assert got.headers["ETag"] == created.headers["ETag"]


def test_list_paginates_with_x_pagination_header(client: FlaskClient, create_pet: CreatePet) -> None:
    """The list returns one page of pets and describes every page in ``X-Pagination``."""
    for number in range(5):
        create_pet(name=f"Pet {number}")

    response = client.get("/pets/", query_string={"page": 2, "page_size": 2})

    assert response.status_code == 200
    assert len(json_body(response)) == 2
    assert json.loads(response.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 2,
        "previous_page": 1,
        "next_page": 3,
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"name": "Rex"}, ["Rex"]),
        ({"description": "Fluffy"}, ["Felix", "Tom"]),
        ({"name": "Tom", "description": "Fluffy"}, ["Tom"]),
        ({"name": "Nobody"}, []),
    ],
)
def test_list_filters_by_exact_name_and_description(
    client: FlaskClient, create_pet: CreatePet, query: dict[str, str], expected: list[str]
) -> None:
    """The list keeps only the pets whose name and description equal the given filters."""
    create_pet(name="Rex", description="Loyal")
    create_pet(name="Felix", description="Fluffy")
    create_pet(name="Tom", description="Fluffy")

    response = client.get("/pets/", query_string=query)

    assert response.status_code == 200
    assert sorted(pet["name"] for pet in json_body(response)) == expected


@pytest.mark.parametrize("weak", [False, True], ids=["strong", "weak"])
def test_get_with_matching_if_none_match_returns_304(client: FlaskClient, create_pet: CreatePet, weak: bool) -> None:
    """A GET whose If-None-Match holds the current ETag, strong or weak (``W/"..."``), answers 304 without body."""
    location = create_pet(name="Rex").headers["Location"]
    etag = _etag(client, location)

    response = client.get(location, headers={"If-None-Match": f"W/{etag}" if weak else etag})

    assert response.status_code == 304
    assert response.data == b""


def test_list_with_matching_if_none_match_returns_304(client: FlaskClient, create_pet: CreatePet) -> None:
    """The list has an ETag too, and sending it back in If-None-Match answers 304."""
    create_pet(name="Rex")
    etag = client.get("/pets/").headers["ETag"]

    assert client.get("/pets/", headers={"If-None-Match": etag}).status_code == 304


def test_get_with_outdated_if_none_match_returns_200(client: FlaskClient, create_pet: CreatePet) -> None:
    """A GET whose If-None-Match no longer matches (the pet changed) answers 200 with the pet."""
    location = create_pet(name="Rex").headers["Location"]

    response = client.get(location, headers={"If-None-Match": '"outdated"'})

    assert response.status_code == 200
    assert json_body(response)["name"] == "Rex"


def test_get_unknown_pet_returns_404(client: FlaskClient) -> None:
    """Reading a pet id that does not exist answers 404 with the petstore's message."""
    response = client.get(f"/pets/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json == {
        "code": 404,
        "status": "Not Found",
        "message": INVALID_PET_ID,
        "request_id": response.headers["X-Request-ID"],
    }


@pytest.mark.parametrize(("method", "role"), [("put", "user"), ("delete", "admin")])
def test_write_without_if_match_returns_428(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory, method: str, role: str
) -> None:
    """PUT and DELETE of a pet without If-Match answer 428 and change nothing."""
    location = create_pet(name="Rex").headers["Location"]

    response = client.open(location, method=method.upper(), json={"name": "Max"}, headers=auth_headers(role))

    assert response.status_code == 428
    assert json_body(response)["status"] == "Precondition Required"
    assert "If-Match" in json_body(response)["message"]
    assert [row["name"] for row in _rows(app)] == ["Rex"]


@pytest.mark.parametrize(("method", "role"), [("put", "user"), ("delete", "admin")])
def test_write_with_stale_etag_returns_412(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory, method: str, role: str
) -> None:
    """PUT and DELETE with an ETag that is no longer current answer 412 and change nothing."""
    location = create_pet(name="Rex").headers["Location"]
    stale = _etag(client, location)
    client.put(
        location, json={"name": "Rex", "description": "Changed"}, headers=auth_headers("user", **{"If-Match": stale})
    )

    response = client.open(
        location, method=method.upper(), json={"name": "Max"}, headers=auth_headers(role, **{"If-Match": stale})
    )

    assert response.status_code == 412
    assert json_body(response)["status"] == "Precondition Failed"
    assert _rows(app)[0]["name"] == "Rex"


def test_put_with_current_etag_replaces_the_pet(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory
) -> None:
    """PUT with the current ETag answers 200 with the replaced pet, stores it and gives it a new ETag."""
    created = create_pet(name="Rex", description="Loyal")
    location, etag = created.headers["Location"], created.headers["ETag"]

    response = client.put(
        location, json={"name": "Max", "description": "Calm"}, headers=auth_headers("user", **{"If-Match": etag})
    )

    assert response.status_code == 200, response.json
    assert json_body(response)["id"] == json_body(created)["id"]
    assert (json_body(response)["name"], json_body(response)["description"]) == ("Max", "Calm")
    assert response.headers["ETag"] != etag
    assert _rows(app) == [{"id": json_body(created)["id"], "name": "Max", "description": "Calm"}]


def test_put_without_description_resets_it_to_empty(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory
) -> None:
    """PUT replaces the whole pet: a description left out of the body goes back to ``""``."""
    created = create_pet(name="Rex", description="Loyal")

    response = client.put(
        created.headers["Location"],
        json={"name": "Rex"},
        headers=auth_headers("user", **{"If-Match": created.headers["ETag"]}),
    )

    assert response.status_code == 200, response.json
    assert json_body(response)["description"] == ""
    assert _rows(app)[0]["description"] == ""


def test_delete_by_admin_with_current_etag_removes_the_pet(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory
) -> None:
    """An admin's DELETE with the current ETag answers 204 (no body, so no content type), removes the row, and the pet
    is then a 404."""
    created = create_pet(name="Rex")
    location = created.headers["Location"]

    response = client.delete(location, headers=auth_headers("admin", **{"If-Match": created.headers["ETag"]}))

    assert response.status_code == 204
    assert response.data == b""
    assert "Content-Type" not in response.headers
    assert _rows(app) == []
    gone = client.get(location)
    assert gone.json == {
        "code": 404,
        "status": "Not Found",
        "message": INVALID_PET_ID,
        "request_id": gone.headers["X-Request-ID"],
    }


def test_delete_by_user_returns_403(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory
) -> None:
    """Deleting needs the ``admin`` role: a ``user`` gets 403 and the pet stays."""
    created = create_pet(name="Rex")

    response = client.delete(
        created.headers["Location"], headers=auth_headers("user", **{"If-Match": created.headers["ETag"]})
    )

    assert response.status_code == 403
    assert json_body(response)["message"] == "This endpoint requires the user to have the 'admin' role!"
    assert len(_rows(app)) == 1


@pytest.mark.parametrize("description", ["I hate cats", "hate", "Hateful"])
def test_create_with_hatred_returns_400(app: Flask, create_pet: CreatePet, description: str) -> None:
    """A description containing "hate" is refused with 400 and nothing is stored."""
    response = create_pet(name="Rex", description=description)

    assert response.status_code == 400
    assert response.json == {
        "code": 400,
        "status": "Bad Request",
        "message": HATRED,
        "request_id": response.headers["X-Request-ID"],
    }
    assert _rows(app) == []


def test_replace_with_hatred_returns_400(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory
) -> None:
    """Replacing a pet's description with one containing "hate" is refused with 400 and the pet is unchanged."""
    created = create_pet(name="Rex", description="Loyal")

    response = client.put(
        created.headers["Location"],
        json={"name": "Rex", "description": "I hate walks"},
        headers=auth_headers("user", **{"If-Match": created.headers["ETag"]}),
    )

    assert response.status_code == 400
    assert json_body(response)["message"] == HATRED
    assert _rows(app)[0]["description"] == "Loyal"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "Rex", "colour": "brown"}, "colour", "Unknown field."),
        ({"name": "x" * 256}, "name", "Length must be between 1 and 255."),
        ({"name": ""}, "name", "Length must be between 1 and 255."),
        ({"description": "Nameless"}, "name", "Missing data for required field."),
        ({"name": 42}, "name", "Not a valid string."),
    ],
    ids=["unknown-field", "name-too-long", "name-empty", "name-missing", "name-not-a-string"],
)
def test_create_with_invalid_body_returns_422_naming_the_field(
    app: Flask, create_pet: CreatePet, body: dict[str, Any], field: str, message: str
) -> None:
    """An invalid body is refused with 422 whose ``errors`` name the field and what is wrong, and nothing is stored."""
    response = create_pet(**body)

    assert response.status_code == 422
    assert json_body(response)["code"] == 422
    assert json_body(response)["errors"] == {"json": {field: [message]}}
    assert _rows(app) == []


def test_create_with_name_of_255_characters_is_accepted(create_pet: CreatePet) -> None:
    """A name of exactly 255 characters, the maximum, is accepted."""
    response = create_pet(name="x" * 255)

    assert response.status_code == 201
    assert json_body(response)["name"] == "x" * 255


def test_replace_with_unknown_field_returns_422(
    app: Flask, client: FlaskClient, create_pet: CreatePet, auth_headers: HeadersFactory
) -> None:
    """PUT rejects unknown fields with 422 too, and the pet is unchanged."""
    created = create_pet(name="Rex")

    response = client.put(
        created.headers["Location"],
        json={"name": "Max", "colour": "brown"},
        headers=auth_headers("user", **{"If-Match": created.headers["ETag"]}),
    )

    assert response.status_code == 422
    assert json_body(response)["errors"] == {"json": {"colour": ["Unknown field."]}}
    assert _rows(app)[0]["name"] == "Rex"
