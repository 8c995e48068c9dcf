"""Offset and keyset pagination of SQLAlchemy queries, in a deterministic order, and the ``paginate`` decorator.

Both pagers order a query by its own ``ORDER BY`` (the *declared sort*) then by the primary key, so rows with equal
sort values never repeat or go missing between pages. :class:`SQLCursorPage` (upstream's name) pages by number with
``page``/``page_size`` and the ``X-Pagination`` header. :class:`KeysetPage` pages with signed, opaque ``cursor``
values that point *after* (or *before*) a row, linked from the ``Link`` header (RFC 8288): its cost does not grow with
the depth of the page, and rows inserted or deleted between requests do not shift it. The order is worked out by
``flask_ligand.ordering``, totals by ``flask_ligand.counting``, and cursors are made and checked by
``flask_ligand.cursors``.
"""

from __future__ import annotations

import http
import json
import logging
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal
from urllib.parse import urlencode

import flask
import marshmallow as ma
from flask import current_app, request
from flask_smorest import Page
from flask_smorest.pagination import PaginationMetadataSchema as _SmorestPaginationMetadataSchema
from flask_smorest.pagination import PaginationMixin as _SmorestPaginationMixin
from flask_smorest.pagination import PaginationParameters
from flask_smorest.utils import unpack_tuple_response
from sqlalchemy import Select

from flask_ligand.counting import COUNT_STRATEGIES, total_rows
from flask_ligand.cursors import NO_SECRET, Cursor, cursors_enabled, decode_cursor, encode_cursor
from flask_ligand.errors import ConfigurationError, abort
from flask_ligand.extensions.database import DB
from flask_ligand.ordering import SortKey, after, fingerprint, ordered, sort_keys

#: The largest ``page`` accepted: beyond it the row offset could overflow the database's 64-bit integers (a 500).
_MAX_PAGE = 2**31 - 1
#: Headers of a keyset page: documented in OpenAPI and exposed to browsers by CORS.
LINK_HEADER = {
    "description": "RFC 8288 links to the `next` and `prev` pages (keyset cursors) and to the `first` page.",
    "schema": {"type": "string"},
}
TOTAL_COUNT_HEADER = {
    "description": "Total number of items, sent only when the request asks for it with `count=true`, and the "
    "service counts (not with `PAGINATION_COUNT=none`, nor with `estimate` on a large table).",
    "schema": {"type": "integer"},
}
_PAGE_AND_CURSOR = "Send either `page` or `cursor`, not both: a cursor already says where the page starts."
_LOG = logging.getLogger(__name__)


class SQLCursorPage(Page):  # type: ignore[misc]
    """Page through a ``Model.query`` or a ``select()`` by page number, in the declared order then the primary key.

    The total for ``X-Pagination`` follows ``PAGINATION_COUNT``: ``exact`` counts the rows (one more query per
    request), ``none`` leaves the totals out and only says whether a next page exists, ``estimate`` gives
    PostgreSQL's planner estimate instead of counting when it is at least ``PAGINATION_COUNT_ESTIMATE_ABOVE``
    (``X-Pagination`` then says ``total_is_estimate``), and counts otherwise and on other databases.
    """

    def __init__(self, collection: Any, page_params: PaginationParameters) -> None:
        self.sort_keys = sort_keys(collection)
        self.has_next = False
        self.count_is_estimate = False
        super().__init__(ordered(collection, self.sort_keys), page_params)

    @property
    def items(self) -> list[Any]:
        first, size = self.page_params.first_item, self.page_params.page_size
        rows = _fetch(self.collection.offset(first).limit(size + 1))
        self.has_next = len(rows) > size
        return rows[:size]

    @property
    def item_count(self) -> int | None:
        total, self.count_is_estimate = total_rows(self.collection)
        return total


class PaginationMetadataSchema(_SmorestPaginationMetadataSchema):  # type: ignore[misc]
    """The ``X-Pagination`` header: flask-smorest's totals and neighbours, and whether the total is an estimate."""

    total_is_estimate = ma.fields.Boolean(
        metadata={
            "description": "Present and true when `total`, `total_pages` and `last_page` come from the database's "
            "estimate of the rows (`PAGINATION_COUNT=estimate`); `next_page` is exact."
        }
    )


@dataclass
class KeysetParameters:
    """The query arguments of a keyset page; ``item_count`` is set when the client asked for ``count=true``."""

    page_size: int
    cursor: Cursor | None = None
    count: bool = False
    item_count: int | None = None


class KeysetPage:
    """Page through a ``Model.query`` or ``select()`` of one model after (or before) the row a cursor points at.

    The query's own ``ORDER BY`` is the sort, then the primary key breaks ties. Sort keys must be columns of the
    model. NULLs sort as the largest value (last ascending, first descending) on every database unless the
    ``ORDER BY`` says ``nulls_first()``/``nulls_last()``.

    Raises:
        TypeError: The query does not select one model, or sorts on something other than its columns.
    """

    def __init__(self, collection: Any, page_params: KeysetParameters) -> None:
        keys = sort_keys(collection)
        if keys is None:
            raise TypeError(
                "KeysetPage needs a query of one model ordered by its columns, e.g. select(Pet).order_by(Pet.name)."
            )
        self.sort_keys = keys
        self.page_params = page_params
        self.has_next = self.has_prev = False
        self._items = self._load(collection)
        if page_params.count:
            # Only an exact figure: count=true must not bring back the COUNT(*) of a large table that
            # PAGINATION_COUNT (none, or estimate above its threshold) keeps away, nor send a guess.
            total, estimated = total_rows(collection)
            page_params.item_count = None if estimated else total

    @property
    def items(self) -> list[Any]:
        return self._items

    def headers(self) -> dict[str, str]:
        """The ``Link`` header (``next``, ``prev``, ``first``) and, when counted, ``X-Total-Count``."""
        links = {"first": _page_url()}
        if self.has_next and self._items:
            links["next"] = _page_url(cursor=_cursor_of(self.sort_keys, self._items[-1], "next"))
        if self.has_prev and self._items:
            links["prev"] = _page_url(cursor=_cursor_of(self.sort_keys, self._items[0], "prev"))
        headers = {"Link": _link_header(links)}
        if self.page_params.item_count is not None:
            headers["X-Total-Count"] = str(self.page_params.item_count)
        return headers

    def _load(self, collection: Any) -> list[Any]:
        size, cursor = self.page_params.page_size, self.page_params.cursor
        backwards = cursor is not None and cursor.direction == "prev"
        query = ordered(collection, self.sort_keys, reverse=backwards)
        if cursor is not None:
            if cursor.fingerprint != fingerprint(self.sort_keys) or len(cursor.values) != len(self.sort_keys):
                abort(
                    http.HTTPStatus.UNPROCESSABLE_ENTITY,
                    "This cursor was made for another sort order: start again from the first page.",
                    errors={"query": {"cursor": ["Cursor does not match the sort order."]}},
                )
            query = query.where(after(self.sort_keys, cursor.values, reverse=backwards))
        rows = _fetch(query.limit(size + 1))
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
            self.has_prev, self.has_next = more, True
        else:
            self.has_next, self.has_prev = more, cursor is not None
        return rows


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


class CursorField(ma.fields.Field[Cursor]):
    """A signed cursor from a ``Link`` header, checked and decoded; a forged or altered one is a validation error."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Cursor:
        return decode_cursor(str(value))


def pagination_parameters_schema(
    default_page: int, default_page_size: int | None, max_page_size: int | None, *, keyset: bool = False
) -> type[ma.Schema]:
    """Build the schema of the offset pager's ``page`` and ``page_size`` query arguments, plus ``cursor`` if asked.

    A ``page_size`` default of ``None`` means the app's ``PAGINATION_DEFAULT_PAGE_SIZE``. With ``keyset``, a
    ``cursor`` (exclusive with ``page``) switches the request to a keyset page.
    """

    class PaginationParametersSchema(_PageSizeSchema):
        # With a cursor, page has no default in the spec: Swagger UI would fill it in and send it beside the cursor.
        page = ma.fields.Integer(
            load_default=ma.missing if keyset else default_page,
            validate=ma.validate.Range(min=1, max=_MAX_PAGE),
            metadata={"description": f"The page to return, from 1 (default {default_page})."},
        )
        if keyset:
            cursor = _cursor_field()
            count = _count_field()

        @ma.validates_schema(pass_original=True)
        def _page_or_cursor(self, data: dict[str, Any], original: Any, **_: Any) -> None:
            if "cursor" in data and "page" in original:
                raise ma.ValidationError(_PAGE_AND_CURSOR, "page")

        @ma.post_load
        def make_paginator(self, data: dict[str, Any], **_: Any) -> PaginationParameters | KeysetParameters:
            cursor, count = data.pop("cursor", None), data.pop("count", False)
            if cursor is None:
                return PaginationParameters(**{"page": default_page, **data})
            return KeysetParameters(page_size=data["page_size"], cursor=cursor, count=count)

    return _with_page_size(PaginationParametersSchema, default_page_size, max_page_size)


def keyset_parameters_schema(default_page_size: int | None, max_page_size: int | None) -> type[ma.Schema]:
    """Build the schema of a keyset page's ``cursor``, ``page_size`` and ``count`` query arguments."""

    class KeysetParametersSchema(_PageSizeSchema):
        cursor = _cursor_field()
        count = _count_field()

        @ma.post_load
        def make_paginator(self, data: dict[str, Any], **_: Any) -> KeysetParameters:
            return KeysetParameters(**data)

    return _with_page_size(KeysetParametersSchema, default_page_size, max_page_size)


class PaginationMixin(_SmorestPaginationMixin):  # type: ignore[misc]
    """``Blueprint.paginate`` for both pagers, with app-wide page size settings and documented headers."""

    PAGINATION_ARGUMENTS_PARSER: Any
    PAGINATION_HEADER_NAME = "X-Pagination"
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": None, "max_page_size": None}

    def paginate(
        self,
        pager: type[Page] | type[KeysetPage] | None = None,
        *,
        page: int | None = None,
        page_size: int | None = None,
        max_page_size: int | None = None,
        keyset: bool = False,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Paginate the view's result with ``pager``, or hand ``pagination_parameters`` to the view when ``None``.

        Args:
            pager: :class:`SQLCursorPage` (pages by number) or :class:`KeysetPage` (pages by cursor), applied to the
                query the view returns; or any flask-smorest ``Page`` subclass.
            page: The default page, 1.
            page_size: The default page size; ``PAGINATION_DEFAULT_PAGE_SIZE`` when not given.
            max_page_size: This endpoint's cap; ``PAGINATION_MAX_PAGE_SIZE`` when not given. Larger is a 422.
            keyset: With :class:`SQLCursorPage`, also accept a ``cursor``: pages by number keep working for existing
                clients, and each one links (``Link``) to the keyset pages before and after it.

        Raises:
            TypeError: ``keyset`` without :class:`SQLCursorPage`.
        """
        is_keyset = pager is not None and issubclass(pager, KeysetPage)
        if keyset and not (pager is not None and issubclass(pager, SQLCursorPage)):
            raise TypeError("paginate(keyset=True) needs SQLCursorPage; use paginate(KeysetPage) for cursors only.")
        if is_keyset:
            schema: ma.Schema = keyset_parameters_schema(page_size, max_page_size)()
        else:
            schema = pagination_parameters_schema(page or 1, page_size, max_page_size, keyset=keyset)()
        self._ligand_cursors_required = getattr(self, "_ligand_cursors_required", False) or is_keyset
        self._ligand_cursors_optional = getattr(self, "_ligand_cursors_optional", False) or keyset
        parser = self.PAGINATION_ARGUMENTS_PARSER
        error_status_code = parser.DEFAULT_VALIDATION_STATUS
        headers_doc: dict[str, Any] = {}
        if not is_keyset:
            headers_doc[self.PAGINATION_HEADER_NAME] = "PAGINATION"
        if is_keyset or keyset:
            headers_doc["Link"] = LINK_HEADER
            headers_doc["X-Total-Count"] = TOTAL_COUNT_HEADER  # cursor pages, with count=true

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                params = parser.parse(schema, request, location="query")
                if pager is None:
                    kwargs["pagination_parameters"] = params
                result, status, headers = unpack_tuple_response(current_app.ensure_sync(func)(*args, **kwargs))
                headers = dict(headers or {})
                if isinstance(params, KeysetParameters):
                    keyset_page = KeysetPage(result, params)
                    headers.update(keyset_page.headers())
                    return keyset_page.items, status, headers
                has_next = None
                estimated = False
                if pager is not None:
                    offset_page = pager(result, page_params=params)
                    result = offset_page.items
                    has_next = getattr(offset_page, "has_next", None)
                    estimated = getattr(offset_page, "count_is_estimate", False)
                    if keyset and cursors_enabled(current_app):
                        headers["Link"] = _offset_links(offset_page, result)
                metadata = _offset_metadata(params.page, params.page_size, params.item_count, has_next, estimated)
                if metadata is not None:
                    headers[self.PAGINATION_HEADER_NAME] = json.dumps(metadata)
                return result, status, headers

            wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))  # type: ignore[attr-defined]
            wrapper._apidoc["pagination"] = {  # type: ignore[attr-defined]
                "parameters": {"in": "query", "schema": schema},
                "response": {error_status_code: http.HTTPStatus(error_status_code).name},
                "headers": headers_doc,
            }
            return wrapper

        return decorator

    def register(self, app: flask.Flask, options: dict[str, Any]) -> None:
        """Register on ``app``, first checking the pagination settings its paginated views need.

        In a production environment without ``PAGINATION_CURSOR_SECRET`` (or ``SECRET_KEY``), an endpoint with
        ``paginate(SQLCursorPage, keyset=True)`` serves numbered pages only (and a warning is logged).

        Raises:
            ConfigurationError: ``PAGINATION_COUNT`` is unknown, or a ``paginate(KeysetPage)`` endpoint is registered
                in a production environment without ``PAGINATION_CURSOR_SECRET`` (or ``SECRET_KEY``).
        """
        check_pagination_settings(
            app,
            cursors_required=getattr(self, "_ligand_cursors_required", False),
            cursors_optional=getattr(self, "_ligand_cursors_optional", False),
        )
        super().register(app, options)

    def _prepare_pagination_doc(self, doc: dict[str, Any], doc_info: dict[str, Any], **kwargs: Any) -> Any:
        operation = doc_info.get("pagination")
        if operation:
            doc.setdefault("parameters", []).append(operation["parameters"])
            doc.setdefault("responses", {}).update(operation["response"])
            for status_code in doc_info.get("success_status_codes", []):
                doc["responses"][status_code].setdefault("headers", {}).update(operation["headers"])
        return doc


def check_pagination_settings(
    app: flask.Flask, *, cursors_required: bool = False, cursors_optional: bool = False
) -> None:
    """Check ``PAGINATION_COUNT`` and, when cursors are used, that they can be signed.

    Raises:
        ConfigurationError: See :meth:`PaginationMixin.register`.
    """
    strategy = app.config.get("PAGINATION_COUNT", "exact")
    if strategy not in COUNT_STRATEGIES:
        raise ConfigurationError(
            f"Config 'PAGINATION_COUNT' has value '{strategy}'. Use one of: {', '.join(COUNT_STRATEGIES)}."
        )
    if (cursors_required or cursors_optional) and not cursors_enabled(app):
        if cursors_required:
            raise ConfigurationError(NO_SECRET)
        _LOG.warning("%s Until then, endpoints with paginate(keyset=True) serve numbered pages only.", NO_SECRET)


class _PageSizeSchema(ma.Schema):
    """Query arguments of a page: unknown ones belong to the view's own schema."""

    class Meta:
        unknown = ma.EXCLUDE


def _with_page_size(
    schema: type[ma.Schema], default_page_size: int | None, max_page_size: int | None
) -> type[ma.Schema]:
    def page_size_default() -> int:
        return default_page_size or int(current_app.config["PAGINATION_DEFAULT_PAGE_SIZE"])

    field = ma.fields.Integer(
        load_default=page_size_default,
        validate=PageSize(max_page_size),
        metadata={"description": "Items per page, from 1 to the service's maximum page size."},
    )
    return type(schema.__name__, (schema,), {"page_size": field})


def _cursor_field() -> CursorField:
    return CursorField(
        metadata={
            "description": "Where the page starts: the opaque cursor of a `next` or `prev` link of the `Link` "
            "header. Leave it out for the first page."
        }
    )


def _count_field() -> ma.fields.Boolean:
    return ma.fields.Boolean(
        load_default=False,
        metadata={"description": "With a `cursor`, also send the total number of items in `X-Total-Count`."},
    )


def _fetch(query: Any) -> list[Any]:
    if isinstance(query, Select):
        return list(DB.session.scalars(query))
    return list(query)


def _offset_metadata(
    page: int, page_size: int, item_count: int | None, has_next: bool | None, estimated: bool = False
) -> dict[str, int | bool] | None:
    """``X-Pagination``: upstream's totals and neighbours, or only the neighbours when the total was not counted.

    With an estimated total, the last page may be off: ``next_page`` then follows the rows actually found.
    """
    if estimated:
        last_page = max((item_count or 0) - 1, 0) // page_size + 1
        return _with_neighbours(
            {
                "total": item_count or 0,
                "total_pages": last_page,
                "first_page": 1,
                "last_page": last_page,
                "page": page,
                "total_is_estimate": True,
            },
            page,
            has_next,
        )
    if item_count is None:
        if has_next is None:
            return None
        return _with_neighbours({"first_page": 1, "page": page}, page, has_next)
    if item_count == 0:
        return {"total": 0, "total_pages": 0}
    last_page = (item_count - 1) // page_size + 1
    metadata = {"total": item_count, "total_pages": last_page, "first_page": 1, "last_page": last_page}
    if page <= last_page:
        metadata["page"] = page
        if page > 1:
            metadata["previous_page"] = page - 1
        if page < last_page:
            metadata["next_page"] = page + 1
    return metadata


def _with_neighbours(metadata: dict[str, int | bool], page: int, has_next: bool | None) -> dict[str, int | bool]:
    """Add the previous page, and the next one when rows were found after this page (no total to compare with)."""
    if page > 1:
        metadata["previous_page"] = page - 1
    if has_next:
        metadata["next_page"] = page + 1
    return metadata


def _offset_links(page: Any, items: list[Any]) -> str:
    """Links from a numbered page to the keyset pages right after and before it."""
    links = {"first": _page_url()}
    keys = page.sort_keys
    if keys is None:
        raise TypeError("paginate(keyset=True) needs a query of one model ordered by its columns.")
    if items and page.has_next:
        links["next"] = _page_url(cursor=_cursor_of(keys, items[-1], "next"))
    if items and page.page_params.page > 1:
        links["prev"] = _page_url(cursor=_cursor_of(keys, items[0], "prev"))
    return _link_header(links)


def _page_url(cursor: str | None = None) -> str:
    """This request's URL, relative to the host, with ``cursor`` in place of ``page``/``cursor``."""
    args = [(key, value) for key, value in request.args.items(multi=True) if key not in ("page", "cursor")]
    if cursor is not None:
        args.append(("cursor", cursor))
    query = urlencode(args)
    return f"{request.script_root}{request.path}{'?' + query if query else ''}"


def _link_header(links: dict[str, str]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())


def _cursor_of(keys: tuple[SortKey, ...], item: Any, direction: Literal["next", "prev"]) -> str:
    return encode_cursor(fingerprint(keys), [getattr(item, key.attribute) for key in keys], direction)
