"""Base schemas: plain ``Schema`` for query arguments and ``AutoSchema`` generated from a model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import cached_property
from typing import Any

import marshmallow as ma
from marshmallow_sqlalchemy import ModelConverter, SQLAlchemyAutoSchema
from marshmallow_sqlalchemy.fields import Related
from sqlalchemy import inspect
from sqlalchemy import types as sa_types

from flask_ligand.converting import SQLALCHEMY_UTILS_FIELDS
from flask_ligand.extensions.database import DB, Versioned

#: The datetime format of every response: ISO 8601 / RFC 3339 in UTC, to the second.
ISO_8601_DATETIME_FMT = "%Y-%m-%dT%H:%M:%SZ"
#: How ``AutoSchema`` dumps: ``(key, field name, attribute, field)`` per dump field.
_DumpPlan = tuple[tuple[str, str, str, "ma.fields.Field[Any]"], ...]


class UTCDateTime(ma.fields.DateTime):
    """A datetime rendered as ``YYYY-MM-DDTHH:MM:SSZ`` and loaded from any ISO 8601 string into aware UTC.

    Naive datetimes (SQLite returns them) are taken to be UTC already.
    """

    default_error_messages = {"utc_range": "Not a valid datetime: it is out of range once converted to UTC."}

    def _serialize(self, value: dt.datetime | None, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        # ISO_8601_DATETIME_FMT's shape; isoformat pads a year before 1000 to four digits, where strftime's %Y does not
        # on glibc ("1-01-01T00:00:00Z", which no ISO 8601 parser reads back).
        return value.isoformat(timespec="seconds") + "Z"

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dt.datetime:
        parsed: dt.datetime = super()._deserialize(value, attr, data, **kwargs)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=dt.UTC)
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:  # e.g. 0001-01-01T01:00:00+08:00 is in year 0 in UTC
            raise self.make_error("utc_range") from None


class Schema(ma.Schema):
    """A schema that ignores unknown fields, for query arguments and hand-written bodies."""

    class Meta:
        unknown = ma.EXCLUDE


class RelatedItem(Related):
    """A relationship field (``include_relationships``): the related item's key in, the stored item loaded.

    marshmallow-sqlalchemy's ``Related`` makes up a new item from a key no row has, which the commit then inserts
    (or fails on): here that is a 422, as a reference to a missing item is in Django REST framework. A key of the
    wrong type is a 422 too, rather than a query the database refuses.
    """

    default_error_messages = {"not_found": "No item has the key {value}."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        names = [key.key for key in self.related_keys]
        if isinstance(value, Mapping):  # {"id": 1}: the key's columns by name, and nothing else
            if sorted(value) != sorted(names):
                raise self.make_error("invalid", value=value, keys=names)
            if len(names) == 1:
                value = {names[0]: self._key_field.deserialize(value[names[0]])}
        elif len(names) == 1:
            value = self._key_field.deserialize(value)
        item = super()._deserialize(value, attr, data, **kwargs)  # type: ignore[no-untyped-call]
        if not self.transient and inspect(item).transient:  # made up, not loaded
            raise self.make_error("not_found", value=value)
        return item

    @cached_property
    def _key_field(self) -> ma.fields.Field[Any]:
        key_field = related_key_field(self)
        assert key_field is not None  # one related key: checked before use
        return key_field


def related_key_field(field: Related) -> ma.fields.Field[Any] | None:
    """The field of the single-column key a relationship field takes (``None`` for a composite key)."""
    if len(field.related_keys) != 1:
        return None
    key = field.related_keys[0]  # the related model's primary key property, or the column named in ``columns``
    key_field: ma.fields.Field[Any] = ModelConverter().column2field(key.columns[0] if hasattr(key, "columns") else key)
    return key_field


class _LigandModelConverter(ModelConverter):
    SQLA_TYPE_MAPPING = {**ModelConverter.SQLA_TYPE_MAPPING, **SQLALCHEMY_UTILS_FIELDS, sa_types.DateTime: UTCDateTime}

    def _get_field_class_for_property(self, prop: Any) -> Any:
        return RelatedItem if hasattr(prop, "direction") else super()._get_field_class_for_property(prop)

    def fields_for_model(self, model: Any, **kwargs: Any) -> Any:
        fields = super().fields_for_model(model, **kwargs)
        if isinstance(model, type) and issubclass(model, Versioned):
            # The version travels as the ETag; a client must never set it.
            fields.pop("version_id", None)
        return fields


class AutoSchema(SQLAlchemyAutoSchema):  # type: ignore[type-arg]
    """A schema generated from a SQLAlchemy model.

    Foreign keys are included, unknown fields are rejected (a 422), fields keep the model's order, datetimes are
    ISO 8601 in UTC and ``None`` values are left out of responses. With ``include_relationships``, a relationship
    is the related item's primary key, loaded through ``DB.session``: an unknown key is a 422.
    """

    class Meta:
        include_fk = True
        unknown = ma.RAISE
        model_converter = _LigandModelConverter
        sqla_session = DB.session

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Typed only so that strict mypy accepts ``PetSchema()`` in users' code.
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field[Any]) -> None:
        """A ``fields.DateTime()`` declared on the schema, without a format, is a :class:`UTCDateTime` too.

        Upstream's ``Meta.datetimeformat`` wrote every datetime of a schema, declared ones too, as
        ``YYYY-MM-DDTHH:MM:SSZ``; plain marshmallow would write a declared one with its offset, or none.
        """
        if type(field_obj) is ma.fields.DateTime and field_obj.format == ma.fields.DateTime.DEFAULT_FORMAT:
            field_obj.__class__ = UTCDateTime  # the same fields, another way to read and write them
            field_obj.error_messages = {**UTCDateTime.default_error_messages, **field_obj.error_messages}
        super().on_bind_field(field_name, field_obj)

    def _serialize(self, obj: Any, *, many: bool = False) -> Any:
        """marshmallow's ``_serialize``, with fewer calls per value for the common case (see ``_dump_plan``)."""
        plan = self._dump_plan
        if plan is None:
            return super()._serialize(obj, many=many)
        if many and obj is not None:
            return [self._serialize_one(plan, item) for item in obj]
        return self._serialize_one(plan, obj)

    @cached_property
    def _dump_plan(self) -> _DumpPlan | None:
        """The dump fields as ``(key, name, attribute, field)``, if each is read by marshmallow's default means.

        marshmallow reads a value through ``Field.serialize``, ``Field.get_value``, ``Schema.get_attribute`` and
        ``utils.get_value``: four calls per value, a fifth of dumping a page of items. When none of them is
        overridden, ``_serialize_one`` does what they do, directly; else (``None``) marshmallow does it.
        """
        plan: _DumpPlan = tuple(
            (field.data_key if field.data_key is not None else name, name, field.attribute or name, field)
            for name, field in self.dump_fields.items()
        )
        default_access = type(self).get_attribute is ma.Schema.get_attribute and all(
            type(field).serialize is ma.fields.Field.serialize
            and type(field).get_value is ma.fields.Field.get_value
            and field._CHECK_ATTRIBUTE
            and "." not in attribute
            for _, _, attribute, field in plan
        )
        return plan if default_access else None

    def _serialize_one(self, plan: _DumpPlan, obj: Any) -> Any:
        if hasattr(obj, "__getitem__"):  # a mapping or a row: marshmallow tries obj[key] before the attribute
            return super()._serialize(obj)
        result = self.dict_class()
        for key, name, attribute, field in plan:
            value = getattr(obj, attribute, ma.missing)
            if value is ma.missing:
                default = field.dump_default
                value = default() if callable(default) else default
                if value is ma.missing:
                    continue
            value = field._serialize(value, name, obj)
            if value is not ma.missing:
                result[key] = value
        return result

    def load(
        self, data: Any, *, session: Any = None, instance: Any = None, transient: bool = False, **kwargs: Any
    ) -> Any:
        """Validate and deserialise ``data``; into a model instance only with ``load_instance``.

        Without ``load_instance`` this is marshmallow's ``load``: marshmallow-sqlalchemy's own ``load`` would call
        ``importlib.metadata.version()`` on every call (~0.2 ms per request body) for nothing.
        """
        if self.opts.load_instance or session is not None or instance is not None or transient:
            return super().load(data, session=session, instance=instance, transient=transient, **kwargs)
        return ma.Schema.load(self, data, **kwargs)

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

    def merge(self, obj: Any, data: dict[str, Any]) -> None:
        """Set only the fields present in ``data`` on ``obj`` (``PATCH`` semantics, JSON Merge Patch).

        ``data`` is a patch loaded with the partial schema (see ``flask_ligand.patch``); the other fields keep
        their values.
        """
        for name, schema_field in self.load_fields.items():
            attribute = schema_field.attribute or name
            if attribute in data:
                setattr(obj, attribute, data[attribute])

    @ma.pre_load
    def drop_read_only_fields(self, data: Any, **_: Any) -> Any:
        """Ignore read-only (``dump_only``) fields in a body, so that a client can send back what it fetched.

        They are ``readOnly`` in OpenAPI; any other unknown field is still rejected.
        """
        if not isinstance(data, Mapping):
            return data
        read_only = {field.data_key or name for name, field in self.fields.items() if field.dump_only}
        return {key: value for key, value in data.items() if key not in read_only}

    @ma.post_dump
    def remove_none_values(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {key: value for key, value in data.items() if value is not None}


class OpenApiClientDownloadRespSchema(Schema):
    """Where to download a generated OpenAPI client of this service (upstream's contract)."""

    code = ma.fields.UUID(required=True, metadata={"description": "The client's code; the same for the same spec."})
    link = ma.fields.Url(
        required=True, schemes=("http", "https"), metadata={"description": "This service's download URL of the zip."}
    )


class OpenApiClientDownloadQueryArgsSchema(Schema):
    """Whether a generated OpenAPI client talks to the service's private or public URL."""

    use_private_url = ma.fields.Boolean(
        load_default=True,
        metadata={"description": "Bake SERVICE_PRIVATE_URL into the client (the default), else SERVICE_PUBLIC_URL."},
    )
