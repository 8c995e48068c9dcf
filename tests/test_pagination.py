"""Pagination: ``page``/``page_size``, the ``X-Pagination`` header, the page size cap and a stable order."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Select, event, select

import example_petstore
import flask_ligand
from example_petstore.models import Pet
from example_petstore.schemas import PetSchema
from flask_ligand.extensions.api import Blueprint, SQLCursorPage
from flask_ligand.extensions.database import DB
from flask_ligand.testing import created_app, json_body

AddPets = Callable[..., list[str]]
AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(database_uri: str) -> Iterator[AppFactory]:
    """Build petstores on this test's database with extra settings, and dispose of their engines afterwards."""
    with ExitStack() as apps:

        def make(**settings: Any) -> Flask:
            return apps.enter_context(
                created_app(example_petstore.create_app, SQLALCHEMY_DATABASE_URI=database_uri, **settings)
            )

        yield make


def _add_pets(app: Flask, names: list[str]) -> list[str]:
    """Store pets with the given names and return their ids, in insertion order."""
    with app.app_context():
        pets = [Pet(name=name) for name in names]
        DB.session.add_all(pets)
        DB.session.commit()
        return [str(pet.id) for pet in pets]


@pytest.fixture
def add_pets(app: Flask) -> AddPets:
    """Store pets in the petstore's database directly: ``add_pets(25)`` or ``add_pets(names=[...])``."""

    def add(count: int = 0, names: list[str] | None = None) -> list[str]:
        return _add_pets(app, names if names is not None else [f"Pet {number:02d}" for number in range(count)])

    return add


def _pagination(response: Any) -> dict[str, int]:
    return dict(json.loads(response.headers["X-Pagination"]))


def test_page_and_page_size_select_the_slice(client: FlaskClient, add_pets: AddPets) -> None:
    """``page`` and ``page_size`` pick which pets are returned: the second page of 5 holds the 6th to 10th pets."""
    ids = add_pets(25)

    response = client.get("/pets/", query_string={"page": 2, "page_size": 5})

    assert response.status_code == 200
    assert [pet["id"] for pet in json_body(response)] == sorted(ids)[5:10]


@pytest.mark.parametrize("query", ["page=2&page_size=2", "page_size=1&sort=-name&name__contains=e", "count=true"])
def test_head_of_a_list_accepts_what_its_get_does(client: FlaskClient, add_pets: AddPets, query: str) -> None:
    """HEAD runs the GET view (as Flask's MethodView does), so the pager's and filters' parameters are known to it."""
    add_pets(5)

    got, head = client.get(f"/pets/?{query}"), client.head(f"/pets/?{query}")

    assert (got.status_code, head.status_code) == (200, 200), head.text
    assert head.data == b""
    assert head.headers["X-Pagination"] == got.headers["X-Pagination"]


def test_pages_partition_the_collection(client: FlaskClient, add_pets: AddPets) -> None:
    """Walking every page with a page size returns each pet once, the last page holding the remainder."""
    ids = add_pets(25)

    pages = [json_body(client.get("/pets/", query_string={"page": page, "page_size": 10})) for page in (1, 2, 3)]

    assert [len(page) for page in pages] == [10, 10, 5]
    assert sorted(pet["id"] for page in pages for pet in page) == sorted(ids)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (1, {"page": 1, "next_page": 2}),
        (2, {"page": 2, "previous_page": 1, "next_page": 3}),
        (3, {"page": 3, "previous_page": 2}),
        (4, {}),
    ],
    ids=["first", "middle", "last", "beyond-last"],
)
def test_x_pagination_describes_the_page(
    client: FlaskClient, add_pets: AddPets, page: int, expected: dict[str, int]
) -> None:
    """``X-Pagination`` gives the totals and bounds, plus the page and its neighbours when the page exists."""
    add_pets(25)

    response = client.get("/pets/", query_string={"page": page, "page_size": 10})

    assert response.status_code == 200
    assert _pagination(response) == {"total": 25, "total_pages": 3, "first_page": 1, "last_page": 3, **expected}


def test_page_beyond_the_last_is_empty(client: FlaskClient, add_pets: AddPets) -> None:
    """A page past the last one answers 200 with an empty list."""
    add_pets(3)

    response = client.get("/pets/", query_string={"page": 2, "page_size": 10})

    assert response.status_code == 200
    assert response.json == []


def test_x_pagination_of_an_empty_collection(client: FlaskClient) -> None:
    """Without any pet, ``X-Pagination`` says there are no items and no pages."""
    response = client.get("/pets/")

    assert response.status_code == 200
    assert response.json == []
    assert _pagination(response) == {"total": 0, "total_pages": 0}


def test_default_page_size_is_10(client: FlaskClient, add_pets: AddPets) -> None:
    """Without ``page_size``, a page holds 10 pets."""
    add_pets(15)

    response = client.get("/pets/")

    assert len(json_body(response)) == 10
    assert _pagination(response)["total_pages"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": 101}, "page_size"),
        ({"page_size": 0}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"page": 0}, "page"),
        ({"page": "first"}, "page"),
        ({"page": 2**63}, "page"),
        ({"page": 10**20}, "page"),
    ],
)
def test_invalid_pagination_argument_returns_422_naming_it(
    client: FlaskClient, query: dict[str, Any], field: str
) -> None:
    """An out-of-range (even one overflowing the database) or non-integer ``page``/``page_size`` is a 422 naming it."""
    response = client.get("/pets/", query_string=query)

    assert response.status_code == 422
    assert json_body(response)["code"] == 422
    assert list(json_body(response)["errors"]["query"]) == [field]


def test_page_size_above_the_cap_names_the_cap(client: FlaskClient) -> None:
    """The 422 for a too-large ``page_size`` says the allowed range and the value sent."""
    response = client.get("/pets/", query_string={"page_size": 1000})

    assert json_body(response)["errors"] == {"query": {"page_size": ["Must be between 1 and 100; got 1000."]}}


def test_largest_page_is_an_empty_page(client: FlaskClient, add_pets: AddPets) -> None:
    """The largest accepted ``page``, 2**31 - 1, answers 200 with an empty list rather than overflowing the database."""
    add_pets(3)

    response = client.get("/pets/", query_string={"page": 2**31 - 1, "page_size": 100})

    assert response.status_code == 200
    assert response.json == []


def test_page_size_at_the_cap_is_accepted(client: FlaskClient, add_pets: AddPets) -> None:
    """A ``page_size`` of exactly the cap, 100 by default, is accepted."""
    add_pets(3)

    response = client.get("/pets/", query_string={"page_size": 100})

    assert response.status_code == 200
    assert len(json_body(response)) == 3


@pytest.mark.parametrize("source", ["keyword", "environment"])
@pytest.mark.parametrize(("page_size", "status"), [(5, 200), (6, 422)])
def test_max_page_size_is_configurable_app_wide(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, source: str, page_size: int, status: int
) -> None:
    """``PAGINATION_MAX_PAGE_SIZE``, as a keyword or an environment variable, caps ``page_size``."""
    if source == "environment":
        monkeypatch.setenv("PAGINATION_MAX_PAGE_SIZE", "5")
        app = make_app()
    else:
        app = make_app(PAGINATION_MAX_PAGE_SIZE=5)

    response = app.test_client().get("/pets/", query_string={"page_size": page_size})

    assert response.status_code == status


@pytest.mark.parametrize("source", ["keyword", "environment"])
def test_default_page_size_is_configurable(make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """``PAGINATION_DEFAULT_PAGE_SIZE``, as a keyword or an environment variable, sets the size of a page."""
    if source == "environment":
        monkeypatch.setenv("PAGINATION_DEFAULT_PAGE_SIZE", "3")
        app = make_app()
    else:
        app = make_app(PAGINATION_DEFAULT_PAGE_SIZE=3)
    _add_pets(app, [f"Pet {number}" for number in range(7)])

    response = app.test_client().get("/pets/")

    assert len(json_body(response)) == 3
    assert _pagination(response)["total_pages"] == 3


def test_equal_names_are_paged_by_primary_key(client: FlaskClient, add_pets: AddPets) -> None:
    """Pets with identical names come in primary key order, each exactly once across all pages."""
    ids = add_pets(names=["Same"] * 9)
    seen: list[str] = []

    for page in range(1, 6):
        response = client.get("/pets/", query_string={"name": "Same", "page": page, "page_size": 2})
        seen.extend(pet["id"] for pet in json_body(response))

    assert seen == sorted(ids)


def test_order_is_the_same_on_every_request(client: FlaskClient, add_pets: AddPets) -> None:
    """Requesting the same page twice returns the same pets in the same order."""
    add_pets(names=["Same"] * 6)

    first = client.get("/pets/", query_string={"page": 2, "page_size": 3}).json
    second = client.get("/pets/", query_string={"page": 2, "page_size": 3}).json

    assert first == second


@pytest.fixture
def select_app(database_uri: str) -> Iterator[Flask]:
    """An app whose view returns a SQLAlchemy 2 ``select()`` of pets ordered by name, paginated by SQLCursorPage."""
    app, api = flask_ligand.create_app(
        __name__, "testing", "Select Pets", "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri
    )
    blp = Blueprint("SelectPets", __name__, url_prefix="/select-pets")

    @blp.route("/")
    @blp.response(200, PetSchema(many=True))
    @blp.paginate(SQLCursorPage)
    def list_pets() -> Select[tuple[Pet]]:
        return select(Pet).order_by(Pet.name)

    @blp.route("/names")
    @blp.response(200, PetSchema(many=True))
    @blp.paginate(SQLCursorPage)
    def list_names() -> Select[tuple[Pet]]:
        return select(Pet).where(Pet.name != "Hidden").order_by(Pet.name)

    @blp.route("/grouped")
    @blp.response(200, PetSchema(many=True))
    @blp.paginate(SQLCursorPage)
    def list_grouped() -> Select[tuple[Pet]]:
        # Each group is one pet: replacing the columns by count(*) would count a group's rows, not the groups.
        return select(Pet).group_by(Pet.id).order_by(Pet.name)

    api.register_blueprint(blp)
    with app.app_context():
        DB.create_all()
    yield app
    with app.app_context():
        DB.session.remove()
        DB.engine.dispose()


def _names_and_ids(app: Flask, url: str, page_size: int) -> list[tuple[str, str]]:
    """Walk every page of ``url`` and collect ``(name, id)`` of the returned pets."""
    client = app.test_client()
    first = client.get(url, query_string={"page_size": page_size})
    pages = [json_body(first)] + [
        json_body(client.get(url, query_string={"page": page, "page_size": page_size}))
        for page in range(2, _pagination(first)["total_pages"] + 1)
    ]
    return [(pet["name"], pet["id"]) for page in pages for pet in page]


def test_select_is_paginated_with_x_pagination(select_app: Flask) -> None:
    """A view returning a ``select()`` is paginated and counted like a ``Model.query``."""
    _add_pets(select_app, [f"Pet {number}" for number in range(5)])

    response = select_app.test_client().get("/select-pets/", query_string={"page": 2, "page_size": 2})

    assert response.status_code == 200
    assert len(json_body(response)) == 2
    assert _pagination(response) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 2,
        "previous_page": 1,
        "next_page": 3,
    }


def test_select_keeps_its_order_then_orders_by_primary_key(select_app: Flask) -> None:
    """A ``select()``'s own order comes first; rows equal on it are paged by primary key, none repeated or missed."""
    ids_b = _add_pets(select_app, ["B"] * 4)
    ids_a = _add_pets(select_app, ["A"] * 3)

    walked = _names_and_ids(select_app, "/select-pets/", page_size=2)

    assert walked == [("A", id_) for id_ in sorted(ids_a)] + [("B", id_) for id_ in sorted(ids_b)]


def test_select_with_a_filter_counts_only_matching_rows(select_app: Flask) -> None:
    """The total of a filtered ``select()`` counts only the rows it selects."""
    _add_pets(select_app, ["Shown", "Hidden", "Shown"])

    response = select_app.test_client().get("/select-pets/names")

    assert _pagination(response)["total"] == 2
    assert [pet["name"] for pet in json_body(response)] == ["Shown", "Shown"]


def test_count_is_one_query_without_a_subquery(client: FlaskClient, app: Flask, add_pets: AddPets) -> None:
    """A plain filtered query is counted as ``SELECT count(*) FROM pet WHERE ...``, not around a subquery."""
    add_pets(names=["Rex", "Rex", "Tom"])
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    with app.app_context():
        event.listen(DB.engine, "before_cursor_execute", record)
        try:
            response = client.get("/pets/", query_string={"name": "Rex"})
        finally:
            event.remove(DB.engine, "before_cursor_execute", record)

    counts = [statement for statement in statements if "count(*)" in statement]
    assert _pagination(response)["total"] == 2
    assert len(counts) == 1
    assert "FROM pet" in counts[0] and "WHERE pet.name" in counts[0] and "(SELECT" not in counts[0]


def test_grouped_select_is_counted_by_its_groups(select_app: Flask) -> None:
    """A ``select()`` with ``GROUP BY`` is counted around a subquery: the total is its number of rows."""
    _add_pets(select_app, ["A", "B", "B", "C"])

    response = select_app.test_client().get("/select-pets/grouped", query_string={"page_size": 3})

    assert _pagination(response)["total"] == 4
    assert [pet["name"] for pet in json_body(response)] == ["A", "B", "B"]


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (1, {"first_page": 1, "page": 1, "next_page": 2}),
        (2, {"first_page": 1, "page": 2, "previous_page": 1, "next_page": 3}),
        (3, {"first_page": 1, "page": 3, "previous_page": 2}),
    ],
    ids=["first", "middle", "last"],
)
def test_count_none_leaves_totals_out_of_x_pagination(
    make_app: AppFactory, page: int, expected: dict[str, int]
) -> None:
    """With ``PAGINATION_COUNT=none``, ``X-Pagination`` has no totals but still says whether a next page exists."""
    app = make_app(PAGINATION_COUNT="none")
    _add_pets(app, [f"Pet {number}" for number in range(25)])

    response = app.test_client().get("/pets/", query_string={"page": page, "page_size": 10})

    assert _pagination(response) == expected
    assert len(json_body(response)) == (10 if page < 3 else 5)


def test_count_estimate_counts_exactly_on_sqlite(tmp_path: Path) -> None:
    """SQLite has no planner estimate to offer: ``PAGINATION_COUNT=estimate`` counts, and says nothing of estimates."""
    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'estimate.sqlite'}",
        PAGINATION_COUNT="estimate",
        PAGINATION_COUNT_ESTIMATE_ABOVE=0,
    ) as app:
        _add_pets(app, [f"Pet {number}" for number in range(12)])

        response = app.test_client().get("/pets/", query_string={"page": 1, "page_size": 10})

    assert _pagination(response) == {
        "total": 12,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }


def test_unknown_count_strategy_refuses_to_start() -> None:
    """A ``PAGINATION_COUNT`` other than ``exact``, ``none`` or ``estimate`` stops the app at start-up, naming it."""
    with pytest.raises(flask_ligand.ConfigurationError, match="PAGINATION_COUNT"):
        example_petstore.create_app("testing", PAGINATION_COUNT="guess")


def test_keyset_option_needs_sql_cursor_page() -> None:
    """``paginate(keyset=True)`` with a pager other than ``SQLCursorPage`` is refused when the view is declared."""
    with pytest.raises(TypeError, match="SQLCursorPage"):
        Blueprint("Bad", __name__).paginate(None, keyset=True)
