"""What only PostgreSQL shows: its driver, and values it refuses that SQLite would have stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient
from flask.views import MethodView
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import example_petstore
from example_petstore.models import Pet
from flask_ligand import Blueprint
from flask_ligand.extensions.database import DB
from flask_ligand.testing import created_app, json_body
from tests import pg
from tests.apps import blueprint_app, store


class _NoteBase(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees this test-only table."""


class Note(_NoteBase):
    """A row with a short column and a 32-bit integer, which PostgreSQL enforces and SQLite does not."""

    __tablename__ = "test_postgres_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(5))
    count: Mapped[int] = mapped_column(sa.Integer, default=0)


@pytest.fixture
def postgresql_uri(postgresql_cluster: pg.Cluster) -> Iterator[str]:
    """An empty PostgreSQL database of this test's own."""
    with postgresql_cluster.database() as uri:
        yield uri


@pytest.fixture
def notes_app(postgresql_uri: str) -> Iterator[Flask]:
    """A service whose view stores the raw JSON body as it is, with no schema: only the database judges it."""
    blp = Blueprint("Notes", __name__, url_prefix="/notes")

    @blp.route("/")
    class Notes(MethodView):
        @blp.response(201)
        def post(self) -> dict[str, Any]:
            return {"id": store(Note(**request.get_json())).id}

    with blueprint_app(blp, _NoteBase.metadata, postgresql_uri) as app:
        yield app


@pytest.mark.parametrize(
    "body",
    [{"title": "far too long"}, {"title": "ok", "count": 2**40}, {"title": "a\u0000b"}],
    ids=["too-long", "out-of-range", "nul"],
)
def test_value_postgresql_refuses_returns_422_without_sql(notes_app: Flask, body: dict[str, Any]) -> None:
    """A value PostgreSQL refuses, even from a view that skips validation, is a 422 that shows no SQL or table."""
    response = notes_app.test_client().post("/notes/", json=body)

    assert response.status_code == 422, response.json
    assert json_body(response)["message"].startswith("The request holds a value the database cannot store")
    for leak in ("insert", "test_postgres_note", "character varying", "psycopg", "integer out of range", "0x00"):
        assert leak not in response.text.lower()


def test_service_keeps_working_after_a_refused_value(notes_app: Flask) -> None:
    """After a 422 from the database, the same worker stores the next valid note (the transaction was rolled back)."""
    client: FlaskClient = notes_app.test_client()
    assert client.post("/notes/", json={"title": "far too long"}).status_code == 422

    response = client.post("/notes/", json={"title": "ok"})

    assert response.status_code == 201, response.json
    with notes_app.app_context():
        assert DB.session.scalars(sa.select(Note.title)).all() == ["ok"]


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_url_without_a_driver_uses_psycopg(postgresql_uri: str, scheme: str) -> None:
    """``postgresql://`` and ``postgres://`` URLs (as hosting platforms hand them out) connect through psycopg 3."""
    plain = postgresql_uri.replace("postgresql+psycopg://", f"{scheme}://", 1)
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=plain)
    try:
        with app.app_context():
            DB.create_all()
            assert DB.engine.dialect.driver == "psycopg"
        assert app.test_client().get("/pets/").status_code == 200
    finally:
        with app.app_context():
            DB.engine.dispose()


def test_url_of_a_driver_that_is_not_installed_is_a_configuration_error() -> None:
    """A database URL whose driver is missing stops create_app with a RuntimeError naming the setting and driver."""
    with pytest.raises(RuntimeError, match="SQLALCHEMY_DATABASE_URI.*'postgresql\\+pg8000'.*'pg8000' is not installed"):
        example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI="postgresql+pg8000://u@127.0.0.1:1/db")


@pytest.fixture
def estimating_app(postgresql_uri: str) -> Iterator[Flask]:
    """The petstore counting with ``PAGINATION_COUNT=estimate`` and 25 analysed pets, estimating any total."""
    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=postgresql_uri,
        PAGINATION_COUNT="estimate",
        PAGINATION_COUNT_ESTIMATE_ABOVE=0,
    ) as app:
        with app.app_context():
            DB.session.add_all([Pet(name=f"Pet {number}") for number in range(25)])
            DB.session.commit()
            DB.session.execute(sa.text("ANALYZE pet"))
            DB.session.commit()
        yield app


def statements_of(app: Flask, path: str) -> tuple[Any, list[str]]:
    """GET ``path`` and return the response with the SQL statements it ran."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = DB.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        response = app.test_client().get(path)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return response, statements


def test_count_estimate_gives_the_planners_total_without_counting(estimating_app: Flask) -> None:
    """``PAGINATION_COUNT=estimate`` takes the total from ``EXPLAIN``, says so, and runs no ``COUNT(*)``."""
    response, statements = statements_of(estimating_app, "/pets/?page=2&page_size=10")

    assert response.status_code == 200
    assert json.loads(response.headers["X-Pagination"]) == {
        "total": 25,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        "page": 2,
        "previous_page": 1,
        "next_page": 3,
        "total_is_estimate": True,
    }
    assert any(statement.startswith("EXPLAIN (FORMAT JSON) SELECT") for statement in statements)
    assert not any("count(" in statement.lower() for statement in statements)


def test_count_estimate_of_a_filtered_list_binds_its_filters(estimating_app: Flask) -> None:
    """A filtered list is estimated with its filter's parameters, and ``next_page`` follows the rows found."""
    response = estimating_app.test_client().get("/pets/", query_string={"name": "Pet 7", "page_size": 10})

    assert response.status_code == 200
    assert [pet["name"] for pet in json_body(response)] == ["Pet 7"]
    pagination = json.loads(response.headers["X-Pagination"])
    assert pagination["total_is_estimate"] is True
    assert pagination["page"] == 1
    assert "next_page" not in pagination


def test_count_estimate_below_the_threshold_counts_exactly(postgresql_uri: str) -> None:
    """An estimate under ``PAGINATION_COUNT_ESTIMATE_ABOVE`` is replaced by an exact count, without the flag."""
    with created_app(
        example_petstore.create_app, SQLALCHEMY_DATABASE_URI=postgresql_uri, PAGINATION_COUNT="estimate"
    ) as app:
        with app.app_context():
            DB.session.add_all([Pet(name=f"Pet {number}") for number in range(12)])
            DB.session.commit()

        response, statements = statements_of(app, "/pets/?page=1&page_size=10")

    assert json.loads(response.headers["X-Pagination"]) == {
        "total": 12,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 1,
        "next_page": 2,
    }
    assert any("count(" in statement.lower() for statement in statements)
