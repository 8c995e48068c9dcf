"""What a pet looks like in requests and responses, generated from the model."""

from __future__ import annotations

from marshmallow_sqlalchemy import auto_field

from flask_ligand import AutoSchema
from petstore.models import Pet


class PetSchema(AutoSchema):
    """A pet in JSON: the server sets ``id`` and ``created_at``; ``description`` may be left out."""

    class Meta(AutoSchema.Meta):
        model = Pet

    id = auto_field(dump_only=True)
    created_at = auto_field(dump_only=True)
    description = auto_field(load_default="")
