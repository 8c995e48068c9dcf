"""The REST layer: flask-smorest's ``Api`` and ``Blueprint`` configured for JSON errors, ETags and pagination.

Upstream's import path for ``Schema``, ``AutoSchema``, ``SQLCursorPage``, ``abort`` and ``Query`` is this module;
they are defined in ``flask_ligand.schemas``, ``.pagination``, ``.errors`` and ``.extensions.database``.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import flask
import flask_smorest
from flask import current_app, request
from flask_smorest.utils import unpack_tuple_response
from webargs.flaskparser import FlaskParser

from flask_ligand.errors import ErrorSchema, register_error_handlers
from flask_ligand.errors import abort as abort
from flask_ligand.extensions.database import Query as Query
from flask_ligand.pagination import SQLCursorPage as SQLCursorPage
from flask_ligand.pagination import pagination_parameters_schema
from flask_ligand.schemas import ISO_8601_DATETIME_FMT as ISO_8601_DATETIME_FMT
from flask_ligand.schemas import AutoSchema as AutoSchema
from flask_ligand.schemas import Schema as Schema

_T = TypeVar("_T")

#: Attribute set by ``jwt_role_required`` on a view: checks the caller before any precondition is looked at.
AUTHORIZE_ATTRIBUTE = "_ligand_authorize"

_PRECONDITION_REQUIRED = (
    "This request must be conditional: send an If-Match header with the ETag of the resource, from a GET."
)
_PRECONDITION_FAILED = (
    "The If-Match header does not match the current ETag of the resource: it changed since you read it. "
    "GET it again and retry with the new ETag."
)


class _JsonBodyParser(FlaskParser):
    """webargs' parser, but a body sent with a non-JSON content type is a 415 rather than "missing fields"."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not req.is_json and req.content_length:
            abort(
                http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type '{req.mimetype or 'none'}' is not supported here: send 'application/json'.",
            )
        return super()._raw_load_json(req)

    def _handle_invalid_json_error(self, error: ValueError, req: flask.Request, *args: Any, **kwargs: Any) -> NoReturn:
        # webargs' own 400 carries werkzeug's vague "The browser (or proxy) sent a request..." as its message.
        abort(
            http.HTTPStatus.BAD_REQUEST,
            f"The request body is not valid JSON: {error}. Fix its syntax and retry.",
            errors={"json": ["Invalid JSON body."]},
        )


class Api(flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's ``Api`` with the standard JSON errors and a ``bearerAuth`` scheme for Swagger UI's Authorize."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: flask.Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})

    def _register_error_handlers(self) -> None:
        register_error_handlers(self._app)


class Blueprint(flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's ``Blueprint`` with the behaviour a REST client expects.

    - A JSON body with another content type is a 415.
    - On a protected view, the caller is authenticated and authorised before ``If-Match`` is looked at, so a
      request without a token is a 401, not a 428.
    - ``If-None-Match`` uses the weak comparison (``W/"..."`` from a compressing proxy still gives a 304).
    - ``paginate`` reads its defaults and cap from ``PAGINATION_DEFAULT_PAGE_SIZE``/``PAGINATION_MAX_PAGE_SIZE``.
    """

    if TYPE_CHECKING:
        # flask-smorest is untyped: these signatures keep strict mypy working in services' views.
        def route(
            self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any
        ) -> Callable[[_T], _T]: ...
        def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[_T], _T]: ...
        def response(self, status_code: int | str, schema: Any = None, **kwargs: Any) -> Callable[[_T], _T]: ...
        def alt_response(self, status_code: int | str, **kwargs: Any) -> Callable[[_T], _T]: ...
        def doc(self, **kwargs: Any) -> Callable[[_T], _T]: ...

    ARGUMENTS_PARSER = _JsonBodyParser()
    PAGINATION_ARGUMENTS_PARSER = _JsonBodyParser()
    DEFAULT_PAGINATION_PARAMETERS = {"page": 1, "page_size": None, "max_page_size": None}

    def etag(self, obj: _T) -> _T:
        """Add ETag handling to a view function or every method of a ``MethodView``; see flask-smorest's ``etag``."""
        decorated: _T = self._decorate_view_func_or_method_view(self._etag_authorized_first, obj)
        return decorated

    def _etag_authorized_first(self, func: Callable[..., Any]) -> Callable[..., Any]:
        with_etag = flask_smorest.Blueprint.etag(self, func)
        authorize = getattr(func, AUTHORIZE_ATTRIBUTE, None)
        if authorize is None:
            return with_etag  # type: ignore[no-any-return]

        @wraps(with_etag)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize()
            return with_etag(*args, **kwargs)

        return wrapper

    def _check_precondition(self) -> None:
        if request.method in self.METHODS_NEEDING_CHECK_ETAG and not request.if_match:
            abort(http.HTTPStatus.PRECONDITION_REQUIRED, _PRECONDITION_REQUIRED)

    def check_etag(self, etag_data: Any, etag_schema: Any = None) -> None:
        """Abort with 412 unless ``If-Match`` holds the ETag of ``etag_data`` (dumped with ``etag_schema``)."""
        try:
            super().check_etag(etag_data, etag_schema)
        except flask_smorest.etag.PreconditionFailed:
            abort(http.HTTPStatus.PRECONDITION_FAILED, _PRECONDITION_FAILED)

    def _check_not_modified(self, etag: str) -> None:
        if request.method in self.METHODS_CHECKING_NOT_MODIFIED and request.if_none_match.contains_weak(etag):
            raise flask_smorest.etag.NotModified

    def paginate(
        self,
        pager: type[flask_smorest.Page] | None = None,
        *,
        page: int | None = None,
        page_size: int | None = None,
        max_page_size: int | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Paginate the view's result with ``pager``, or hand ``pagination_parameters`` to the view when ``None``.

        Args:
            pager: A ``Page`` subclass, e.g. :class:`SQLCursorPage`, applied to what the view returns.
            page: The default page, 1.
            page_size: The default page size; ``PAGINATION_DEFAULT_PAGE_SIZE`` when not given.
            max_page_size: This endpoint's cap; ``PAGINATION_MAX_PAGE_SIZE`` when not given. Larger is a 422.
        """
        schema = pagination_parameters_schema(page or 1, page_size, max_page_size)
        error_status_code = self.PAGINATION_ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                page_params = self.PAGINATION_ARGUMENTS_PARSER.parse(schema, request, location="query")
                if pager is None:
                    kwargs["pagination_parameters"] = page_params
                result, status, headers = unpack_tuple_response(current_app.ensure_sync(func)(*args, **kwargs))
                if pager is not None:
                    result = pager(result, page_params=page_params).items
                if page_params.item_count is not None:
                    metadata = self._make_pagination_metadata(
                        page_params.page, page_params.page_size, page_params.item_count
                    )
                    headers = dict(headers or {})
                    headers[self.PAGINATION_HEADER_NAME] = json.dumps(metadata)
                return result, status, headers

            wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))  # type: ignore[attr-defined]
            wrapper._apidoc["pagination"] = {  # type: ignore[attr-defined]
                "parameters": {"in": "query", "schema": schema},
                "response": {error_status_code: http.HTTPStatus(error_status_code).name},
            }
            return wrapper

        return decorator
