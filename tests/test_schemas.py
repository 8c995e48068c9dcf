"""``AutoSchema``: read-only fields sent back are accepted and ignored; dumps are marshmallow's, computed quicker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import marshmallow as ma
import pytest
from flask.testing import FlaskClient
from marshmallow_sqlalchemy import SQLAlchemyAutoSchema, auto_field
from sqlalchemy import DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_ligand.extensions.api import AutoSchema
from flask_ligand.testing import json_body
from tests.conftest import HeadersFactory


def test_replace_with_the_fetched_body_ignores_its_read_only_fields(
    client: FlaskClient, auth_headers: HeadersFactory
) -> None:
    """A client can PUT back what it GOT, changed: id and timestamps in the body are accepted and ignored."""
    created = client.post("/pets/", json={"name": "Rex", "description": "Brown"}, headers=auth_headers("user"))
    fetched = client.get(created.headers["Location"])
    body = {
        **json_body(fetched),
        "name": "Max",
        "id": "00000000-0000-0000-0000-000000000000",
        "created_at": "1999-01-01",
    }

    response = client.put(
        created.headers["Location"], json=body, headers=auth_headers("user", **{"If-Match": fetched.headers["ETag"]})
    )

    assert response.status_code == 200, response.json
    assert json_body(response)["name"] == "Max"
    assert json_body(response)["id"] == json_body(created)["id"]
    assert json_body(response)["created_at"] == json_body(created)["created_at"]


def test_create_with_read_only_fields_ignores_them(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A POST body carrying an id gets a new id from the service, not the one sent."""
    sent_id = "00000000-0000-0000-0000-000000000000"

    response = client.post("/pets/", json={"id": sent_id, "name": "Rex"}, headers=auth_headers("user"))

    assert response.status_code == 201
    assert json_body(response)["id"] != sent_id


class _Base(DeclarativeBase):
    pass


class Gadget(_Base):
    __tablename__ = "gadget"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    made_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(String(50))


class GadgetSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Gadget

    name = auto_field(data_key="title")
    label = ma.fields.String(attribute="name", dump_only=True)
    colour = ma.fields.String(dump_default="grey")


class GadgetWithMethodSchema(GadgetSchema):
    shout = ma.fields.Method("loud")

    def loud(self, gadget: Gadget) -> str:
        return gadget.name.upper()


GADGETS = [
    Gadget(id=1, name="Lamp", made_at=datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2))), note=None),
    Gadget(id=2, name="Fan", made_at=None, note="quiet"),
]


@pytest.mark.parametrize("schema_class", [GadgetSchema, GadgetWithMethodSchema], ids=["plain-fields", "method-field"])
def test_dump_gives_what_marshmallow_gives(schema_class: type[AutoSchema]) -> None:
    """AutoSchema's quicker dump equals marshmallow's own: data keys, attributes, defaults, UTC, no None values."""
    schema = schema_class()
    marshmallow_own = [schema.remove_none_values(SQLAlchemyAutoSchema._serialize(schema, gadget)) for gadget in GADGETS]

    assert schema.dump(GADGETS, many=True) == marshmallow_own
    assert [schema.dump(gadget) for gadget in GADGETS] == marshmallow_own
    assert marshmallow_own[0]["title"] == marshmallow_own[0]["label"] == "Lamp"
    assert marshmallow_own[0]["made_at"] == "2026-05-01T10:30:00Z"
    assert marshmallow_own[0]["colour"] == "grey"
    assert "note" not in marshmallow_own[0]


def test_dump_of_a_mapping_reads_its_keys() -> None:
    """A dict is dumped by key, as marshmallow does, not by attribute."""
    dumped = GadgetSchema().dump({"id": 3, "name": "Desk", "made_at": None, "note": "oak"})

    assert dumped == {"id": 3, "title": "Desk", "label": "Desk", "note": "oak", "colour": "grey"}


class DeclaredDateTimeSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Gadget

    checked_at = ma.fields.DateTime(allow_none=True)
    stamped_at = ma.fields.DateTime(format="%Y/%m/%d")


def test_datetime_declared_without_a_format_is_utc_with_a_z_as_upstream_wrote_it() -> None:
    """A ``fields.DateTime()`` declared on an ``AutoSchema`` dumps and loads as the generated ones: UTC with a ``Z``
    (upstream's ``Meta.datetimeformat``); one declared with a format keeps it."""
    schema = DeclaredDateTimeSchema()
    local = datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))

    dumped = schema.dump({"id": 1, "name": "Lamp", "checked_at": local, "stamped_at": local})
    naive = schema.dump({"id": 1, "name": "Lamp", "checked_at": datetime(2026, 5, 1, 10, 30)})
    loaded = schema.load({"name": "Lamp", "checked_at": "2026-05-01T12:30:00+02:00"})

    assert dumped["checked_at"] == naive["checked_at"] == "2026-05-01T10:30:00Z"
    assert dumped["stamped_at"] == "2026/05/01"
    assert loaded["checked_at"] == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    with pytest.raises(ma.ValidationError, match="out of range once converted to UTC"):
        schema.load({"name": "Lamp", "checked_at": "0001-01-01T01:00:00+08:00"})
