"""The generated Python client uses PATCH and a filtered, sorted list against a live petstore.

The client and the live petstore come from ``test_clients.py``'s fixtures (the client is generated once per session).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import TokenFactory
from tests.live.test_clients import live_petstore as live_petstore
from tests.live.test_clients import python_client as python_client


def test_python_client_patches_one_field(python_client: Any, live_petstore: str, make_token: TokenFactory) -> None:
    """``update_pet`` sends a merge patch of one field with If-Match: the other fields keep their values."""
    configuration = python_client.Configuration(host=live_petstore, access_token=make_token(roles=["user"]))
    with python_client.ApiClient(configuration) as api_client:
        pets = python_client.PetsApi(api_client)
        created = pets.create_pet(pet=python_client.Pet(name="Rex", description="A good dog"))
        etag = pets.get_pet_with_http_info(item_id=created.id).headers["ETag"]

        patched = pets.update_pet(item_id=created.id, if_match=etag, pet_patch=python_client.PetPatch(name="Max"))

        assert (patched.name, patched.description) == ("Max", "A good dog")
        with pytest.raises(python_client.ApiException) as stale:
            pets.update_pet(item_id=created.id, if_match=etag, pet_patch=python_client.PetPatch(name="Stale"))
        assert stale.value.status == 412


def test_python_client_filters_and_sorts_the_list(
    python_client: Any, live_petstore: str, make_token: TokenFactory
) -> None:
    """``list_pets`` takes the filters and the sort as keyword arguments."""
    configuration = python_client.Configuration(host=live_petstore, access_token=make_token(roles=["user"]))
    with python_client.ApiClient(configuration) as api_client:
        pets = python_client.PetsApi(api_client)
        for name in ("Bella", "Rex", "Max", "Fred"):
            pets.create_pet(pet=python_client.Pet(name=name))

        listed = pets.list_pets(name__in=["Rex", "Max", "Fred"], sort="-name")
        containing = pets.list_pets(name__contains="RE", sort="name")

        assert [pet.name for pet in listed] == ["Rex", "Max", "Fred"]
        assert [pet.name for pet in containing] == ["Fred", "Rex"]
