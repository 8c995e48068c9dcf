"""A list paged by keyset only, in an order the client picks from an allow-list (``?sort=-name,created_at``)."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy import Select, select

from example_petstore.models import Pet
from example_petstore.schemas import PetSchema
from flask_ligand import Blueprint, KeysetPage, abort

#: The orders a client may ask for: ``name`` ascending, ``-name`` descending...
SORTS: dict[str, Any] = {
    "name": Pet.name,
    "-name": Pet.name.desc(),
    "created_at": Pet.created_at,
    "-created_at": Pet.created_at.desc(),
}

BLP = Blueprint("KeysetPets", __name__, url_prefix="/keyset", description="Pets, page after page.")


@BLP.route("/pets")
@BLP.response(200, PetSchema(many=True))
@BLP.paginate(KeysetPage)
def list_pets() -> Select[tuple[Pet]]:
    """List pets by name (or ``sort``), 10 per page; follow the ``next`` link of the ``Link`` header."""
    terms = request.args.get("sort", "name").split(",")
    unknown = [term for term in terms if term not in SORTS]
    if unknown:
        abort(422, f"Cannot sort by {', '.join(unknown)}: use {', '.join(SORTS)}.", errors={"query": {"sort": unknown}})
    # The primary key is appended by the pager: pets with the same name still come in a fixed order.
    return select(Pet).order_by(*(SORTS[term] for term in terms))
