"""Schemas of the petstore's bodies and query arguments, generated from the model."""

from __future__ import annotations

from marshmallow.validate import Length
from marshmallow_sqlalchemy import auto_field

from example_petstore.models import NAME_MAX_LENGTH, Pet
from flask_ligand.extensions.api import AutoSchema
from flask_ligand.filtering import FilterSchema

NAME_VALIDATOR = Length(min=1, max=NAME_MAX_LENGTH)
DESCRIPTION_VALIDATOR = Length(max=4096)


class PetSchema(AutoSchema):
    """A pet, as read and written through the API."""

    class Meta(AutoSchema.Meta):
        model = Pet

    id = auto_field(dump_only=True)
    name = auto_field(required=True, validate=NAME_VALIDATOR)
    description = auto_field(load_default="", validate=DESCRIPTION_VALIDATOR)
    created_at = auto_field(dump_only=True)
    updated_at = auto_field(dump_only=True)


class PetQueryArgsSchema(FilterSchema):
    """Filters and sort of the pet list; ``?name=Rex`` and ``?description=...`` match exactly, as they always did."""

    class Meta(FilterSchema.Meta):
        schema = PetSchema
        filters = {
            "name": ("exact", "in", "contains"),
            "description": ("exact", "contains"),
            "created_at": ("gte", "lte"),
            "updated_at": ("gte", "lte"),
        }
        sort = ("name", "created_at", "updated_at")
