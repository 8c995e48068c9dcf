"""The petstore's data model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy_utils import UUIDType

from flask_ligand.extensions.database import DB, Versioned

NAME_MAX_LENGTH = 255


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pet(Versioned, DB.Model):  # type: ignore[name-defined,misc]
    """A pet in the store; ``Versioned``, so concurrent writes to one pet cannot overwrite each other."""

    __tablename__ = "pet"
    # One index per sort the list allows, ending with the primary key that breaks ties: a page, numbered or by
    # cursor, then reads its rows from the index, however deep it is (docs/pagination.md).
    __table_args__ = (
        Index("ix_pet_name_id", "name", "id"),
        Index("ix_pet_created_at_id", "created_at", "id"),
        Index("ix_pet_updated_at_id", "updated_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDType(binary=False), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)
