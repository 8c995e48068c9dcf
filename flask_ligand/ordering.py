"""The deterministic order of a paged query, and the rows after a given one in it: what both pagers page by.

A query is ordered by its own ``ORDER BY`` (the *declared sort*) then by its primary key, so rows with equal sort
values have one order and never repeat or go missing between pages. A keyset page starts :func:`after` the sort
values of a row; :func:`fingerprint` names a sort, so that a cursor made for one sort is refused by another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, false, inspect, or_, true, tuple_
from sqlalchemy.orm.exc import UnmappedColumnError
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression


@dataclass(frozen=True)
class SortKey:
    """One term of the sort: a model column, its direction and where its NULLs go."""

    expression: ColumnElement[Any]
    attribute: str
    descending: bool
    nulls_last: bool
    nullable: bool

    def order(self, reverse: bool = False) -> ColumnElement[Any]:
        clause = self.expression.desc() if self.descending != reverse else self.expression.asc()
        if not self.nullable:
            return clause
        return clause.nulls_last() if self.nulls_last != reverse else clause.nulls_first()

    def after(self, value: Any, reverse: bool) -> ColumnElement[bool]:
        nulls_last = self.nulls_last != reverse
        if value is None:
            return self.expression.is_not(None) if not nulls_last else false()
        after = self.expression < value if self.descending != reverse else self.expression > value
        return or_(after, self.expression.is_(None)) if self.nullable and nulls_last else after

    def equals(self, value: Any) -> ColumnElement[bool]:
        return self.expression.is_(None) if value is None else self.expression == value


def sort_keys(collection: Any) -> tuple[SortKey, ...] | None:
    """The declared sort of a one-model query then its primary key; ``None`` when it cannot be analysed."""
    descriptions = getattr(collection, "column_descriptions", None)
    entity = descriptions[0].get("entity") if descriptions and len(descriptions) == 1 else None
    mapper = inspect(entity, raiseerr=False) if entity is not None else None
    if mapper is None or not hasattr(mapper, "primary_key"):
        return None
    keys: list[SortKey] = []
    for clause in getattr(collection, "_order_by_clauses", ()):
        key = _sort_key(mapper, clause)
        if key is None:
            return None
        keys.append(key)
    seen = {(key.expression.table, key.expression.key) for key in keys}
    for column in mapper.primary_key:
        if (column.table, column.key) not in seen:
            key = _sort_key(mapper, column)
            if key is None:  # pragma: no cover - a mapped primary key is always a mapped column
                return None
            keys.append(key)
    return tuple(keys)


def _sort_key(mapper: Any, clause: Any) -> SortKey | None:
    descending, nulls_last = False, None
    while isinstance(clause, UnaryExpression) and clause.modifier is not None:
        if clause.modifier is operators.desc_op:
            descending = True
        elif clause.modifier in (operators.nulls_last_op, operators.nulls_first_op):
            nulls_last = clause.modifier is operators.nulls_last_op
        elif clause.modifier is not operators.asc_op:
            return None
        clause = clause.element
    try:
        attribute = mapper.get_property_by_column(clause).key
    except UnmappedColumnError:
        return None
    return SortKey(
        expression=clause,
        attribute=attribute,
        descending=descending,
        nulls_last=(not descending) if nulls_last is None else nulls_last,
        nullable=bool(getattr(clause, "nullable", True)),
    )


def ordered(collection: Any, keys: Sequence[SortKey] | None, reverse: bool = False) -> Any:
    if keys is None:
        return _with_primary_key_order(collection)
    return collection.order_by(None).order_by(*(key.order(reverse) for key in keys))


def _with_primary_key_order(collection: Any) -> Any:
    descriptions = getattr(collection, "column_descriptions", None)
    entity = descriptions[0].get("entity") if descriptions else None
    mapper = inspect(entity, raiseerr=False) if entity is not None else None
    if mapper is None or not hasattr(mapper, "primary_key"):
        return collection
    return collection.order_by(*mapper.primary_key)


def after(keys: Sequence[SortKey], values: list[Any], reverse: bool) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the sort order (before them when ``reverse``)."""
    if len(keys) == 1:
        return keys[0].after(values[0], reverse)
    if None not in values and not any(key.nullable for key in keys) and len({key.descending for key in keys}) == 1:
        # One row-value comparison lets the database walk a composite index from the cursor; a plain tuple of
        # values is bound with each column's type (a UUID stored as text stays text).
        columns, bound = tuple_(*(key.expression for key in keys)), tuple(values)
        return columns < bound if keys[0].descending != reverse else columns > bound
    terms = []
    for index, key in enumerate(keys):
        equal = [previous.equals(value) for previous, value in zip(keys[:index], values, strict=False)]
        terms.append(and_(true(), *equal, key.after(values[index], reverse)))
    return or_(*terms)


@lru_cache(maxsize=256)
def fingerprint(keys: tuple[SortKey, ...]) -> str:
    """A short name of the sort ``keys``, which cursors carry."""
    terms = ",".join(f"{key.expression}:{key.descending:d}{key.nulls_last:d}" for key in keys)
    return hashlib.sha256(terms.encode()).hexdigest()[:12]
