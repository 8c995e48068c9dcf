"""The ``/pets/`` endpoints: anyone reads, a ``user`` writes, an ``admin`` deletes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from flask import url_for
from flask.views import MethodView

from flask_ligand import DB, Blueprint, SQLCursorPage, jwt_role_required
from petstore.models import Pet
from petstore.schemas import PetSchema

BLP = Blueprint("Pets", __name__, url_prefix="/pets", description="The pets in the store.")


@BLP.route("/")
@BLP.etag
class Pets(MethodView):
    @BLP.response(200, PetSchema(many=True))
    @BLP.paginate(SQLCursorPage)
    def get(self) -> Any:
        """List the pets."""
        return DB.select(Pet).order_by(Pet.name)

    @BLP.arguments(PetSchema)
    @BLP.response(201, PetSchema)
    @jwt_role_required("user")
    def post(self, data: dict[str, Any]) -> Any:
        """Add a pet."""
        pet = Pet(**data)
        DB.session.add(pet)
        DB.session.commit()
        return pet, {"Location": url_for("Pets.PetById", pet_id=pet.id)}


@BLP.route("/<uuid:pet_id>")
@BLP.etag
class PetById(MethodView):
    @BLP.response(200, PetSchema)
    def get(self, pet_id: UUID) -> Pet:
        """Get a pet."""
        pet: Pet = DB.get_or_404(Pet, pet_id)
        return pet

    @BLP.arguments(PetSchema)
    @BLP.response(200, PetSchema)
    @jwt_role_required("user")
    def put(self, data: dict[str, Any], pet_id: UUID) -> Pet:
        """Replace a pet; send its ETag in If-Match."""
        pet: Pet = DB.get_or_404(Pet, pet_id)
        BLP.check_etag(pet)
        PetSchema().update(pet, data)
        DB.session.commit()
        return pet

    @BLP.response(204)
    @jwt_role_required("admin")
    def delete(self, pet_id: UUID) -> None:
        """Remove a pet; send its ETag in If-Match."""
        pet: Pet = DB.get_or_404(Pet, pet_id)
        BLP.check_etag(pet)
        DB.session.delete(pet)
        DB.session.commit()
