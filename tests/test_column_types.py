"""sqlalchemy-utils' column types through ``AutoSchema`` and HTTP, on both databases: what clients send and get back,
the 422 for a value a type refuses, and the OpenAPI document."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy_utils as su
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_ligand import DB, AutoSchema, Blueprint
from flask_ligand.converting import CoercedString
from flask_ligand.testing import json_body
from tests.apps import blueprint_app, store


class Finish(enum.Enum):
    MATTE = "matte"
    GLOSSY = "glossy"


class _Base(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees this test-only table."""


class Gear(_Base):
    __tablename__ = "test_types_gear"

    id: Mapped[int] = mapped_column(primary_key=True)
    email = mapped_column(su.EmailType, nullable=True)
    homepage = mapped_column(su.URLType, nullable=True)
    address = mapped_column(su.IPAddressType, nullable=True)
    settings = mapped_column(su.JSONType, nullable=True)
    tags = mapped_column(su.ScalarListType(), nullable=True)
    sizes = mapped_column(su.ScalarListType(int), nullable=True)
    size = mapped_column(su.ChoiceType([("s", "Small"), ("l", "Large")]), nullable=True)
    level = mapped_column(su.ChoiceType([(1, "Low"), (2, "High")], impl=Integer()), nullable=True)
    finish = mapped_column(su.ChoiceType(Finish, impl=String(10)), nullable=True)
    country = mapped_column(su.CountryType, nullable=True)
    currency = mapped_column(su.CurrencyType, nullable=True)
    locale = mapped_column(su.LocaleType, nullable=True)
    timezone = mapped_column(su.TimezoneType(backend="zoneinfo"), nullable=True)
    pin = mapped_column(su.StringEncryptedType(Integer, "a test key"), nullable=True)
    password = mapped_column(su.PasswordType(schemes=["pbkdf2_sha512"]), nullable=True)


class GearSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Gear


BLP = Blueprint("Gear", __name__, url_prefix="/gear", description="Columns of every sqlalchemy-utils type.")


@BLP.route("/")
class GearList(MethodView):
    @BLP.arguments(GearSchema)
    @BLP.response(201, GearSchema)
    def post(self, data: dict[str, Any]) -> Gear:
        return store(Gear(**data))


@BLP.route("/<int:gear_id>")
class GearById(MethodView):
    @BLP.response(200, GearSchema)
    def get(self, gear_id: int) -> Gear:
        gear: Gear = DB.get_or_404(Gear, gear_id)
        return gear


GEAR = {
    "email": "rex@example.com",
    "homepage": "http://inventory/gear/1",
    "address": "10.0.0.1",
    "settings": {"colours": ["red"], "depth": {"max": 3}},
    "tags": ["new", "blue"],
    "sizes": [38, 40],
    "size": "l",
    "level": 2,
    "finish": "glossy",
    "country": "FI",
    "currency": "EUR",
    "locale": "fi_FI",
    "timezone": "Europe/Helsinki",
    "pin": 1234,
}


@pytest.fixture
def app(database_uri: str) -> Iterator[Flask]:
    with blueprint_app(BLP, _Base.metadata, database_uri) as app:
        yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_values_go_in_and_come_back_as_clients_wrote_them(app: Flask, client: FlaskClient) -> None:
    """Each value reads back as sent: a choice's code (not its label), a country's code (not its name), a JSON
    object and lists as JSON; a password is stored hashed and never shown."""
    created = client.post("/gear/", json={**GEAR, "password": "correct horse"})

    assert created.status_code == 201, created.json
    assert json_body(created) == {"id": 1, **GEAR}
    assert json_body(client.get("/gear/1")) == {"id": 1, **GEAR}
    with app.app_context():
        stored = DB.session.get(Gear, 1)
        assert stored is not None
        assert stored.password == "correct horse"  # PasswordType compares with the hash
        assert stored.password != "wrong"


def test_an_email_address_is_answered_as_it_is_stored(client: FlaskClient) -> None:
    """``EmailType`` stores addresses lowercased: the response to the write says so, as a later read does."""
    created = json_body(client.post("/gear/", json={"email": "Rex@Example.COM"}))

    assert created["email"] == "rex@example.com"
    assert json_body(client.get(f"/gear/{created['id']}"))["email"] == "rex@example.com"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "not-an-address"),
        ("homepage", "no url"),
        ("address", "999.1.1.1"),
        ("tags", ["a,b"]),
        ("sizes", ["many"]),
        ("size", "xl"),
        ("level", 3),
        ("finish", "satin"),
        ("country", "XX"),
        ("currency", "XXY"),
        ("locale", "zz_ZZ"),
        ("timezone", "Europe/Nowhere"),
        ("pin", "1234x"),
    ],
)
def test_a_value_the_type_refuses_is_a_422_naming_the_field(client: FlaskClient, field: str, value: Any) -> None:
    """The field checks what the column type would refuse (or store wrongly), so the client gets a 422, not a 500."""
    response = client.post("/gear/", json={field: value})

    assert response.status_code == 422, response.json
    assert list(json_body(response)["errors"]["json"]) == [field]


def test_the_spec_documents_each_type(client: FlaskClient) -> None:
    """OpenAPI says what each column takes: formats, enums, item types; the password is write-only."""
    properties = json_body(client.get("/openapi/api-spec.json"))["components"]["schemas"]["Gear"]["properties"]

    assert properties["email"]["format"] == "email"
    assert properties["homepage"]["format"] == "url"
    assert properties["address"]["format"] == "ip"
    assert properties["tags"]["items"]["type"] == "string"
    assert properties["sizes"]["items"]["type"] == "integer"
    assert (properties["size"]["type"], properties["size"]["enum"]) == ("string", ["s", "l", None])
    assert (properties["level"]["type"], properties["level"]["enum"]) == ("integer", [1, 2, None])
    assert properties["finish"]["enum"] == ["matte", "glossy", None]
    assert properties["pin"]["type"] == "integer"
    assert properties["password"]["writeOnly"] is True
    assert "type" not in properties["settings"]  # any JSON value


def test_a_time_zone_is_written_by_its_name_whatever_the_backend() -> None:
    """zoneinfo, pytz-like and dateutil time zones (sqlalchemy-utils' default backend) are written as their name,
    never as the path of the server's zone file."""
    from zoneinfo import ZoneInfo

    from dateutil import tz  # type: ignore[import-untyped]

    field = CoercedString(su.TimezoneType(backend="zoneinfo"))

    names = [field.serialize("zone", {"zone": zone}) for zone in (ZoneInfo("Europe/Helsinki"), tz.gettz("Asia/Tokyo"))]

    assert names == ["Europe/Helsinki", "Asia/Tokyo"]
