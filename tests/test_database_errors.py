"""Values the database refuses answer a JSON 4xx, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView

import flask_ligand
from flask_ligand.extensions.database import DB
from tests.apps import blueprint_app

# A metadata of its own: the petstore's migrations are compared with DB.metadata elsewhere.
_METADATA = sa.MetaData()
_COUNTERS = sa.Table("overflow_counter", _METADATA, sa.Column("value", sa.BigInteger, nullable=False))


@pytest.fixture
def counter_app(database_uri: str) -> Iterator[Flask]:
    """An app whose view stores the integer in its URL, unchecked, in a BIGINT column."""
    blueprint = flask_ligand.Blueprint("Counters", __name__, url_prefix="/counters")

    @blueprint.route("/<int:value>")
    class Counter(MethodView):
        def post(self, value: int) -> tuple[dict[str, int], int]:
            DB.session.execute(_COUNTERS.insert().values(value=value))
            DB.session.commit()
            return {"value": value}, 201

        def get(self, value: int) -> dict[str, float]:
            return {"power": float(value + 9) ** 400}  # an OverflowError from a server bug, not bad input

    @blueprint.route("/")
    class Counters(MethodView):
        def get(self) -> dict[str, int]:
            return {"count": DB.session.execute(sa.select(sa.func.count()).select_from(_COUNTERS)).scalar_one()}

    with blueprint_app(blueprint, _METADATA, database_uri) as app:
        yield app


def test_integer_beyond_64_bits_is_a_422(counter_app: Flask) -> None:
    """A number too large for the column is refused with the standard JSON body, on every database."""
    client: FlaskClient = counter_app.test_client()

    response = client.post(f"/counters/{2**70}")

    assert response.status_code == 422
    assert response.json is not None
    assert response.json["status"] == "Unprocessable Entity"
    assert "too large" in response.json["message"] or "out of range" in response.json["message"]
    assert client.post("/counters/42").status_code == 201


def test_overflow_outside_the_database_stays_a_server_error(counter_app: Flask) -> None:
    """An arithmetic bug in a view is not blamed on the client."""
    counter_app.config["PROPAGATE_EXCEPTIONS"] = False
    response = counter_app.test_client().get("/counters/1")

    assert response.status_code == 500
    assert response.json is not None and response.json["code"] == 500


def test_missing_table_is_a_logged_server_error_not_an_outage(
    counter_app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    """A table the migrations have not made yet is a 500 whose log names it, not a 503 "try again shortly"."""
    counter_app.config["PROPAGATE_EXCEPTIONS"] = False
    with counter_app.app_context():
        _METADATA.drop_all(DB.engine)
    capsys.readouterr()

    response = counter_app.test_client().get("/counters/")

    assert response.status_code == 500
    assert response.json is not None and response.json["code"] == 500
    assert "Retry-After" not in response.headers
    assert "overflow_counter" in capsys.readouterr().err
