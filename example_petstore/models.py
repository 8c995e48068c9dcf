"""The petstore's data model."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy_utils import UUIDType

from flask_ligand.extensions.database import DB, Versioned

NAME_MAX_LENGTH = 255


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Pet(Versioned, DB.Model):  # type: ignore[name-defined,misc]
    """A pet in the store; ``Versioned``, so concurrent writes to one pet cannot overwrite each other."""

    __tablename__ = "pet"

    id: Mapped[uuid.UUID] = mapped_column(UUIDType(binary=False), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow, onupdate=_utcnow)
