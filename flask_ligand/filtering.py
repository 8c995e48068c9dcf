"""Filtering and sorting of a list endpoint, declared on a query-arguments schema generated from the model's schema.

A :class:`FilterSchema` whose ``Meta`` names the model's schema, ``filters = {"name": ("exact", "in", "contains")}``
and ``sort = ("name", "created_at")`` is the schema of ``?name=Rex``, ``?name__in=Rex&name__in=Max``,
``?name__contains=re``, ``?created_at__gte=...`` and ``?sort=-created_at,name``: each filter parameter is a copy of
the model schema's field (same type, format and validators), so OpenAPI documents every parameter precisely and
generated clients expose them. Loading it gives a :class:`ListArguments`, whose ``apply`` narrows and orders a
``Model.query`` or ``select()``; both pagers page the result in that order (the primary key breaks ties, and a keyset
cursor is only valid for the sort it was made in).

A query parameter that is neither a declared filter, ``sort``, nor an argument of the endpoint's pager or of its other
query schemas is a 422 naming it, rather than being silently ignored (which returns everything).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import marshmallow as ma
from flask import current_app, has_request_context, request
from sqlalchemy import Select, inspect, or_
from sqlalchemy.sql.elements import ColumnElement

from flask_ligand.schemas import UTCDateTime

#: The filter operators: ``exact`` is the field's own name, the others a ``__<operator>`` suffix (``name__in``).
FilterOperator = Literal["exact", "in", "gte", "lte", "contains"]
FILTER_OPERATORS: tuple[FilterOperator, ...] = ("exact", "in", "gte", "lte", "contains")
#: The query parameter holding the sort.
SORT_PARAMETER = "sort"

#: Values an ``__in`` filter takes: PostgreSQL binds at most 65 535 parameters in a statement, and an answer for more
#: would be a database error rather than a 422.
IN_MAX_VALUES = 1000
#: Characters of a ``__contains`` text (SQLite refuses patterns over 50 000 bytes), or fewer when the field's own
#: maximum length is lower (a ``String(255)`` column): longer text can be in no value.
CONTAINS_MAX_CHARS = 1000

_UNKNOWN_PARAMETER = "Unknown query parameter."
_DESCRIPTIONS = {
    "exact": "Only items whose `{name}` equals this value.",
    "in": "Only items whose `{name}` is one of these values (repeat the parameter for each).",
    "gte": "Only items whose `{name}` is greater than or equal to this value.",
    "lte": "Only items whose `{name}` is less than or equal to this value.",
    "contains": "Only items whose `{name}` contains this text, ignoring case.",
}


@dataclass(frozen=True)
class FilterParameter:
    """A query parameter filtering on a column: ``created_at__gte`` is ``created_at`` with ``gte``."""

    name: str
    attribute: str
    operator: FilterOperator
    #: The field writes whole seconds (``UTCDateTime``): a bound without a fraction stands for its whole second.
    whole_seconds: bool = False


@dataclass
class ListArguments:
    """The loaded filters and sort of a list request; ``apply`` them to the query the view returns."""

    conditions: list[ColumnElement[bool]] = field(default_factory=list)
    order_by: list[ColumnElement[Any]] = field(default_factory=list)

    def apply(self, query: Any) -> Any:
        """Narrow ``query`` (a ``Model.query`` or a ``select()``) by the filters and order it by the sort."""
        if self.conditions:
            query = query.where(*self.conditions) if isinstance(query, Select) else query.filter(*self.conditions)
        if self.order_by:
            query = query.order_by(*self.order_by)
        return query


class SortField(ma.fields.String):
    """``sort=-created_at,name``: comma-separated field names from an allow-list, ``-`` for descending."""

    def __init__(self, model: Any, allowed: Iterable[str], **kwargs: Any) -> None:
        self.model = model
        self.allowed = tuple(allowed)
        names = "|".join(self.allowed)
        kwargs.setdefault("metadata", {})
        example = ",".join(f"-{name}" if index == 0 else name for index, name in enumerate(self.allowed[:2]))
        kwargs["metadata"] = {
            # The example is in the text, not an "example": Swagger UI would fill it in and send it with every try.
            "description": "The order of the items: comma-separated field names, each prefixed by `-` for descending "
            f"order; the first one sorts first, e.g. `{example}`. Fields: "
            f"{', '.join(f'`{name}`' for name in self.allowed)}.",
            "pattern": f"^-?({names})(,-?({names}))*$",
            **kwargs["metadata"],
        }
        super().__init__(**kwargs)

    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> list[ColumnElement[Any]]:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        order: list[ColumnElement[Any]] = []
        seen: set[str] = set()
        for term in text.split(","):
            name = term.strip().removeprefix("-")
            if name not in self.allowed:
                raise ma.ValidationError(
                    f"Cannot sort by '{name}': use comma-separated names from {', '.join(self.allowed)}, "
                    "each prefixed by '-' for descending order."
                )
            if name in seen:
                raise ma.ValidationError(f"'{name}' appears twice in the sort.")
            seen.add(name)
            column = getattr(self.model, name)
            order.append(column.desc() if term.strip().startswith("-") else column.asc())
        return order


class FilterSchemaOpts(ma.SchemaOpts):
    """``FilterSchema``'s ``Meta``: ``schema``, ``filters`` and ``sort`` generate the query parameters."""

    def __init__(self, meta: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(meta, *args, **kwargs)
        schema: type[ma.Schema] | None = getattr(meta, "schema", None)
        filters: Mapping[str, Iterable[FilterOperator]] = getattr(meta, "filters", {})
        sort: tuple[str, ...] = tuple(getattr(meta, "sort", ()))
        self.model: Any = None
        self.filter_parameters: list[FilterParameter] = []
        if schema is None:
            if filters or sort:
                raise TypeError("A FilterSchema's Meta needs `schema`, the model's AutoSchema, to filter or sort.")
            return
        self.model = schema.opts.model
        self.include = {**self.include, **self._generate_fields(schema, filters, sort)}

    def _generate_fields(
        self, schema: type[ma.Schema], filters: Mapping[str, Iterable[FilterOperator]], sort: tuple[str, ...]
    ) -> dict[str, ma.fields.Field[Any]]:
        columns = set(inspect(self.model).columns.keys())
        model_fields = schema().fields
        generated: dict[str, ma.fields.Field[Any]] = {}
        for field_name, operators in filters.items():
            source = model_fields.get(field_name)
            attribute = (source.attribute if source is not None else None) or field_name
            if source is None or attribute not in columns:
                raise TypeError(
                    f"Cannot filter on '{field_name}': it is not a field of {schema.__name__} from a column."
                )
            for operator in operators:
                if operator not in FILTER_OPERATORS:
                    raise TypeError(f"Unknown filter operator '{operator}': use one of {', '.join(FILTER_OPERATORS)}.")
                parameter = field_name if operator == "exact" else f"{field_name}__{operator}"
                generated[parameter] = _filter_field(source, operator, _DESCRIPTIONS[operator].format(name=field_name))
                self.filter_parameters.append(
                    FilterParameter(parameter, attribute, operator, isinstance(source, UTCDateTime))
                )
        for sort_name in sort:
            if sort_name not in columns:
                raise TypeError(f"Cannot sort on '{sort_name}': it is not a column of {self.model.__name__}.")
        if sort:
            generated[SORT_PARAMETER] = SortField(self.model, sort)
        return generated


class FilterSchema(ma.Schema):
    """The query arguments of a list endpoint, generated from the model's schema; loads a :class:`ListArguments`.

    Declare in ``Meta``:

    - ``schema``: the model's ``AutoSchema``; each filter parameter is a copy of its field (type, validators);
    - ``filters``: the filterable fields and their operators: ``exact`` (``?name=Rex``), ``in``
      (``?name__in=Rex&name__in=Max``), ``gte``/``lte`` (``?created_at__gte=2024-01-01T00:00:00Z``) and
      ``contains`` (``?name__contains=re``, case-insensitive, for text fields);
    - ``sort``: the fields ``sort`` may name (``?sort=-created_at,name``); none means no ``sort`` parameter.

    Fields declared on the class itself are allowed too and left for the view. A filter or sort field that is not a
    column of the model, or an unknown operator, is a ``TypeError`` when the class is made.
    """

    OPTIONS_CLASS = FilterSchemaOpts
    opts: FilterSchemaOpts

    class Meta:
        unknown = ma.EXCLUDE

    @ma.pre_load
    def refuse_unknown_parameters(self, data: Any, **_: Any) -> Any:
        """Reject query parameters the endpoint does not know, naming them (422)."""
        known = {schema_field.data_key or name for name, schema_field in self.fields.items()}
        known |= _other_query_parameters(self)
        unknown = sorted(key for key in data if key not in known)
        if unknown:
            raise ma.ValidationError(dict.fromkeys(unknown, [_UNKNOWN_PARAMETER]))
        return data

    @ma.post_load
    def make_list_arguments(self, data: dict[str, Any], **_: Any) -> ListArguments:
        """Turn the loaded filters and sort into :class:`ListArguments`."""
        arguments = ListArguments(order_by=data.get(SORT_PARAMETER) or [])
        for parameter in self.opts.filter_parameters:
            if parameter.name in data:
                column = getattr(self.opts.model, parameter.attribute)
                arguments.conditions.append(_condition(column, parameter, data[parameter.name]))
        return arguments


def _filter_field(source: ma.fields.Field[Any], operator: FilterOperator, description: str) -> ma.fields.Field[Any]:
    if operator == "contains":
        bounds = [rule.max for rule in source.validators if isinstance(rule, ma.validate.Length) and rule.max]
        length = ma.validate.Length(
            min=1, max=min([*bounds, CONTAINS_MAX_CHARS]), error="Give between {min} and {max} characters."
        )
        return ma.fields.String(validate=length, metadata={"description": description})
    copied = copy.deepcopy(source)
    copied.required = False
    copied.load_default = ma.missing
    copied.dump_only = copied.load_only = False
    copied.allow_none = False
    copied.attribute = copied.data_key = None
    copied.metadata = {key: value for key, value in copied.metadata.items() if key != "description"}
    if operator == "in":
        values = ma.validate.Length(min=1, max=IN_MAX_VALUES, error="Give between {min} and {max} values.")
        return ma.fields.List(copied, validate=values, metadata={"description": description})
    copied.metadata["description"] = description
    return copied


def _condition(column: Any, parameter: FilterParameter, value: Any) -> ColumnElement[bool]:
    operator = parameter.operator
    if parameter.whole_seconds and operator in ("exact", "in", "lte"):
        return _within_seconds(column, operator, value)
    if operator == "in":
        condition: ColumnElement[bool] = column.in_(value)
    elif operator == "gte":
        condition = column >= value
    elif operator == "lte":
        condition = column <= value
    elif operator == "contains":
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        condition = column.ilike(f"%{escaped}%", escape="\\")
    else:
        condition = column == value
    return condition


def _within_seconds(column: Any, operator: FilterOperator, value: Any) -> ColumnElement[bool]:
    """A bound on a datetime the API writes to the second: ``2024-01-01T10:00:05Z`` is all of that second.

    The stored value may have microseconds the client never saw: ``created_at__lte`` and ``created_at=`` with the
    ``created_at`` a response gave must find that item. A bound with a fraction other than zero is taken exactly.
    """
    values: list[dt.datetime] = value if operator == "in" else [value]
    ranges = []
    for bound in values:
        last = bound if bound.microsecond else bound.replace(microsecond=999_999)
        ranges.append(column <= last if operator == "lte" else column.between(bound, last))
    return ranges[0] if len(ranges) == 1 else or_(*ranges)


def _other_query_parameters(schema: ma.Schema) -> set[str]:
    """The query parameters of the current endpoint's pager and other query schemas, which ``schema`` must allow."""
    if not has_request_context() or request.endpoint is None:
        return set()
    view = current_app.view_functions.get(request.endpoint)
    view_class = getattr(view, "view_class", None)
    function = view
    if view_class is not None:
        method = request.method.lower()
        function = getattr(view_class, method, None)
        if function is None and method == "head":  # as MethodView does: HEAD runs the GET view
            function = getattr(view_class, "get", None)
    apidoc: dict[str, Any] = getattr(function, "_apidoc", {}) or {}
    schemas = [
        argument["schema"]
        for argument in apidoc.get("arguments", {}).get("parameters", [])
        if argument.get("location") == "query"
    ]
    pagination = apidoc.get("pagination")
    if pagination:
        schemas.append(pagination["parameters"]["schema"])
    names: set[str] = set()
    for other in schemas:
        if other is schema or other is type(schema) or type(other) is type(schema):
            continue
        instance = other() if isinstance(other, type) else other
        names |= {schema_field.data_key or name for name, schema_field in instance.fields.items()}
    return names
