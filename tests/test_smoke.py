"""Smoke."""

def test_create_and_get_pet(client, auth_headers) -> None:
    """A user creates a pet and anyone reads it back."""
    created = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))
    assert created.status_code == 201, created.json
    got = client.get(created.headers["Location"])
    assert got.json["name"] == "Rex"
