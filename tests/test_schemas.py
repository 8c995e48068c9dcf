"""Input rules of ``AutoSchema``: read-only fields sent back are accepted and ignored."""

from __future__ import annotations

from flask.testing import FlaskClient

from tests.conftest import HeadersFactory


def test_replace_with_the_fetched_body_ignores_its_read_only_fields(
    client: FlaskClient, auth_headers: HeadersFactory
) -> None:
    """A client can PUT back what it GOT, changed: id and timestamps in the body are accepted and ignored."""
    created = client.post("/pets/", json={"name": "Rex", "description": "Brown"}, headers=auth_headers("user"))
    fetched = client.get(created.headers["Location"])
    body = {**fetched.json, "name": "Max", "id": "00000000-0000-0000-0000-000000000000", "created_at": "1999-01-01"}

    response = client.put(
        created.headers["Location"], json=body, headers=auth_headers("user", **{"If-Match": fetched.headers["ETag"]})
    )

    assert response.status_code == 200, response.json
    assert response.json["name"] == "Max"
    assert response.json["id"] == created.json["id"]
    assert response.json["created_at"] == created.json["created_at"]


def test_create_with_read_only_fields_ignores_them(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A POST body carrying an id gets a new id from the service, not the one sent."""
    sent_id = "00000000-0000-0000-0000-000000000000"

    response = client.post("/pets/", json={"id": sent_id, "name": "Rex"}, headers=auth_headers("user"))

    assert response.status_code == 201
    assert response.json["id"] != sent_id
