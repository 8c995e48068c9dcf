"""The ``/pets/`` endpoints."""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from flask import url_for
from flask.views import MethodView

from example_petstore.models import Pet
from example_petstore.schemas import PetQueryArgsSchema, PetSchema
from flask_ligand.extensions.api import Blueprint, SQLCursorPage
from flask_ligand.extensions.database import DB
from flask_ligand.extensions.jwt import abort, jwt_role_required
from flask_ligand.filtering import ListArguments
from flask_ligand.views.common.openapi_doc import BEARER_AUTH

if TYPE_CHECKING:
    from uuid import UUID

INVALID_PET_ID = "The specified pet ID does not exist or has an invalid format!"

BLP = Blueprint("Pets", __name__, url_prefix="/pets", description="Information about all the pets you love!")


def _we_love_pets(description: str) -> None:
    """Reject a description that expresses hatred: the store's one business rule.

    Raises:
        werkzeug.exceptions.BadRequest: The description contains "hate".
    """
    if "hate" in description.lower():
        abort(HTTPStatus.BAD_REQUEST, "No pet hatred allowed!")


@BLP.route("/")
@BLP.etag
class Pets(MethodView):
    @BLP.arguments(PetQueryArgsSchema, location="query")
    @BLP.response(200, PetSchema(many=True))
    @BLP.paginate(SQLCursorPage, keyset=True)
    def get(self, args: ListArguments) -> Any:
        """List pets, filtered and sorted.

        Filters: exact `name` and `description`, `name__in`, `name__contains`, and dates with `__gte`/`__lte`.
        Sorting: `sort=-created_at,name`. Pages by number (`page`, `page_size`, `X-Pagination`), or by cursor:
        follow the `next`/`prev` links of the `Link` header, whose cost does not grow with depth and which neither
        repeats nor skips a pet when others are added or removed meanwhile.
        """
        return args.apply(DB.select(Pet))

    @BLP.arguments(PetSchema)
    @BLP.response(
        201, PetSchema, headers={"Location": {"description": "The new pet's URL", "schema": {"type": "string"}}}
    )
    @BLP.doc(security=BEARER_AUTH)
    @jwt_role_required(role="user")
    def post(self, new_item: dict[str, Any]) -> Any:
        """Add a new pet (role: user)."""
        _we_love_pets(new_item["description"])
        item = Pet(**new_item)
        DB.session.add(item)
        DB.session.commit()
        return item, {"Location": url_for("Pets.PetsById", item_id=item.id)}


@BLP.route("/<uuid:item_id>")
@BLP.etag
class PetsById(MethodView):
    @BLP.response(200, PetSchema)
    def get(self, item_id: UUID) -> Pet:
        """Get a pet by id."""
        item: Pet = DB.get_or_404(Pet, item_id, description=INVALID_PET_ID)
        return item

    @BLP.arguments(PetSchema)
    @BLP.response(200, PetSchema)
    @BLP.doc(security=BEARER_AUTH)
    @jwt_role_required(role="user")
    def put(self, new_item: dict[str, Any], item_id: UUID) -> Pet:
        """Replace a pet (role: user); send the ETag from a GET in If-Match."""
        item: Pet = DB.get_or_404(Pet, item_id, description=INVALID_PET_ID)
        BLP.check_etag(item, PetSchema)
        _we_love_pets(new_item["description"])
        PetSchema().update(item, new_item)
        DB.session.commit()
        return item

    @BLP.merge_patch_arguments(PetSchema)
    @BLP.response(200, PetSchema)
    @BLP.doc(security=BEARER_AUTH)
    @jwt_role_required(role="user")
    def patch(self, patch: dict[str, Any], item_id: UUID) -> Pet:
        """Change some fields of a pet (role: user): send only those, as a JSON Merge Patch, with If-Match."""
        item: Pet = DB.get_or_404(Pet, item_id, description=INVALID_PET_ID)
        BLP.check_etag(item, PetSchema)
        if "description" in patch:
            _we_love_pets(patch["description"])
        PetSchema().merge(item, patch)
        DB.session.commit()
        return item

    @BLP.response(204)
    @BLP.doc(security=BEARER_AUTH)
    @jwt_role_required(role="admin")
    def delete(self, item_id: UUID) -> None:
        """Delete a pet (role: admin); send the ETag from a GET in If-Match."""
        item: Pet = DB.get_or_404(Pet, item_id, description=INVALID_PET_ID)
        BLP.check_etag(item, PetSchema)
        DB.session.delete(item)
        DB.session.commit()
