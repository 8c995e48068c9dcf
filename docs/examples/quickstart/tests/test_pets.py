"""The pet store, through HTTP: the fixtures come from flask-ligand's pytest plugin."""

from flask_ligand.testing import assert_error, assert_etag_round_trip, assert_if_match_required, assert_iso8601


def test_reading_is_public(client):
    """Anyone lists the pets; the store starts empty."""
    assert client.get("/pets/").get_json() == []


def test_writing_needs_the_user_role(client, auth_headers):
    """A token without the user role is refused with the standard JSON error."""
    response = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("admin"))
    assert_error(response, 403, "This endpoint requires the user to have the 'user' role!")


def test_a_pet_is_created_then_replaced_with_its_etag(client, auth_headers):
    """A user adds a pet, then replaces it, sending the ETag of what they read."""
    created = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))
    assert created.status_code == 201
    assert_iso8601(created.get_json()["created_at"])
    pet = created.headers["Location"]
    assert_if_match_required(client, "PUT", pet, auth_headers("user"), json={"name": "Max"})
    etag = assert_etag_round_trip(client, pet)
    replaced = client.put(pet, json={"name": "Max"}, headers=auth_headers("user", **{"If-Match": etag}))
    assert replaced.get_json()["name"] == "Max"
