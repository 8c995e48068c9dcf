"""Base schemas: plain ``Schema`` for query arguments and ``AutoSchema`` generated from a model."""

from __future__ import annotations

import datetime as dt
from typing import Any

import marshmallow as ma
from marshmallow_sqlalchemy import ModelConverter, SQLAlchemyAutoSchema
from sqlalchemy import types as sa_types

#: The datetime format of every response: ISO 8601 / RFC 3339 in UTC, to the second.
ISO_8601_DATETIME_FMT = "%Y-%m-%dT%H:%M:%SZ"


class UTCDateTime(ma.fields.DateTime):
    """A datetime rendered as ``YYYY-MM-DDTHH:MM:SSZ`` and loaded from any ISO 8601 string into aware UTC.

    Naive datetimes (SQLite returns them) are taken to be UTC already.
    """

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime(ISO_8601_DATETIME_FMT)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        parsed: dt.datetime = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC)


class Schema(ma.Schema):
    """A schema that ignores unknown fields, for query arguments and hand-written bodies."""

    class Meta:
        unknown = ma.EXCLUDE


class _LigandModelConverter(ModelConverter):
    SQLA_TYPE_MAPPING = {**ModelConverter.SQLA_TYPE_MAPPING, sa_types.DateTime: UTCDateTime}


class AutoSchema(SQLAlchemyAutoSchema):  # type: ignore[type-arg]
    """A schema generated from a SQLAlchemy model.

    Foreign keys are included, unknown fields are rejected (a 422), fields keep the model's order, datetimes are
    ISO 8601 in UTC and ``None`` values are left out of responses.
    """

    class Meta:
        include_fk = True
        unknown = ma.RAISE
        model_converter = _LigandModelConverter

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Typed only so that strict mypy accepts ``PetSchema()`` in users' code.
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def update(self, obj: Any, data: dict[str, Any]) -> None:
        """Replace ``obj``'s loadable fields with ``data`` (``PUT`` semantics).

        A field missing from ``data`` takes its declared ``load_default``, or ``None``.
        """
        for name, schema_field in self.load_fields.items():
            attribute = schema_field.attribute or name
            if name in data or attribute in data:
                value = data.get(attribute, data.get(name))
            else:
                default = schema_field.load_default
                value = None if default is ma.missing else (default() if callable(default) else default)
            setattr(obj, attribute, value)

    @ma.post_dump
    def remove_none_values(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}
