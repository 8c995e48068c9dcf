"""Related models through HTTP on both databases: foreign keys enforced alike, conflicts named, relationships as keys.

An owner has toys (a foreign key without ``ON DELETE``), stickers (``ON DELETE CASCADE``) and leashes (a relationship
the ORM manages, so deleting the owner empties their ``owner_id``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask import Flask, request
from flask.testing import FlaskClient
from flask.views import MethodView
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, selectinload
from werkzeug.test import TestResponse

import flask_ligand
from flask_ligand import DB, AutoSchema, Blueprint, Schema
from flask_ligand.testing import json_body
from tests.apps import blueprint_app, store


class _Base(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees these test-only tables."""


class Owner(_Base):
    __tablename__ = "test_rel_owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    leashes: Mapped[list[Leash]] = relationship(back_populates="owner")


class Toy(_Base):
    __tablename__ = "test_rel_toy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    owner_id: Mapped[int] = mapped_column(ForeignKey(Owner.id))
    owner: Mapped[Owner] = relationship()


class Sticker(_Base):
    __tablename__ = "test_rel_sticker"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey(Owner.id, ondelete="CASCADE"))


class Leash(_Base):
    __tablename__ = "test_rel_leash"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey(Owner.id))
    owner: Mapped[Owner] = relationship(back_populates="leashes")


class ToySchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Toy


class ToyByRelationshipSchema(AutoSchema):
    """The toy's owner as a relationship field (``include_relationships``), the key of the owner."""

    class Meta(AutoSchema.Meta):
        model = Toy
        include_fk = False
        include_relationships = True


class OwnerSchema(AutoSchema):
    first_toy = ma.fields.Nested(ToySchema(exclude=("owner_id",)), dump_only=True)

    class Meta(AutoSchema.Meta):
        model = Owner


class OwnerRefSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Owner


class ToyWithOwnerSchema(AutoSchema):
    owner = ma.fields.Nested(OwnerRefSchema, dump_only=True)

    class Meta(AutoSchema.Meta):
        model = Toy


class LeashRefSchema(AutoSchema):
    class Meta(AutoSchema.Meta):
        model = Leash


class OwnerWithLeashesSchema(AutoSchema):
    leashes = ma.fields.Nested(LeashRefSchema, many=True, dump_only=True)

    class Meta(AutoSchema.Meta):
        model = Owner


BLP = Blueprint("Relations", __name__, url_prefix="/", description="Owners and what refers to them.")


@BLP.route("owners/")
class Owners(MethodView):
    @BLP.arguments(OwnerSchema)
    @BLP.response(201, OwnerSchema)
    def post(self, data: dict[str, Any]) -> Any:
        return store(Owner(**data))


@BLP.route("owners/<int:owner_id>")
class OwnerById(MethodView):
    @BLP.response(204)
    def delete(self, owner_id: int) -> None:
        DB.session.delete(DB.get_or_404(Owner, owner_id))
        DB.session.commit()


@BLP.route("toys/")
class Toys(MethodView):
    @BLP.arguments(ToySchema)
    @BLP.response(201, ToySchema)
    def post(self, data: dict[str, Any]) -> Any:
        return store(Toy(**data))


@BLP.route("toys/<int:toy_id>")
class ToyById(MethodView):
    @BLP.arguments(ToySchema(partial=True))
    @BLP.response(200, ToySchema)
    def patch(self, data: dict[str, Any], toy_id: int) -> Any:
        toy = DB.get_or_404(Toy, toy_id)
        ToySchema().merge(toy, data)
        DB.session.commit()
        return toy


@BLP.route("toys/<int:toy_id>/with-owner")
class ToyWithOwner(MethodView):
    @BLP.arguments(ToySchema(partial=True))
    @BLP.response(200, ToyWithOwnerSchema)
    def patch(self, data: dict[str, Any], toy_id: int) -> Any:
        toy = DB.get_or_404(Toy, toy_id)
        assert toy.owner.name  # a rule that reads the owner before the change loads the relationship
        ToySchema().merge(toy, data)
        DB.session.commit()
        return toy


@BLP.route("owners/<int:owner_id>/leashes")
class OwnerLeashes(MethodView):
    @BLP.response(201, OwnerWithLeashesSchema)
    def post(self, owner_id: int) -> Any:
        owner = DB.get_or_404(Owner, owner_id)
        assert len(owner.leashes) < 10  # a rule that reads the collection before the change loads it
        DB.session.add(Leash(owner_id=owner_id))
        DB.session.commit()
        return owner


@BLP.route("toys-by-relationship/")
class ToysByRelationship(MethodView):
    @BLP.arguments(ToyByRelationshipSchema)
    @BLP.response(201, ToyByRelationshipSchema)
    def post(self, data: dict[str, Any]) -> Any:
        return store(Toy(**data))


@BLP.route("stickers/")
class Stickers(MethodView):
    def post(self) -> Any:
        owner_id = request.get_json()["owner_id"]
        return {"id": store(Sticker(owner_id=owner_id)).id}, 201


@BLP.route("leashes/")
class Leashes(MethodView):
    def post(self) -> Any:
        owner_id = request.get_json()["owner_id"]
        return {"id": store(Leash(owner_id=owner_id)).id}, 201


@pytest.fixture
def relations_app(database_uri: str) -> Iterator[Flask]:
    with blueprint_app(BLP, _Base.metadata, database_uri) as app:
        yield app


@pytest.fixture
def client(relations_app: Flask) -> FlaskClient:
    return relations_app.test_client()


@pytest.fixture
def count(relations_app: Flask) -> Callable[[type[_Base]], int]:
    def rows(model: type[_Base]) -> int:
        with relations_app.app_context():
            return DB.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0

    return rows


def _conflict(response: TestResponse, backend: str, postgresql: str) -> None:
    """A 409 whose message is PostgreSQL's precise one, or SQLite's, which cannot tell which way a reference broke."""
    sqlite = "it refers to an item that does not exist, or other items still refer to the one it changes."
    body = json_body(response)
    assert response.status_code == 409, body
    expected = postgresql if backend == "postgresql" else sqlite
    assert body["message"] == f"The request conflicts with the stored data: {expected}"


def _owner(client: FlaskClient, name: str = "Ann") -> int:
    response = client.post("/owners/", json={"name": name})
    assert response.status_code == 201, response.json
    owner_id: int = json_body(response)["id"]
    return owner_id


def test_an_item_referring_to_a_missing_one_is_409_and_not_stored(
    client: FlaskClient, count: Callable[[type[_Base]], int], ligand_database_backend: str
) -> None:
    """SQLite enforces foreign keys as PostgreSQL does: a toy of a missing owner is refused, by POST and by PATCH."""
    _conflict(
        client.post("/toys/", json={"name": "Ball", "owner_id": 999}),
        ligand_database_backend,
        "owner_id refers to an item that does not exist.",
    )
    assert count(Toy) == 0

    toy = json_body(client.post("/toys/", json={"name": "Ball", "owner_id": _owner(client)}))
    _conflict(
        client.patch(f"/toys/{toy['id']}", json={"owner_id": 999}),
        ligand_database_backend,
        "owner_id refers to an item that does not exist.",
    )


def test_deleting_an_item_others_refer_to_is_409_and_keeps_it(
    client: FlaskClient, count: Callable[[type[_Base]], int], ligand_database_backend: str
) -> None:
    """Without ``ON DELETE``, an owner whose toys refer to them stays, and the client is told why."""
    owner_id = _owner(client)
    assert client.post("/toys/", json={"name": "Ball", "owner_id": owner_id}).status_code == 201

    _conflict(client.delete(f"/owners/{owner_id}"), ligand_database_backend, "other items still refer to this one.")
    assert (count(Owner), count(Toy)) == (1, 1)


def test_on_delete_cascade_applies_on_both_databases(client: FlaskClient, count: Callable[[type[_Base]], int]) -> None:
    """``ON DELETE CASCADE`` deletes the referring rows on SQLite too, rather than leaving them pointing nowhere."""
    owner_id = _owner(client)
    assert client.post("/stickers/", json={"owner_id": owner_id}).status_code == 201

    assert client.delete(f"/owners/{owner_id}").status_code == 204
    assert (count(Owner), count(Sticker)) == (0, 0)


def test_a_required_column_the_orm_empties_is_409_naming_it(
    client: FlaskClient, count: Callable[[type[_Base]], int]
) -> None:
    """Deleting an owner whose leashes the ORM unlinks (``owner_id`` set to NULL) names the column it cannot empty."""
    owner_id = _owner(client)
    assert client.post("/leashes/", json={"owner_id": owner_id}).status_code == 201

    response = client.delete(f"/owners/{owner_id}")

    assert response.status_code == 409
    assert json_body(response)["message"] == "The request conflicts with the stored data: owner_id cannot be empty."
    assert (count(Owner), count(Leash)) == (1, 1)


def test_a_relationship_field_takes_the_related_key(client: FlaskClient, count: Callable[[type[_Base]], int]) -> None:
    """With ``include_relationships``, ``owner`` is the owner's id: loaded through the session, 422 when unknown."""
    owner_id = _owner(client)

    created = client.post("/toys-by-relationship/", json={"name": "Rope", "owner": owner_id})
    unknown = client.post("/toys-by-relationship/", json={"name": "Rope", "owner": 999})

    assert created.status_code == 201, created.json
    assert json_body(created)["owner"] == owner_id
    assert unknown.status_code == 422
    assert list(json_body(unknown)["errors"]["json"]) == ["owner"]
    for bad in ({"bogus": 1}, {"id": "abc"}, "abc", [owner_id]):
        response = client.post("/toys-by-relationship/", json={"name": "Rope", "owner": bad})
        assert response.status_code == 422, (bad, response.json)
        assert list(json_body(response)["errors"]["json"]) == ["owner"]
    assert client.post("/toys-by-relationship/", json={"name": "Ball", "owner": {"id": owner_id}}).status_code == 201
    assert count(Toy) == 2


def test_spec_names_each_schema_once_and_types_relationships(client: FlaskClient) -> None:
    """A narrowed nested schema has a name of its own saying how it is narrowed, so the whole schema keeps its name
    (``Toy``, not ``Toy1``) whichever apispec met first; a relationship field is documented as its key's type."""
    spec = json_body(client.get("/openapi/api-spec.json"))
    schemas = spec["components"]["schemas"]

    assert {"Toy", "ToyWithoutOwnerId", "Owner", "ToyByRelationship"} <= set(schemas)
    assert not any(name.rstrip("0123456789") != name for name in schemas)
    toys = spec["paths"]["/toys/"]["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    assert toys == {"$ref": "#/components/schemas/Toy"}
    assert schemas["Owner"]["properties"]["first_toy"]["allOf"] == [{"$ref": "#/components/schemas/ToyWithoutOwnerId"}]
    assert set(schemas["ToyWithoutOwnerId"]["properties"]) == {"id", "name"}
    assert schemas["ToyByRelationship"]["properties"]["owner"]["type"] == "integer"


def test_spec_of_a_schema_nesting_a_narrowed_copy_of_itself(database_uri: str) -> None:
    """A tree whose nodes nest their children without the parent link: the spec names the narrowed copy."""

    class NodeSchema(Schema):
        name = ma.fields.String()
        children = ma.fields.List(ma.fields.Nested(lambda: NodeSchema(exclude=("parent",))))
        parent = ma.fields.Nested(lambda: NodeSchema(only=("name",)))

    tree = Blueprint("Tree", __name__, url_prefix="/tree", description="A tree.")

    @tree.route("/")
    class Tree(MethodView):
        @tree.response(200, NodeSchema)
        def get(self) -> Any:
            return {"name": "root", "children": [{"name": "leaf"}]}

    app, api = flask_ligand.create_app(__name__, "testing", "Tree", "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri)
    api.register_blueprint(tree)
    client = app.test_client()

    schemas = json_body(client.get("/openapi/api-spec.json"))["components"]["schemas"]

    assert {"Node", "NodeWithoutParent", "NodeOnlyName"} <= set(schemas)
    assert json_body(client.get("/tree/")) == {"name": "root", "children": [{"name": "leaf"}]}


def test_a_response_nests_the_relations_its_write_made(client: FlaskClient) -> None:
    """Relationships loaded before a write are read again after its commit: moving a toy by ``owner_id`` answers
    the new owner, and a leash added by ``owner_id`` is in its owner's list."""
    ann, bob = _owner(client, "Ann"), _owner(client, "Bob")
    toy = json_body(client.post("/toys/", json={"name": "Ball", "owner_id": ann}))

    moved = client.patch(f"/toys/{toy['id']}/with-owner", json={"owner_id": bob})
    first = client.post(f"/owners/{ann}/leashes")
    second = client.post(f"/owners/{ann}/leashes")

    assert moved.status_code == 200, moved.json
    assert json_body(moved)["owner_id"] == json_body(moved)["owner"]["id"] == bob
    assert json_body(moved)["owner"]["name"] == "Bob"
    assert len(json_body(first)["leashes"]) == 1
    assert len(json_body(second)["leashes"]) == 2


def test_a_commit_reloads_no_relationship_its_write_did_not_touch(relations_app: Flask, client: FlaskClient) -> None:
    """Renaming owners whose leashes were loaded up front reads none of them again: no query per owner after commit."""
    for name in ("Ann", "Bob", "Cid"):
        owner_id = _owner(client, name)
        assert client.post("/leashes/", json={"owner_id": owner_id}).status_code == 201
    statements: list[str] = []
    with relations_app.app_context():
        owners = DB.session.scalars(sa.select(Owner).options(selectinload(Owner.leashes))).all()
        for owner in owners:
            owner.name += " Jr"
        DB.session.commit()
        sa.event.listen(DB.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

        counts = [len(owner.leashes) for owner in owners]

    assert counts == [1, 1, 1]
    assert statements == []
