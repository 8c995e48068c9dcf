"""Version ETags and conditional writes (``Versioned``, ``flask_ligand.etag``) through HTTP, on both databases."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import flask
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask.views import MethodView
from marshmallow_sqlalchemy import auto_field
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.test import TestResponse

import flask_ligand
from example_petstore.models import Pet
from example_petstore.schemas import PetSchema
from flask_ligand.extensions.api import AutoSchema, Blueprint
from flask_ligand.extensions.database import DB, Versioned
from flask_ligand.testing import json_body
from tests.apps import blueprint_app

HeadersFactory = Callable[..., dict[str, str]]
#: Called by the race views between their ``check_etag`` and their commit: another client's write lands there.
Interference = Callable[[Any], None]


class _GadgetBase(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees this test-only table."""


class Gadget(_GadgetBase):
    """A model without ``Versioned``, as upstream apps have them."""

    __tablename__ = "test_etag_gadget"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))


class GadgetSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Gadget

    id = auto_field(dump_only=True)


@pytest.fixture
def create_pet(client: FlaskClient, auth_headers: HeadersFactory) -> Callable[..., TestResponse]:
    def create(**body: Any) -> TestResponse:
        response = client.post("/pets/", json={"name": "Rex", **body}, headers=auth_headers("user"))
        assert response.status_code == 201, response.json
        return response

    return create


def _stored_version(app: Flask, pet_id: str) -> str:
    with app.app_context():
        return str(DB.session.execute(sa.select(Pet.version_id).where(Pet.id == uuid.UUID(pet_id))).scalar_one())


def test_item_etag_is_its_stored_version(app: Flask, client: FlaskClient, create_pet: Callable[..., Any]) -> None:
    """A pet's ETag, on creation and on GET, is the version stored in its row."""
    created = create_pet()

    fetched = client.get(created.headers["Location"])

    version = _stored_version(app, created.json["id"])
    assert created.headers["ETag"] == fetched.headers["ETag"] == f'"{version}"'


def test_put_replaces_the_version_and_answers_with_the_new_etag(
    app: Flask, client: FlaskClient, create_pet: Callable[..., Any], auth_headers: HeadersFactory
) -> None:
    """A successful PUT stores a new version and returns it as the response's ETag, which a GET then confirms."""
    created = create_pet()
    location = created.headers["Location"]

    replaced = client.put(
        location, json={"name": "Max"}, headers=auth_headers("user", **{"If-Match": created.headers["ETag"]})
    )

    assert replaced.status_code == 200, replaced.json
    assert replaced.headers["ETag"] != created.headers["ETag"]
    assert replaced.headers["ETag"] == f'"{_stored_version(app, created.json["id"])}"'
    assert client.get(location).headers["ETag"] == replaced.headers["ETag"]


@pytest.mark.parametrize("weak", [False, True], ids=["strong", "weak"])
def test_get_with_the_version_in_if_none_match_returns_304(
    client: FlaskClient, create_pet: Callable[..., Any], weak: bool
) -> None:
    """A GET whose If-None-Match holds the pet's version, strong or weak (``W/``), answers 304 without a body."""
    created = create_pet()
    etag = created.headers["ETag"]

    response = client.get(created.headers["Location"], headers={"If-None-Match": f"W/{etag}" if weak else etag})

    assert response.status_code == 304
    assert response.data == b""
    assert response.headers["ETag"] == etag


def test_not_modified_list_repeats_its_etag(client: FlaskClient, create_pet: Callable[..., Any]) -> None:
    """A 304 for a list (a hashed, not versioned, ETag) carries the ETag it matched, as RFC 9110 requires."""
    create_pet()
    etag = client.get("/pets/").headers["ETag"]

    response = client.get("/pets/", headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.headers["ETag"] == etag


def test_version_is_not_part_of_the_representation(client: FlaskClient, create_pet: Callable[..., Any]) -> None:
    """The version travels only as the ETag: neither the pet's JSON nor its OpenAPI schema has ``version_id``."""
    created = create_pet()

    spec = json_body(client.get("/openapi/api-spec.json"))

    assert "version_id" not in created.json
    assert "version_id" not in json_body(client.get(created.headers["Location"]))
    assert "version_id" not in spec["components"]["schemas"]["Pet"]["properties"]


def test_client_cannot_set_the_version(
    app: Flask, client: FlaskClient, create_pet: Callable[..., Any], auth_headers: HeadersFactory
) -> None:
    """A PUT body carrying ``version_id`` is a 422 and the stored version stays as it was."""
    created = create_pet()
    before = _stored_version(app, created.json["id"])

    response = client.put(
        created.headers["Location"],
        json={"name": "Rex", "version_id": "0" * 32},
        headers=auth_headers("user", **{"If-Match": created.headers["ETag"]}),
    )

    assert response.status_code == 422, response.json
    assert "version_id" in json_body(response)["errors"]["json"]
    assert _stored_version(app, created.json["id"]) == before


@pytest.fixture
def after_commit() -> list[Interference]:
    """Other clients' writes that the race views run right after their own commit, before answering."""
    return []


@pytest.fixture
def before_check() -> list[Interference]:
    """Other clients' writes that the race views run between reading the pet and their ``check_etag``."""
    return []


@pytest.fixture
def race_app(
    database_uri: str, after_commit: list[Interference], before_check: list[Interference]
) -> Iterator[tuple[Flask, list[Interference]]]:
    """A service with PUT and DELETE views on ``Pet`` written like the petstore's, which run the registered
    interferences (other clients' writes) between their ``check_etag`` and their commit, ``before_check``'s before
    that check and ``after_commit``'s after the commit."""
    interferences: list[Interference] = []
    blp = Blueprint("RacePets", __name__, url_prefix="/race-pets")

    @blp.route("/<uuid:item_id>")
    @blp.etag
    class RacePet(MethodView):
        @blp.response(200, PetSchema)
        def get(self, item_id: uuid.UUID) -> Pet:
            item: Pet = Pet.query.get_or_404(item_id)
            blp.set_etag(item, PetSchema)  # as upstream views may do; the version is the ETag all the same
            return item

        @blp.arguments(PetSchema)
        @blp.response(200, PetSchema)
        def put(self, new_item: dict[str, Any], item_id: uuid.UUID) -> Pet:
            item: Pet = Pet.query.get_or_404(item_id)
            for interfere in before_check:
                interfere(item_id)
            blp.check_etag(item, PetSchema)
            for interfere in interferences:
                interfere(item_id)
            PetSchema().update(item, new_item)
            DB.session.commit()
            for interfere in after_commit:
                interfere(item_id)
            return item

        @blp.response(200, PetSchema)
        def patch(self, item_id: uuid.UUID) -> Pet:
            item: Pet = Pet.query.get_or_404(item_id)
            for interfere in before_check:
                interfere(item_id)
            blp.check_etag(item, PetSchema)
            item.name = flask.request.get_json()["name"]
            DB.session.commit()
            return item

        @blp.response(204)
        def delete(self, item_id: uuid.UUID) -> None:
            item: Pet = Pet.query.get_or_404(item_id)
            blp.check_etag(item, PetSchema)
            if flask.request.args.get("check") == "twice":  # a helper of the view checking again
                blp.check_etag(item, PetSchema)
            for interfere in interferences:
                interfere(item_id)
            DB.session.delete(item)
            DB.session.commit()

    app, api = flask_ligand.create_app(__name__, "testing", "Race", "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri)
    api.register_blueprint(blp)
    with app.app_context():
        DB.create_all()
        DB.session.add(Pet(id=RACE_PET_ID, name="Rex", description="Original."))
        DB.session.commit()
    yield app, interferences
    with app.app_context():
        DB.session.remove()
        DB.engine.dispose()


RACE_PET_ID = uuid.UUID("5c0e0b8e-8a57-4a47-9d57-0b8c0c1f6b11")


def _other_client_changes(app: Flask, **values: str) -> Interference:
    """Another client's committed write of ``values``, on a connection of its own, as another worker process would."""

    def interfere(item_id: uuid.UUID) -> None:
        engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        try:
            with sa.orm.Session(engine) as session:
                pet = session.get(Pet, item_id)
                assert pet is not None
                for attribute, value in values.items():
                    setattr(pet, attribute, value)
                session.commit()
        finally:
            engine.dispose()

    return interfere


def _other_client_deletes(app: Flask) -> Interference:
    """Another client's committed ``DELETE``, on a connection of its own."""

    def interfere(item_id: uuid.UUID) -> None:
        engine = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        try:
            with sa.orm.Session(engine) as session:
                session.delete(session.get(Pet, item_id))
                session.commit()
        finally:
            engine.dispose()

    return interfere


@pytest.mark.parametrize("other_write", ["renames", "deletes"])
def test_write_answers_with_what_it_stored_when_another_lands_right_after_its_commit(
    race_app: tuple[Flask, list[Interference]], after_commit: list[Interference], other_write: str
) -> None:
    """A PUT whose commit succeeded answers 200 with the body and ETag it stored, even when another client renames
    or deletes the pet between that commit and the response (the response is not read back from the database)."""
    app, _ = race_app
    client = app.test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    etag = client.get(location).headers["ETag"]
    after_commit.append(
        _other_client_changes(app, name="Later") if other_write == "renames" else _other_client_deletes(app)
    )

    response = client.put(location, json={"name": "Mine", "description": "Stored."}, headers={"If-Match": etag})

    assert response.status_code == 200, response.json
    assert (json_body(response)["name"], json_body(response)["description"]) == ("Mine", "Stored.")
    assert response.headers["ETag"] not in (etag, client.get(location).headers.get("ETag"))


def test_set_etag_on_a_versioned_item_uses_its_version(race_app: tuple[Flask, list[Interference]]) -> None:
    """A view calling ``set_etag(item, PetSchema)`` itself still answers with the item's version as ETag."""
    client = race_app[0].test_client()

    response = client.get(f"/race-pets/{RACE_PET_ID}")

    assert response.headers["ETag"] == f'"{_stored_version(race_app[0], str(RACE_PET_ID))}"'


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_write_losing_a_race_after_its_etag_check_returns_412_and_changes_nothing(
    race_app: tuple[Flask, list[Interference]], method: str
) -> None:
    """When another client's write lands between a request's If-Match check and its commit, the request gets 412
    and the other client's write is what stays stored: the conditional UPDATE/DELETE matched no row."""
    app, interferences = race_app
    client = app.test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    etag = client.get(location).headers["ETag"]
    interferences.append(_other_client_changes(app, name="Winner"))

    response = client.open(
        location, method=method, json={"name": "Loser"} if method == "PUT" else None, headers={"If-Match": etag}
    )

    assert response.status_code == 412, response.json
    assert json_body(response)["status"] == "Precondition Failed"
    assert "changed since you read it" in json_body(response)["message"]
    interferences.clear()
    stored = client.get(location)
    assert stored.status_code == 200
    assert json_body(stored)["name"] == "Winner"
    assert stored.headers["ETag"] != etag


def test_if_match_star_writes_over_a_change_made_since_the_read(
    race_app: tuple[Flask, list[Interference]], before_check: list[Interference]
) -> None:
    """``If-Match: *`` asks for a write over whatever is stored: another client's rename landing after this request
    read the pet does not make it a 412, and this request's write is what stays."""
    app, _ = race_app
    client = app.test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    before_check.append(_other_client_changes(app, name="Other"))

    response = client.put(location, json={"name": "Mine", "description": "Star."}, headers={"If-Match": "*"})

    assert response.status_code == 200, response.json
    before_check.clear()
    stored = client.get(location)
    assert json_body(stored)["name"] == "Mine"
    assert stored.headers["ETag"] == response.headers["ETag"]


def test_if_match_star_answers_the_row_it_wrote_with_another_clients_change_in_it(
    race_app: tuple[Flask, list[Interference]], before_check: list[Interference]
) -> None:
    """A ``PATCH`` with ``If-Match: *`` changing the name, after another client changed the description since this
    request read the pet, answers the row as stored, with the other description, and the ETag a GET then gives:
    never a body that was never stored under a stored ETag."""
    app, _ = race_app
    client = app.test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    before_check.append(_other_client_changes(app, description="Changed elsewhere."))

    response = client.patch(location, json={"name": "Mine"}, headers={"If-Match": "*"})

    assert response.status_code == 200, response.json
    before_check.clear()
    stored = client.get(location)
    assert json_body(response) == json_body(stored)
    assert (json_body(stored)["name"], json_body(stored)["description"]) == ("Mine", "Changed elsewhere.")
    assert response.headers["ETag"] == stored.headers["ETag"]


def test_a_view_checking_the_etag_twice_is_not_refused(race_app: tuple[Flask, list[Interference]]) -> None:
    """``check_etag`` called twice on one item (a view and a helper of it) compares both times with the version the
    row has, not with the one the first call gave the coming write."""
    client = race_app[0].test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    etag = client.get(location).headers["ETag"]

    response = client.delete(f"{location}?check=twice", headers={"If-Match": etag})

    assert response.status_code == 204, response.json
    assert client.get(location).status_code == 404


def test_if_match_star_on_a_pet_deleted_since_the_read_is_412(
    race_app: tuple[Flask, list[Interference]], before_check: list[Interference]
) -> None:
    """``If-Match: *`` needs a current representation (RFC 9110): when the pet was deleted after this request read
    it, the write is refused with 412 saying so, and nothing is created again."""
    app, _ = race_app
    client = app.test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    before_check.append(_other_client_deletes(app))

    response = client.put(location, json={"name": "Mine"}, headers={"If-Match": "*"})

    assert response.status_code == 412, response.json
    assert "was deleted" in json_body(response)["message"]
    before_check.clear()
    assert client.get(location).status_code == 404


def test_a_write_repeating_the_stored_values_makes_a_new_version(
    app: Flask, client: FlaskClient, create_pet: Callable[..., Any], auth_headers: HeadersFactory
) -> None:
    """A PUT that changes no value is a write all the same: it stores a new version, so the ETag it was sent with is
    refused afterwards, as after any write (else two clients holding that ETag could both "win")."""
    created = create_pet(description="Same.")
    location, etag = created.headers["Location"], created.headers["ETag"]
    body = {"name": "Rex", "description": "Same."}

    repeated = client.put(location, json=body, headers=auth_headers("user", **{"If-Match": etag}))
    again = client.put(location, json=body, headers=auth_headers("user", **{"If-Match": etag}))

    assert repeated.status_code == 200, repeated.json
    assert repeated.headers["ETag"] not in (etag, None)
    assert repeated.headers["ETag"] == f'"{_stored_version(app, created.json["id"])}"'
    assert again.status_code == 412, again.json


def test_write_after_a_race_it_did_not_join_succeeds_with_the_new_etag(
    race_app: tuple[Flask, list[Interference]],
) -> None:
    """After a lost race, a client that reads the pet again writes with the new ETag (the session was rolled back)."""
    app, interferences = race_app
    client = app.test_client()
    location = f"/race-pets/{RACE_PET_ID}"
    interferences.append(_other_client_changes(app, name="Winner"))
    lost = client.put(location, json={"name": "Loser"}, headers={"If-Match": client.get(location).headers["ETag"]})
    assert lost.status_code == 412
    interferences.clear()

    retried = client.put(location, json={"name": "Retry"}, headers={"If-Match": client.get(location).headers["ETag"]})

    assert retried.status_code == 200, retried.json
    assert json_body(retried)["name"] == "Retry"


@pytest.fixture
def gadget_client(database_uri: str) -> Iterator[FlaskClient]:
    """A service on a model without ``Versioned``, with the upstream-style view ``check_etag(item, GadgetSchema)``."""
    blp = Blueprint("Gadgets", __name__, url_prefix="/gadgets")

    @blp.route("/<int:item_id>")
    @blp.etag
    class GadgetById(MethodView):
        @blp.response(200, GadgetSchema)
        def get(self, item_id: int) -> Gadget:
            return _get_gadget(item_id)

        @blp.arguments(GadgetSchema)
        @blp.response(200, GadgetSchema)
        def put(self, new_item: dict[str, Any], item_id: int) -> Gadget:
            item = _get_gadget(item_id)
            blp.check_etag(item, GadgetSchema)
            GadgetSchema().update(item, new_item)
            DB.session.commit()
            return item

    with blueprint_app(blp, _GadgetBase.metadata, database_uri, Gadget(id=1, name="Widget")) as app:
        yield app.test_client()


def _get_gadget(item_id: int) -> Gadget:
    item = DB.session.get(Gadget, item_id)
    if item is None:
        flask_ligand.abort(404, f"No gadget {item_id}.")
    return item


def test_model_without_versioned_keeps_the_hash_of_its_representation_as_etag(gadget_client: FlaskClient) -> None:
    """Without ``Versioned``, the ETag is still flask-smorest's SHA-1 of the serialised item, as upstream had it."""
    response = gadget_client.get("/gadgets/1")

    expected = hashlib.sha1(json.dumps(response.json, sort_keys=True).encode()).hexdigest()
    assert response.headers["ETag"] == f'"{expected}"'


def test_model_without_versioned_checks_if_match_against_its_representation(gadget_client: FlaskClient) -> None:
    """Without ``Versioned``, check_etag accepts the representation's ETag and refuses a stale one with 412."""
    etag = gadget_client.get("/gadgets/1").headers["ETag"]

    replaced = gadget_client.put("/gadgets/1", json={"name": "Sprocket"}, headers={"If-Match": etag})
    stale = gadget_client.put("/gadgets/1", json={"name": "Gizmo"}, headers={"If-Match": etag})

    assert replaced.status_code == 200, replaced.json
    assert stale.status_code == 412, stale.json
    assert json_body(gadget_client.get("/gadgets/1"))["name"] == "Sprocket"


class _CrateBase(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees this test-only table."""


class Crate(Versioned, _CrateBase):
    """A versioned row whose database sets a column on every write, as ``onupdate=func.now()`` models do."""

    __tablename__ = "test_etag_crate"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(50))
    touched_at: Mapped[datetime] = mapped_column(sa.DateTime, server_default=sa.func.now(), onupdate=sa.func.now())


class CrateSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Crate

    id = auto_field(dump_only=True)
    touched_at = auto_field(dump_only=True)


#: Not in ``DB.metadata`` (an explicit ``__table__`` of its own metadata), so the migrations' checks never see it.
_LEDGER_METADATA = sa.MetaData()


class Ledger(DB.Model):  # type: ignore[name-defined,misc]
    """A model of ``DB`` without ``Versioned`` and with ``__mapper_args__`` of its own, whose database sets a column."""

    __table__ = sa.Table(
        "test_etag_ledger",
        _LEDGER_METADATA,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(50), nullable=False),
        sa.Column("touched_at", sa.DateTime, server_default=sa.func.now(), onupdate=sa.func.now()),
    )
    __mapper_args__ = {"confirm_deleted_rows": True}


class LedgerSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Ledger

    id = auto_field(dump_only=True)
    touched_at = auto_field(dump_only=True)


@pytest.mark.parametrize(
    ("model", "schema", "metadata"),
    [(Crate, CrateSchema, _CrateBase.metadata), (Ledger, LedgerSchema, _LEDGER_METADATA)],
    ids=["versioned", "db-model-with-own-mapper-args"],
)
def test_write_whose_database_sets_a_column_answers_what_it_stored_after_a_delete_lands(
    database_uri: str, after_commit: list[Interference], model: Any, schema: Any, metadata: sa.MetaData
) -> None:
    """A column the database sets in the ``UPDATE`` comes back with it (``RETURNING``), so nothing is read after the
    commit: a ``DELETE`` landing between the commit and the response leaves the PUT's 200 and body whole. So for a
    ``Versioned`` model, and for any model of ``DB``, whatever ``__mapper_args__`` it declares."""
    blp = Blueprint("Rows", __name__, url_prefix="/rows")

    @blp.route("/<int:item_id>")
    @blp.etag
    class RowById(MethodView):
        @blp.response(200, schema)
        def get(self, item_id: int) -> Any:
            return DB.get_or_404(model, item_id)

        @blp.arguments(schema)
        @blp.response(200, schema)
        def put(self, new_item: dict[str, Any], item_id: int) -> Any:
            row = DB.get_or_404(model, item_id)
            blp.check_etag(row, schema)
            row.label = new_item["label"]
            DB.session.commit()
            for interfere in after_commit:
                interfere(item_id)
            return row

    with blueprint_app(blp, metadata, database_uri, model(id=1, label="Empty")) as app:

        def other_client_deletes(item_id: int) -> None:
            with app.app_context(), DB.engine.begin() as connection:
                connection.execute(sa.delete(model).where(model.id == item_id))

        client = app.test_client()
        etag = client.get("/rows/1").headers["ETag"]
        after_commit.append(other_client_deletes)

        response = client.put("/rows/1", json={"label": "Apples"}, headers={"If-Match": etag})

        assert response.status_code == 200, response.text
        assert json_body(response)["label"] == "Apples"
        assert json_body(response)["touched_at"]
        assert response.headers["ETag"] != etag
        assert client.get("/rows/1").status_code == 404
