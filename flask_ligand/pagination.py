"""Offset pagination: ``page``/``page_size`` query arguments, an app-wide page size cap and a stable order."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask_smorest import Page
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, inspect, select

from flask_ligand.extensions.database import DB

#: The largest ``page`` accepted: beyond it the row offset could overflow the database's 64-bit integers (a 500).
_MAX_PAGE = 2**31 - 1


class SQLCursorPage(Page):  # type: ignore[misc]
    """Page through a ``Model.query`` or a ``select()``, ordered by the query's own order then the primary key.

    Without the primary key as last sort key, rows with equal sort values could appear on two pages or none.
    """

    def __init__(self, collection: Any, page_params: PaginationParameters) -> None:
        super().__init__(_with_primary_key_order(collection), page_params)

    @property
    def items(self) -> list[Any]:
        first, size = self.page_params.first_item, self.page_params.page_size
        if isinstance(self.collection, Select):
            return list(DB.session.scalars(self.collection.offset(first).limit(size)))
        return list(self.collection.offset(first).limit(size))

    @property
    def item_count(self) -> int:
        unordered = self.collection.order_by(None)
        if isinstance(unordered, Select):
            return int(DB.session.scalar(select(func.count()).select_from(unordered.subquery())) or 0)
        return int(unordered.count())


class PageSize(ma.validate.Validator):
    """Accept a page size from 1 to a maximum, by default the app's ``PAGINATION_MAX_PAGE_SIZE``.

    Reading the cap per request lets one setting bound every paginated endpoint of the app.
    """

    def __init__(self, maximum: int | None = None) -> None:
        self.maximum = maximum

    def __call__(self, value: int) -> int:
        maximum = self.maximum or int(current_app.config["PAGINATION_MAX_PAGE_SIZE"])
        if not 1 <= value <= maximum:
            raise ma.ValidationError(f"Must be between 1 and {maximum}; got {value}.")
        return value


def pagination_parameters_schema(
    default_page: int, default_page_size: int | None, max_page_size: int | None
) -> type[ma.Schema]:
    """Build the schema of the ``page`` and ``page_size`` query arguments.

    A ``page_size`` default of ``None`` means the app's ``PAGINATION_DEFAULT_PAGE_SIZE``.
    """

    def page_size_default() -> int:
        return default_page_size or int(current_app.config["PAGINATION_DEFAULT_PAGE_SIZE"])

    class PaginationParametersSchema(ma.Schema):
        class Meta:
            unknown = ma.EXCLUDE

        page = ma.fields.Integer(
            load_default=default_page,
            validate=ma.validate.Range(min=1, max=_MAX_PAGE),
            metadata={"description": "The page to return, from 1."},
        )
        page_size = ma.fields.Integer(
            load_default=page_size_default,
            validate=PageSize(max_page_size),
            metadata={"description": "Items per page, from 1 to the service's maximum page size."},
        )

        @ma.post_load
        def make_paginator(self, data: dict[str, int], **_: Any) -> PaginationParameters:
            return PaginationParameters(**data)

    return PaginationParametersSchema


def _with_primary_key_order(collection: Any) -> Any:
    descriptions = getattr(collection, "column_descriptions", None)
    if not descriptions:
        return collection
    entity = descriptions[0].get("entity")
    mapper = inspect(entity, raiseerr=False) if entity is not None else None
    if mapper is None or not hasattr(mapper, "primary_key"):
        return collection
    return collection.order_by(*mapper.primary_key)
