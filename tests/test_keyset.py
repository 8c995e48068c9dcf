"""Keyset pagination: signed cursors in ``Link`` headers, a stable walk while rows change, NULLs and opt-in counts."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import marshmallow as ma
import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Date, Integer, Numeric, Select, String, Time, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import example_petstore
import flask_ligand
from docs.examples import keyset_pets
from docs.examples.keyset_pets import SORTS
from example_petstore.models import Pet
from example_petstore.schemas import PetSchema
from flask_ligand import cursors
from flask_ligand.extensions.api import Blueprint, KeysetPage, Schema, SQLCursorPage
from flask_ligand.extensions.database import DB
from flask_ligand.testing import created_app, json_body

AppFactory = Callable[..., Flask]


class _Base(DeclarativeBase):
    """Models of this module only, so that the petstore's migrations never see them."""


class Item(_Base):
    """A row whose sort columns may be NULL, of the types a cursor carries."""

    __tablename__ = "keyset_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    label: Mapped[str] = mapped_column(String(20))
    day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    at: Mapped[dt.time | None] = mapped_column(Time, nullable=True)
    price: Mapped[Decimal | None] = mapped_column(Numeric(10, 2), nullable=True)


class ItemSchema(Schema):
    id = ma.fields.Integer()
    rank = ma.fields.Integer(allow_none=True)


_ITEM_SORTS: dict[str, Any] = {
    "rank": Item.rank.asc(),
    "-rank": Item.rank.desc(),
    "rank-nulls-first": Item.rank.nulls_first(),
    "day": Item.day,
    "-at": Item.at.desc(),
    "price": Item.price,
    "label-lower": func.lower(Item.label),
}


def _sorted_pets() -> Select[tuple[Pet]]:
    """Pets in the order of the ``sort`` argument, as in the documentation's example."""
    return select(Pet).order_by(*(SORTS[term] for term in request.args.get("sort", "name").split(",")))


def _make_app(environment: str, **settings: Any) -> Flask:
    app, api = flask_ligand.create_app(__name__, environment, "Keyset", "1.0.0", **settings)
    api.register_blueprint(keyset_pets.BLP)
    blp = Blueprint("Keyset", __name__, url_prefix="/keyset")

    @blp.route("/both")
    @blp.response(200, PetSchema(many=True))
    @blp.paginate(SQLCursorPage, keyset=True)
    def numbered_or_keyset_pets() -> Select[tuple[Pet]]:
        return _sorted_pets()

    @blp.route("/items")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(KeysetPage)
    def keyset_items() -> Select[Item]:
        return select(Item).order_by(_ITEM_SORTS[request.args.get("sort", "rank")])

    @blp.route("/items-numbered")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(SQLCursorPage)
    def numbered_items() -> Select[Item]:
        return select(Item).order_by(_ITEM_SORTS[request.args.get("sort", "rank")])

    @blp.route("/items-both")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate(SQLCursorPage, keyset=True)
    def numbered_or_keyset_items() -> Select[Item]:
        return select(Item).order_by(_ITEM_SORTS[request.args.get("sort", "rank")])

    @blp.route("/self-paged")
    @blp.response(200, ItemSchema(many=True))
    @blp.paginate()
    def self_paged_items(pagination_parameters: PaginationParameters) -> list[Item]:
        query = select(Item).order_by(Item.id)
        pagination_parameters.item_count = DB.session.scalar(select(func.count()).select_from(Item))
        first, size = pagination_parameters.first_item, pagination_parameters.page_size
        return list(DB.session.scalars(query.offset(first).limit(size)))

    api.register_blueprint(blp)
    with app.app_context():
        _Base.metadata.create_all(DB.engine)  # created_app creates DB.metadata's tables
    return app


@pytest.fixture
def make_app(database_uri: str) -> Iterator[AppFactory]:
    """Build apps with the keyset test views on this test's database, and dispose of their engines afterwards."""
    with ExitStack() as apps:

        def make(**settings: Any) -> Flask:
            return apps.enter_context(created_app(_make_app, SQLALCHEMY_DATABASE_URI=database_uri, **settings))

        yield make


@pytest.fixture
def keyset_app(make_app: AppFactory) -> Flask:
    return make_app()


def _add_pets(app: Flask, names: list[str]) -> list[str]:
    with app.app_context():
        pets = [Pet(name=name) for name in names]
        DB.session.add_all(pets)
        DB.session.commit()
        return [str(pet.id) for pet in pets]


def _delete_pets(app: Flask, ids: list[str]) -> None:
    with app.app_context():
        for id_ in ids:
            DB.session.delete(DB.session.get(Pet, uuid.UUID(id_)))
        DB.session.commit()


def _links(response: Any) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]*)"', response.headers.get("Link", ""))}


def _walk(client: FlaskClient, url: str, rel: str = "next", between: Callable[[int], None] | None = None) -> list[Any]:
    """Follow ``rel`` links from ``url`` and return the pages' bodies; ``between(n)`` runs after the n-th page."""
    pages = []
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.json
        pages.append(response.json)
        if between is not None:
            between(len(pages))
        next_url = _links(response).get(rel)
        assert len(pages) < 100, "the walk does not end"
    return pages


def _key(pet: dict[str, Any]) -> tuple[str, str]:
    return pet["name"], pet["id"]


def test_keyset_walk_sees_every_lasting_row_once_in_order_while_rows_change(keyset_app: Flask) -> None:
    """Walking ``next`` links while pets are added and removed returns each pet that existed throughout exactly once."""
    ids = _add_pets(keyset_app, ["B", "A", "C"] * 8)
    doomed = ids[::5]

    def churn(page: int) -> None:
        _add_pets(keyset_app, ["A", "B", "C"])
        _delete_pets(keyset_app, doomed[page - 1 : page])

    pages = _walk(keyset_app.test_client(), "/keyset/pets?page_size=4", between=churn)

    walked = [pet for page in pages for pet in page]
    walked_ids = [pet["id"] for pet in walked]
    assert len(walked_ids) == len(set(walked_ids))
    assert set(ids) - set(doomed) <= set(walked_ids)
    assert walked == sorted(walked, key=_key)


def test_offset_walk_answers_every_page_in_order_while_rows_change(keyset_app: Flask) -> None:
    """Numbered pages fetched while pets are added and removed are each in (name, id) order."""
    ids = _add_pets(keyset_app, ["B", "A", "C"] * 8)
    client = keyset_app.test_client()

    for page in range(1, 8):
        body = json_body(client.get("/keyset/both", query_string={"page": page, "page_size": 4}))
        assert body == sorted(body, key=_key)
        _add_pets(keyset_app, ["A", "C"])
        _delete_pets(keyset_app, ids[page : page + 1])


def test_numbered_page_links_to_the_keyset_page_after_it(keyset_app: Flask) -> None:
    """A numbered page of an endpoint that also takes cursors links (``next``) to the rows right after it."""
    _add_pets(keyset_app, ["A", "B"] * 5)
    client = keyset_app.test_client()
    second = client.get("/keyset/both", query_string={"page": 2, "page_size": 3})

    after = client.get(_links(second)["next"])

    numbered_third = client.get("/keyset/both", query_string={"page": 3, "page_size": 3})
    assert after.json == numbered_third.json
    assert "X-Pagination" not in after.headers


def test_prev_links_walk_back_through_the_same_pages(keyset_app: Flask) -> None:
    """Following ``prev`` from the last page returns the pages of the forward walk, in reverse."""
    _add_pets(keyset_app, ["A", "B", "C"] * 4)
    client = keyset_app.test_client()
    forward = _walk(client, "/keyset/pets?page_size=5")
    last = client.get("/keyset/pets?page_size=5")
    while "next" in _links(last):
        last = client.get(_links(last)["next"])

    backward = _walk(client, _links(last)["prev"], rel="prev")

    assert [last.json, *backward] == forward[::-1]


@pytest.mark.parametrize("sort", ["name", "-name", "-name,created_at"])
def test_keyset_follows_the_declared_sort_with_id_breaking_ties(keyset_app: Flask, sort: str) -> None:
    """The walk follows the query's order, ascending or descending, then the primary key for equal values."""
    _add_pets(keyset_app, ["B", "A", "C", "A", "B"] * 3)

    pages = _walk(keyset_app.test_client(), f"/keyset/pets?page_size=4&sort={sort}")

    walked = [pet for page in pages for pet in page]
    names = [pet["name"] for pet in walked]
    assert names == sorted(names, reverse=sort.startswith("-"))
    with keyset_app.app_context():
        in_order = select(Pet.id).order_by(*(SORTS[term] for term in sort.split(",")), Pet.id)
        assert [pet["id"] for pet in walked] == [str(id_) for id_ in DB.session.scalars(in_order)]
    if sort in ("name", "-name"):
        for name in "ABC":
            same = [pet["id"] for pet in walked if pet["name"] == name]
            assert same == sorted(same)  # the tie-breaker ascends whichever way the sort goes
    assert len(walked) == 15


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("rank", [2, 5, 1, 4, 3, 6]),
        ("-rank", [3, 6, 1, 4, 2, 5]),
        ("rank-nulls-first", [3, 6, 2, 5, 1, 4]),
    ],
    ids=["ascending-nulls-last", "descending-nulls-first", "explicit-nulls-first"],
)
def test_nulls_sort_as_the_largest_value_both_ways(keyset_app: Flask, sort: str, expected: list[int]) -> None:
    """NULL ranks come last ascending and first descending, on every database, forwards and backwards."""
    with keyset_app.app_context():
        for id_, rank in [(1, 5), (2, 1), (3, None), (4, 5), (5, 1), (6, None)]:
            DB.session.add(Item(id=id_, rank=rank, label=f"item {id_}"))
        DB.session.commit()
    client = keyset_app.test_client()

    forward = _walk(client, f"/keyset/items?page_size=2&sort={sort}")
    last = client.get(f"/keyset/items?page_size=2&sort={sort}")
    while "next" in _links(last):
        last = client.get(_links(last)["next"])
    backward = _walk(client, _links(last)["prev"], rel="prev")

    assert [item["id"] for page in forward for item in page] == expected
    assert [item["id"] for page in [*backward[::-1], last.json] for item in page] == expected


def test_first_keyset_page_links_next_and_first_but_not_prev(keyset_app: Flask) -> None:
    """The first page links to the next one and to itself as ``first``; it has no ``prev``."""
    _add_pets(keyset_app, ["A"] * 3)

    response = keyset_app.test_client().get("/keyset/pets?page_size=2&sort=name")

    links = _links(response)
    assert set(links) == {"first", "next"}
    assert links["first"] == "/keyset/pets?page_size=2&sort=name"
    assert links["next"].startswith("/keyset/pets?page_size=2&sort=name&cursor=")


def test_last_keyset_page_has_no_next(keyset_app: Flask) -> None:
    """A page that reaches the end of the collection links ``prev`` but not ``next``."""
    _add_pets(keyset_app, ["A"] * 3)
    client = keyset_app.test_client()

    last = client.get(_links(client.get("/keyset/pets?page_size=2"))["next"])

    assert len(json_body(last)) == 1
    assert set(_links(last)) == {"first", "prev"}


@pytest.mark.parametrize(("query", "header"), [("", None), ("&count=true", "5"), ("&count=false", None)])
def test_total_count_only_when_asked(keyset_app: Flask, query: str, header: str | None) -> None:
    """``X-Total-Count`` is sent only with ``count=true``; keyset pages never send ``X-Pagination``."""
    _add_pets(keyset_app, ["A"] * 5)

    response = keyset_app.test_client().get(f"/keyset/pets?page_size=2{query}")

    assert response.status_code == 200
    assert len(json_body(response)) == 2
    assert response.headers.get("X-Total-Count") == header
    assert "X-Pagination" not in response.headers


@pytest.mark.parametrize(
    ("settings", "on_sqlite", "on_postgresql"),
    [
        ({"PAGINATION_COUNT": "none"}, None, None),
        ({"PAGINATION_COUNT": "estimate", "PAGINATION_COUNT_ESTIMATE_ABOVE": 1_000_000}, "5", "5"),
        ({"PAGINATION_COUNT": "estimate", "PAGINATION_COUNT_ESTIMATE_ABOVE": 1}, "5", None),
    ],
    ids=["none", "estimate-small", "estimate-large"],
)
def test_count_true_counts_only_as_pagination_count_allows(
    make_app: AppFactory,
    settings: dict[str, Any],
    on_sqlite: str | None,
    on_postgresql: str | None,
    ligand_database_backend: str,
) -> None:
    """``count=true`` cannot bring back a ``COUNT(*)`` the operator's ``PAGINATION_COUNT`` keeps away: no total with
    ``none``, and with ``estimate`` none for a query PostgreSQL estimates as large (SQLite has no estimate)."""
    app = make_app(**settings)
    _add_pets(app, ["A"] * 5)
    header = on_postgresql if ligand_database_backend == "postgresql" else on_sqlite

    response = app.test_client().get("/keyset/pets?page_size=2&count=true")

    assert response.status_code == 200
    assert len(json_body(response)) == 2
    assert response.headers.get("X-Total-Count") == header


def _next_cursor(client: FlaskClient, url: str) -> str:
    return _links(client.get(url))["next"].rsplit("cursor=", 1)[1]


@pytest.mark.parametrize(
    "forge",
    [
        lambda cursor: cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        lambda cursor: "X" + cursor[1:],
        lambda cursor: "not-a-cursor",
        lambda cursor: "",
    ],
    ids=["altered-signature", "altered-payload", "garbage", "empty"],
)
def test_forged_cursor_returns_422_naming_it(keyset_app: Flask, forge: Callable[[str], str]) -> None:
    """A cursor that this service did not sign, or that was altered, is a 422 naming ``cursor``, never a page."""
    _add_pets(keyset_app, ["A"] * 3)
    client = keyset_app.test_client()
    cursor = _next_cursor(client, "/keyset/pets?page_size=2")

    response = client.get("/keyset/pets", query_string={"cursor": forge(cursor)})

    assert response.status_code == 422
    assert json_body(response)["code"] == 422
    assert list(json_body(response)["errors"]["query"]) == ["cursor"]


@pytest.mark.parametrize(
    "value",
    [{"name": "A"}, ["uuid", "not-a-uuid"], ["no-such-tag", "x"], ["datetime"], [1, 2, 3], ["uuid", {"a": 1}]],
    ids=["object", "bad-uuid", "unknown-tag", "tag-without-text", "list-of-numbers", "tag-with-an-object"],
)
def test_signed_cursor_with_values_this_service_never_writes_returns_422(keyset_app: Flask, value: Any) -> None:
    """Even correctly signed (a leaked key, a bug), a cursor whose values this service could not have written is a
    422 naming ``cursor``, not a 500."""
    _add_pets(keyset_app, ["A"] * 3)
    client = keyset_app.test_client()
    with keyset_app.app_context():
        real = cursors.decode_cursor(_next_cursor(client, "/keyset/pets?page_size=2"))
        serializer = cursors._serializer(keyset_app)
        assert serializer is not None
        forged = serializer.dumps([real.fingerprint, [value] * len(real.values), "n"])

    response = client.get("/keyset/pets", query_string={"cursor": forged})

    assert response.status_code == 422, response.text
    assert list(json_body(response)["errors"]["query"]) == ["cursor"]


def test_cursor_signed_with_another_secret_returns_422(make_app: AppFactory) -> None:
    """A cursor made by a service with another secret is refused."""
    ours, theirs = make_app(PAGINATION_CURSOR_SECRET="ours" * 8), make_app(PAGINATION_CURSOR_SECRET="theirs" * 8)
    _add_pets(ours, ["A"] * 3)
    cursor = _next_cursor(theirs.test_client(), "/keyset/pets?page_size=2")

    response = ours.test_client().get("/keyset/pets", query_string={"cursor": cursor})

    assert response.status_code == 422


def test_cursor_is_accepted_by_every_instance_sharing_the_secret(make_app: AppFactory) -> None:
    """Two instances of a service with the same ``PAGINATION_CURSOR_SECRET`` accept each other's cursors."""
    first, second = make_app(PAGINATION_CURSOR_SECRET="shared" * 8), make_app(PAGINATION_CURSOR_SECRET="shared" * 8)
    _add_pets(first, ["A", "B", "C"])
    cursor = _next_cursor(first.test_client(), "/keyset/pets?page_size=2")

    response = second.test_client().get("/keyset/pets", query_string={"cursor": cursor, "page_size": 2})

    assert response.status_code == 200
    assert [pet["name"] for pet in json_body(response)] == ["C"]


def test_cursor_of_another_sort_order_returns_422(keyset_app: Flask) -> None:
    """A cursor made for one sort order is refused with another, rather than giving a wrong page."""
    _add_pets(keyset_app, ["A", "B", "C"])
    client = keyset_app.test_client()
    cursor = _next_cursor(client, "/keyset/pets?page_size=1&sort=name")

    response = client.get("/keyset/pets", query_string={"cursor": cursor, "sort": "-name"})

    assert response.status_code == 422
    assert list(json_body(response)["errors"]["query"]) == ["cursor"]


def test_page_with_cursor_returns_422(keyset_app: Flask) -> None:
    """``page`` and ``cursor`` together are a 422 naming ``page``."""
    _add_pets(keyset_app, ["A"] * 3)
    client = keyset_app.test_client()
    cursor = _next_cursor(client, "/keyset/both?page_size=2")

    response = client.get("/keyset/both", query_string={"cursor": cursor, "page": 2})

    assert response.status_code == 422
    assert list(json_body(response)["errors"]["query"]) == ["page"]


def test_petstore_list_keeps_pages_and_links_to_keyset_pages(client: FlaskClient, add_pet_names: Any) -> None:
    """``/pets/`` still answers ``page``/``page_size`` with ``X-Pagination``, and its ``Link`` leads through cursors."""
    ids = add_pet_names(["Rex"] * 7)

    first = client.get("/pets/", query_string={"page_size": 3})
    pages = [first.json, *_walk(client, _links(first)["next"])]

    assert "X-Pagination" in first.headers
    assert [pet["id"] for page in pages for pet in page] == sorted(ids)


@pytest.fixture
def add_pet_names(app: Flask) -> Callable[[list[str]], list[str]]:
    return lambda names: _add_pets(app, names)


def test_openapi_documents_both_pagers(client: FlaskClient, keyset_app: Flask) -> None:
    """The spec lists the pagers' query arguments and response headers, so generated clients expose them."""
    petstore = json_body(client.get("/openapi/api-spec.json"))["paths"]["/pets/"]["get"]
    keyset = json_body(keyset_app.test_client().get("/openapi/api-spec.json"))["paths"]["/keyset/pets"]["get"]

    assert {"page", "page_size", "cursor", "count"} <= {parameter.get("name") for parameter in petstore["parameters"]}
    assert {"X-Pagination", "Link", "X-Total-Count"} <= set(petstore["responses"]["200"]["headers"])
    assert {"cursor", "page_size", "count"} <= {parameter.get("name") for parameter in keyset["parameters"]}
    assert "page" not in {parameter.get("name") for parameter in keyset["parameters"]}
    assert set(keyset["responses"]["200"]["headers"]) >= {"Link", "X-Total-Count"}
    assert "X-Pagination" not in keyset["responses"]["200"]["headers"]


_PRODUCTION = {
    "SERVICE_PUBLIC_URL": "https://pets.example.com",
    "SERVICE_PRIVATE_URL": "http://pets.internal",
    "ALLOWED_ROLES": "user,admin",
    "OIDC_DISCOVERY_URL": "https://idp.example.com/.well-known/openid-configuration",
}


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, database_uri: str) -> Iterator[list[Flask]]:
    """Production settings in the environment; the apps a test appends are disposed of afterwards."""
    for key, value in {**_PRODUCTION, "SQLALCHEMY_DATABASE_URI": database_uri}.items():
        monkeypatch.setenv(key, value)
    apps: list[Flask] = []
    yield apps
    for app in apps:
        with app.app_context():
            DB.session.remove()
            DB.engine.dispose()


def _production_petstore(apps: list[Flask]) -> Flask:
    app = example_petstore.create_app("prod")
    with app.app_context():
        DB.create_all()
    apps.append(app)
    _add_pets(app, ["A", "B", "C"])
    return app


def test_production_keyset_endpoint_needs_a_cursor_secret(production: list[Flask]) -> None:
    """``prod`` refuses to register a ``paginate(KeysetPage)`` endpoint without ``PAGINATION_CURSOR_SECRET``."""
    app, api = flask_ligand.create_app(__name__, "prod", "Keyset", "1.0.0")
    production.append(app)

    with pytest.raises(flask_ligand.ConfigurationError, match="PAGINATION_CURSOR_SECRET"):
        api.register_blueprint(keyset_pets.BLP)


def test_production_without_secret_serves_numbered_pages_only(production: list[Flask]) -> None:
    """Without a cursor secret, the petstore in ``prod`` answers numbered pages without links, and refuses cursors."""
    client = _production_petstore(production).test_client()

    numbered = client.get("/pets/?page_size=2")
    with_cursor = client.get("/pets/?cursor=anything")

    assert numbered.status_code == 200
    assert "Link" not in numbered.headers
    assert with_cursor.status_code == 422
    assert "PAGINATION_CURSOR_SECRET" in json_body(with_cursor)["errors"]["query"]["cursor"][0]


def test_production_with_secret_links_keyset_pages(production: list[Flask], monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``PAGINATION_CURSOR_SECRET`` set, the petstore in ``prod`` links its numbered pages to keyset pages."""
    monkeypatch.setenv("PAGINATION_CURSOR_SECRET", "s" * 32)
    client = _production_petstore(production).test_client()

    first = client.get("/pets/?page_size=2")
    second = client.get(_links(first)["next"])

    assert second.status_code == 200
    assert len(json_body(second)) == 1


def _add_items(app: Flask) -> None:
    """Store six items with equal, distinct and NULL values in every sort column."""
    rows = [
        (1, 5, dt.date(2024, 5, 1), dt.time(9, 30), Decimal("5.50")),
        (2, 1, dt.date(2024, 1, 1), dt.time(8, 0), Decimal("1.25")),
        (3, None, None, None, None),
        (4, 5, dt.date(2024, 5, 1), dt.time(9, 30), Decimal("5.50")),
        (5, 1, dt.date(2024, 1, 1), dt.time(8, 0), Decimal("1.25")),
        (6, None, None, None, None),
    ]
    with app.app_context():
        for id_, rank, day, at, price in rows:
            DB.session.add(Item(id=id_, rank=rank, label=f"Item {id_}", day=day, at=at, price=price))
        DB.session.commit()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("day", [2, 5, 1, 4, 3, 6]), ("-at", [3, 6, 1, 4, 2, 5]), ("price", [2, 5, 1, 4, 3, 6])],
)
def test_dates_times_and_decimals_make_cursors(keyset_app: Flask, sort: str, expected: list[int]) -> None:
    """Keyset pages sorted on a date, a time or a decimal column walk every row once, in order."""
    _add_items(keyset_app)

    pages = _walk(keyset_app.test_client(), f"/keyset/items?page_size=2&sort={sort}")

    assert [item["id"] for page in pages for item in page] == expected


def test_numbered_pages_sorted_on_an_expression_still_work(keyset_app: Flask) -> None:
    """An ``ORDER BY`` on an expression pages by number, the primary key still breaking ties."""
    _add_items(keyset_app)
    client = keyset_app.test_client()

    pages = [json_body(client.get(f"/keyset/self-paged?page={page}&page_size=4")) for page in (1, 2)]
    by_label = client.get("/keyset/items-numbered?page=1&page_size=6&sort=label-lower")

    assert [item["id"] for page in pages for item in page] == [1, 2, 3, 4, 5, 6]
    assert [item["id"] for item in json_body(by_label)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("path", ["/keyset/items", "/keyset/items-both"])
def test_keyset_refuses_a_sort_on_an_expression(keyset_app: Flask, path: str) -> None:
    """A keyset page of a query ordered by an expression is a programming error: a 500 to the client, and the
    TypeError itself where exceptions propagate (a test run with ``PROPAGATE_EXCEPTIONS``)."""
    _add_items(keyset_app)

    answered = keyset_app.test_client().get(f"{path}?page_size=2&sort=label-lower")
    keyset_app.config["PROPAGATE_EXCEPTIONS"] = True

    assert answered.status_code == 500
    with pytest.raises(TypeError, match="ordered by its columns"):
        keyset_app.test_client().get(f"{path}?page_size=2&sort=label-lower")


def test_cursors_work_without_any_key_outside_production(make_app: AppFactory) -> None:
    """Outside production, a service with neither a cursor secret nor a signing key still pages by cursor."""
    app = make_app(OIDC_DISCOVERY_URL="http://127.0.0.1:9/.well-known/openid-configuration")
    _add_pets(app, ["A", "B", "C"])

    pages = _walk(app.test_client(), "/keyset/pets?page_size=2")

    assert [len(page) for page in pages] == [2, 1]
