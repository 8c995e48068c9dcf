"""Filtering and sorting of ``/pets/`` through its generated ``FilterSchema``, with both pagers, on both databases."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from example_petstore.models import Pet
from example_petstore.schemas import PetQueryArgsSchema, PetSchema
from flask_ligand.extensions.database import DB
from flask_ligand.filtering import FilterSchema
from flask_ligand.testing import json_body

AddPets = Callable[..., list[str]]
SPEC_URL = "/openapi/api-spec.json"
JANUARY = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def add_pets(app: Flask) -> AddPets:
    """Store pets ``(name, description)``, the n-th created n days after 2024-01-01; return their ids."""

    def add(*pets: tuple[str, str]) -> list[str]:
        with app.app_context():
            rows = [
                Pet(name=name, description=description, created_at=JANUARY + dt.timedelta(days=day))
                for day, (name, description) in enumerate(pets)
            ]
            DB.session.add_all(rows)
            DB.session.commit()
            return [str(row.id) for row in rows]

    return add


def _names(client: FlaskClient, **query: Any) -> list[str]:
    response = client.get("/pets/", query_string=query)
    assert response.status_code == 200, response.json
    return [pet["name"] for pet in json_body(response)]


def _links(response: Any) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]*)"', response.headers.get("Link", ""))}


def test_exact_filter_keeps_matching_pets_only(client: FlaskClient, add_pets: AddPets) -> None:
    """``?name=Rex`` lists only the pets named exactly Rex, as upstream clients expect."""
    add_pets(("Rex", ""), ("Rexy", ""), ("Max", ""))

    assert _names(client, name="Rex") == ["Rex"]


def test_in_filter_keeps_pets_with_any_of_the_values(client: FlaskClient, add_pets: AddPets) -> None:
    """``?name__in=Rex&name__in=Max`` lists the pets with either name."""
    add_pets(("Rex", ""), ("Bella", ""), ("Max", ""))

    assert _names(client, name__in=["Rex", "Max"], sort="name") == ["Max", "Rex"]


def test_contains_filter_ignores_case(client: FlaskClient, add_pets: AddPets) -> None:
    """``?name__contains=RE`` matches "Rex" and "Fred" but not "Max"."""
    add_pets(("Rex", ""), ("Fred", ""), ("Max", ""))

    assert _names(client, name__contains="RE", sort="name") == ["Fred", "Rex"]


def test_contains_filter_takes_wildcards_literally(client: FlaskClient, add_pets: AddPets) -> None:
    """``%`` and ``_`` in a ``contains`` value match only themselves."""
    add_pets(("Rex", "100% good"), ("Max", "1000 good"), ("Bella", "a_b"), ("Luna", "axb"))

    assert _names(client, description__contains="0%") == ["Rex"]
    assert _names(client, description__contains="_") == ["Bella"]


def test_range_filters_bound_a_date_inclusively(client: FlaskClient, add_pets: AddPets) -> None:
    """``created_at__gte``/``__lte`` keep the pets created within the bounds, bounds included."""
    add_pets(("Rex", ""), ("Max", ""), ("Bella", ""), ("Luna", ""))

    names = _names(client, created_at__gte="2024-01-02T00:00:00Z", created_at__lte="2024-01-03T00:00:00Z", sort="name")

    assert names == ["Bella", "Max"]


def test_filters_combine_with_and(client: FlaskClient, add_pets: AddPets) -> None:
    """Several filters all apply."""
    add_pets(("Rex", "calm"), ("Rex", "wild"), ("Max", "calm"))

    assert _names(client, name="Rex", description__contains="CALM") == ["Rex"]


def test_sort_descending_with_a_minus(client: FlaskClient, add_pets: AddPets) -> None:
    """``?sort=-name`` lists the pets in reverse alphabetical order."""
    add_pets(("Bella", ""), ("Rex", ""), ("Max", ""))

    assert _names(client, sort="-name") == ["Rex", "Max", "Bella"]


def test_sort_by_several_fields(client: FlaskClient, add_pets: AddPets) -> None:
    """``?sort=name,-created_at`` sorts by name, then newest first among equal names."""
    add_pets(("Rex", "old"), ("Max", ""), ("Rex", "new"))

    response = client.get("/pets/", query_string={"sort": "name,-created_at"})

    assert [(pet["name"], pet["description"] or "") for pet in json_body(response)] == [
        ("Max", ""),
        ("Rex", "new"),
        ("Rex", "old"),
    ]


def test_sort_by_a_field_outside_the_allow_list_returns_422(client: FlaskClient) -> None:
    """Sorting by a field not in the allow-list is a 422 naming ``sort`` and the allowed fields."""
    response = client.get("/pets/", query_string={"sort": "description"})

    assert response.status_code == 422
    assert "created_at" in json_body(response)["errors"]["query"]["sort"][0]


@pytest.mark.parametrize(
    "query", ["page_size=5&page_size=100", "page_size=100&page_size=5", "sort=name&sort=-name", "name=Rex&name=Max"]
)
def test_single_value_parameter_given_twice_returns_422_naming_it(client: FlaskClient, query: str) -> None:
    """A parameter that takes one value, given twice, is refused rather than read as its first value alone."""
    response = client.get(f"/pets/?{query}")

    assert response.status_code == 422
    name = query.partition("=")[0]
    assert json_body(response)["errors"] == {"query": {name: ["Given 2 times; this parameter takes one value."]}}


def test_unknown_query_parameter_returns_422_naming_it(client: FlaskClient, add_pets: AddPets) -> None:
    """A misspelt filter is a 422 naming it, rather than a list of every pet."""
    add_pets(("Rex", ""))

    response = client.get("/pets/", query_string={"nme": "Max", "colour": "brown"})

    assert response.status_code == 422
    assert set(json_body(response)["errors"]["query"]) == {"nme", "colour"}


def test_invalid_filter_value_returns_422_naming_it(client: FlaskClient) -> None:
    """A range bound that is not a datetime is a 422 naming the parameter."""
    response = client.get("/pets/", query_string={"created_at__gte": "yesterday"})

    assert response.status_code == 422
    assert list(json_body(response)["errors"]["query"]) == ["created_at__gte"]


@pytest.mark.parametrize("bound", ["0001-01-01T01:00:00+08:00", "9999-12-31T23:00:00-02:00"])
def test_a_datetime_beyond_the_utc_range_returns_422_naming_it(client: FlaskClient, bound: str) -> None:
    """A datetime valid in its own offset but outside years 1 to 9999 in UTC is refused, not a 500."""
    response = client.get("/pets/", query_string={"updated_at__lte": bound})

    assert response.status_code == 422
    assert json_body(response)["errors"]["query"] == {
        "updated_at__lte": ["Not a valid datetime: it is out of range once converted to UTC."]
    }


def test_numbered_pages_follow_the_sort(client: FlaskClient, add_pets: AddPets) -> None:
    """``page``/``page_size`` are not unknown parameters, and page 2 continues the sorted, filtered list."""
    add_pets(("Ada", ""), ("Bo", ""), ("Cy", ""), ("Di", ""), ("Ed", ""), ("Zed", ""))

    names = _names(client, sort="-name", name__in=["Ada", "Bo", "Cy", "Di", "Ed"], page=2, page_size=2)

    assert names == ["Cy", "Bo"]


def test_cursor_pages_follow_the_sort_and_filters(client: FlaskClient, add_pets: AddPets) -> None:
    """Following the ``next`` links of a sorted, filtered list walks it in order, keeping sort and filters."""
    add_pets(("Ada", "x"), ("Bo", "x"), ("Cy", "y"), ("Di", "x"), ("Ed", "x"), ("Fa", "x"))
    response = client.get("/pets/", query_string={"sort": "-name", "description": "x", "page_size": 2})
    names = [pet["name"] for pet in json_body(response)]

    while "next" in _links(response):
        response = client.get(_links(response)["next"])
        assert response.status_code == 200, response.json
        names += [pet["name"] for pet in json_body(response)]

    assert names == ["Fa", "Ed", "Di", "Bo", "Ada"]


def test_cursor_of_another_sort_is_refused(client: FlaskClient, add_pets: AddPets) -> None:
    """A cursor made for one sort is a 422 with another sort, not a page from the wrong place."""
    add_pets(("Ada", ""), ("Bo", ""), ("Cy", ""))
    first = client.get("/pets/", query_string={"sort": "name", "page_size": 1})
    next_url = _links(first)["next"]
    assert "sort=name" in next_url

    response = client.get(next_url.replace("sort=name", "sort=-name"))

    assert response.status_code == 422
    assert "cursor" in json_body(response)["errors"]["query"]


def test_updated_at_range_filter_uses_the_stored_time(app: Flask, client: FlaskClient, add_pets: AddPets) -> None:
    """``updated_at__lte`` compares with the stored timestamp."""
    add_pets(("Rex", ""), ("Max", ""))
    with app.app_context():
        DB.session.execute(update(Pet).where(Pet.name == "Rex").values(updated_at=JANUARY))
        DB.session.commit()

    assert _names(client, updated_at__lte="2024-01-01T00:00:00Z") == ["Rex"]


def test_spec_documents_filters_and_sort(client: FlaskClient) -> None:
    """The list's parameters in the spec: typed filters, ``__in`` as an array, ``sort`` with its allowed pattern."""
    spec = json_body(client.get(SPEC_URL))
    parameters = {param["name"]: param for param in spec["paths"]["/pets/"]["get"]["parameters"] if "name" in param}

    assert parameters["name__in"]["schema"]["type"] == "array"
    assert parameters["created_at__gte"]["schema"]["format"] == "date-time"
    assert (
        parameters["sort"]["schema"]["pattern"] == "^-?(name|created_at|updated_at)(,-?(name|created_at|updated_at))*$"
    )
    assert {"page", "page_size", "cursor", "name", "description", "name__contains"} <= set(parameters)


def test_spec_gives_swagger_ui_nothing_to_send_beside_a_cursor(client: FlaskClient, add_pets: AddPets) -> None:
    """Swagger UI fills a parameter in from its default or example: ``sort`` and, beside a cursor, ``page`` have
    none, so a try with only a cursor pasted in sends only that cursor (and the harmless defaults), and works."""
    add_pets(("Ada", ""), ("Bo", ""), ("Cy", ""))
    spec = json_body(client.get(SPEC_URL))
    parameters = {param["name"]: param for param in spec["paths"]["/pets/"]["get"]["parameters"] if "name" in param}
    prefilled = {
        name: parameter["schema"].get("default", parameter.get("example", parameter["schema"].get("example")))
        for name, parameter in parameters.items()
    }
    first = client.get("/pets/?page_size=2")
    cursor = first.headers["Link"].partition("cursor=")[2].partition(">")[0].partition("&")[0]

    sent = {name: value for name, value in prefilled.items() if value is not None} | {"cursor": cursor}
    second = client.get("/pets/", query_string={**sent, "page_size": 2})

    assert {"sort", "page"}.isdisjoint(name for name, value in prefilled.items() if value is not None)
    assert "e.g. `-name,created_at`" in parameters["sort"]["description"]
    assert second.status_code == 200, second.json
    assert sorted(pet["name"] for pet in json_body(first) + json_body(second)) == ["Ada", "Bo", "Cy"]


def test_filter_on_a_field_that_is_no_column_is_refused() -> None:
    """Declaring a filter on a field the model's schema does not have fails when the class is made."""
    with pytest.raises(TypeError, match="colour"):

        class _Bad(FilterSchema):
            class Meta(FilterSchema.Meta):
                schema = PetSchema
                filters = {"colour": ("exact",)}


def test_sort_naming_a_field_twice_returns_422(client: FlaskClient) -> None:
    """``sort=name,-name`` is a 422 naming ``sort``."""
    response = client.get("/pets/", query_string={"sort": "name,-name"})

    assert response.status_code == 422
    assert "twice" in json_body(response)["errors"]["query"]["sort"][0]


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"schema": PetSchema, "filters": {"name": ("like",)}}, "like"),
        ({"schema": PetSchema, "sort": ("colour",)}, "colour"),
        ({"filters": {"name": ("exact",)}}, "schema"),
    ],
    ids=["unknown-operator", "sort-not-a-column", "no-schema"],
)
def test_invalid_declaration_is_refused(meta: dict[str, Any], match: str) -> None:
    """A filter schema whose Meta cannot work fails when the class is made, saying why."""
    with pytest.raises(TypeError, match=match):
        type("Bad", (FilterSchema,), {"Meta": type("Meta", (FilterSchema.Meta,), meta)})


def test_list_arguments_apply_to_a_select(app: Flask, add_pets: AddPets) -> None:
    """Loaded outside a request, the arguments narrow and order a ``select()`` as they do a ``Model.query``."""
    add_pets(("Rex", ""), ("Max", ""), ("Bella", ""))
    arguments = PetQueryArgsSchema().load({"name__in": ["Rex", "Max"], "sort": "-name"})

    with app.app_context():
        names = [pet.name for pet in DB.session.scalars(arguments.apply(select(Pet)))]

    assert names == ["Rex", "Max"]


def test_a_time_the_api_wrote_bounds_its_whole_second(app: Flask, client: FlaskClient) -> None:
    """The API writes datetimes to the second while the database keeps microseconds: ``created_at__lte`` with the
    ``created_at`` a response gave finds that pet (and ``=``, ``__in`` too); a bound with a fraction is exact."""
    stored = dt.datetime(2024, 1, 2, 3, 4, 5, 678_901, tzinfo=dt.UTC)
    with app.app_context():
        DB.session.add_all(
            [
                Pet(name="Rex", created_at=stored),
                Pet(name="Max", created_at=stored + dt.timedelta(seconds=1)),
                Pet(name="Bella", created_at=stored - dt.timedelta(seconds=1)),
            ]
        )
        DB.session.commit()
    shown = next(pet["created_at"] for pet in json_body(client.get("/pets/")) if pet["name"] == "Rex")
    assert shown == "2024-01-02T03:04:05Z"

    assert _names(client, created_at__lte=shown, sort="name") == ["Bella", "Rex"]
    assert _names(client, created_at__gte=shown, created_at__lte=shown) == ["Rex"]
    assert _names(client, created_at__lte="2024-01-02T03:04:05.5Z", sort="name") == ["Bella"]

    class _ByTime(FilterSchema):
        class Meta(FilterSchema.Meta):
            schema = PetSchema
            filters = {"created_at": ("exact", "in")}

    def names(**query: Any) -> list[str]:
        statement = _ByTime().load(query).apply(select(Pet.name).order_by(Pet.name))
        with app.app_context():
            return list(DB.session.scalars(statement))

    assert names(created_at=shown) == ["Rex"]
    assert names(created_at__in=[shown, "2024-01-02T03:04:06Z"]) == ["Max", "Rex"]
    assert names(created_at="2024-01-02T03:04:05.678901Z") == ["Rex"]
    assert names(created_at="2024-01-02T03:04:05.5Z") == []


def test_a_time_before_year_1000_is_written_as_iso_8601_and_read_back(app: Flask, client: FlaskClient) -> None:
    """Year 1 is written ``0001-01-01T00:00:00Z`` (``strftime``'s ``%Y`` gave ``1-01-01...`` on glibc, which no
    parser reads), and that value, sent back as a bound, finds the pet."""
    with app.app_context():
        DB.session.add(Pet(name="Ancient", created_at=dt.datetime(1, 1, 1, tzinfo=dt.UTC)))
        DB.session.commit()

    shown = json_body(client.get("/pets/"))[0]["created_at"]

    assert shown == "0001-01-01T00:00:00Z"
    assert _names(client, created_at__lte=shown) == ["Ancient"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"name__contains": "a" * 50_001}, "name__contains"),  # SQLite refused the pattern: "database unavailable"
        ({"name__contains": "a" * 256}, "name__contains"),  # longer than any name (String(255)) can be
        ({"name__in": [f"pet-{number}" for number in range(1001)]}, "name__in"),
    ],
    ids=["contains-over-sqlite-limit", "contains-over-the-field", "in-over-1000"],
)
def test_a_filter_value_beyond_what_a_database_takes_is_a_422(
    client: FlaskClient, query: dict[str, Any], named: str
) -> None:
    """A ``__contains`` text longer than the field's values, or than 1000 characters, and an ``__in`` list of over
    1000 values are 422s naming the parameter on both databases (SQLite refused a pattern over 50 000 bytes, and
    PostgreSQL a statement of over 65 535 parameters, both answered as "the database is unavailable")."""
    response = client.get("/pets/", query_string=query)

    assert response.status_code == 422, response.json
    assert list(json_body(response)["errors"]["query"]) == [named]


def test_a_filter_value_at_the_limits_is_taken(client: FlaskClient, add_pets: AddPets) -> None:
    """255 characters of ``__contains`` and 1000 ``__in`` values are within the limits."""
    add_pets(("Rex", ""))

    assert _names(client, name__contains="a" * 255) == []
    assert _names(client, name__in=["Rex", *(f"pet-{number}" for number in range(999))]) == ["Rex"]
