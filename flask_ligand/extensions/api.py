"""The REST layer: flask-smorest's ``Api`` and ``Blueprint`` configured for JSON errors, ETags and pagination.

Upstream's import path for ``Schema``, ``AutoSchema``, ``SQLCursorPage``, ``abort`` and ``Query`` is this module;
they are defined in ``flask_ligand.schemas``, ``.pagination``, ``.errors`` and ``.extensions.database``.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import flask
import flask_smorest
import marshmallow as ma
from webargs.flaskparser import FlaskParser

from flask_ligand.errors import ErrorSchema, quoted, register_error_handlers
from flask_ligand.errors import abort as abort
from flask_ligand.etag import EtagMixin
from flask_ligand.extensions.database import Query as Query
from flask_ligand.pagination import KeysetPage as KeysetPage
from flask_ligand.pagination import PaginationMixin
from flask_ligand.pagination import SQLCursorPage as SQLCursorPage
from flask_ligand.patch import MERGE_PATCH_CONTENT_TYPE, PatchMixin, is_merge_patch
from flask_ligand.schemas import ISO_8601_DATETIME_FMT as ISO_8601_DATETIME_FMT
from flask_ligand.schemas import AutoSchema as AutoSchema
from flask_ligand.schemas import Schema as Schema
from flask_ligand.spec import AUTHORIZE_ATTRIBUTE as AUTHORIZE_ATTRIBUTE
from flask_ligand.spec import SpecMixin
from flask_ligand.text import unstorable_pair_errors, unstorable_text_errors
from flask_ligand.views.docs import register_docs

_T = TypeVar("_T")

_JSON_PATCH = "application/json-patch+json"


class _JsonBodyParser(FlaskParser):
    """webargs' parser, but a body it cannot read as JSON is refused, never taken for an empty one.

    A body sent with another content type (JSON Patch among them), or compressed, is a 415 rather than "missing
    fields", whether it came with a ``Content-Length`` or in chunks; an empty merge patch is a 422 rather than a
    change of nothing; text no database can store (NUL, lone surrogates; see ``flask_ligand.text``) is a 422
    naming the field; and a body nested too deeply for Python's recursion limit is a 400 rather than a 500.
    """

    def _raw_load_json(self, req: flask.Request) -> Any:
        encoding = req.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("identity", ""):
            abort(
                http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Encoding {quoted(encoding)} is not supported here: send the body uncompressed.",
            )
        if req.mimetype == _JSON_PATCH:
            abort(
                http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"JSON Patch ('{_JSON_PATCH}') is not supported: send a JSON Merge Patch, an object of the fields "
                f"to change, as '{MERGE_PATCH_CONTENT_TYPE}' or 'application/json'.",
            )
        if not req.get_data(cache=True):
            return super()._raw_load_json(req)  # nothing sent: the schema's required fields say what is missing
        if not req.is_json:
            content_type = req.headers.get("Content-Type")
            abort(
                http.HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"Content-Type {quoted(content_type) if content_type else 'none'} is not supported here: "
                "send 'application/json'.",
            )
        try:
            data = super()._raw_load_json(req)
            _refuse_unstorable_text("json", unstorable_text_errors(data))
        except json.JSONDecodeError:
            raise  # webargs' own handling: empty means missing, anything else _handle_invalid_json_error
        except ValueError:  # valid JSON Python will not read: an integer of over 4300 digits (sys.int_max_str_digits)
            abort(
                http.HTTPStatus.BAD_REQUEST,
                "The request body holds a value that cannot be read, such as an integer thousands of digits long. "
                "Fix it and retry.",
                errors={"json": ["Invalid JSON body."]},
            )
        except RecursionError:  # decoding or walking arrays/objects nested thousands deep, a few kilobytes of body
            abort(
                http.HTTPStatus.BAD_REQUEST,
                "The request body nests arrays or objects too deeply to be read. Flatten it and retry.",
                errors={"json": ["Nested too deeply."]},
            )
        return data

    def load_json(self, req: flask.Request, schema: ma.Schema) -> Any:
        data = super().load_json(req, schema)
        if data is ma.missing and is_merge_patch(schema):  # a merge patch that changes nothing is "{}", not silence
            abort(
                http.HTTPStatus.UNPROCESSABLE_ENTITY,
                "The request has no body: send a JSON Merge Patch, an object of the fields to change.",
                errors={"json": ["Empty body."]},
            )
        return data

    def load_querystring(self, req: flask.Request, schema: ma.Schema) -> Any:
        _refuse_unstorable_text("query", unstorable_pair_errors(req.args.items(multi=True)))
        arguments = super().load_querystring(req, schema)
        repeated = {
            key: [f"Given {len(values)} times; this parameter takes one value."]
            for key, values in req.args.lists()
            if len(values) > 1 and key not in arguments.multiple_keys and key in _data_keys(schema)
        }
        if repeated:  # webargs would take the first value and drop the others without a word
            abort(http.HTTPStatus.UNPROCESSABLE_ENTITY, errors={"query": repeated})
        return arguments

    def load_form(self, req: flask.Request, schema: ma.Schema) -> Any:
        _refuse_unstorable_text("form", unstorable_pair_errors(req.form.items(multi=True)))
        return super().load_form(req, schema)

    def _handle_invalid_json_error(self, error: ValueError, req: flask.Request, *args: Any, **kwargs: Any) -> NoReturn:
        # webargs' own 400 carries werkzeug's vague "The browser (or proxy) sent a request..." as its message.
        abort(
            http.HTTPStatus.BAD_REQUEST,
            f"The request body is not valid JSON: {error}. Fix its syntax and retry.",
            errors={"json": ["Invalid JSON body."]},
        )


def _data_keys(schema: ma.Schema) -> set[str]:
    return {schema_field.data_key or name for name, schema_field in schema.fields.items()}


def _refuse_unstorable_text(location: str, errors: dict[Any, Any]) -> None:
    if errors:
        abort(
            http.HTTPStatus.UNPROCESSABLE_ENTITY,
            "The request holds text no database can store; see 'errors' for the fields to fix.",
            errors={location: errors},
        )


class Api(SpecMixin, flask_smorest.Api):  # type: ignore[misc]
    """flask-smorest's ``Api`` with the standard JSON errors, a precise spec (see ``flask_ligand.spec``) and docs pages
    served from the package (see ``flask_ligand.views.docs``)."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app: flask.Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        super().init_app(app, spec_kwargs=spec_kwargs)
        register_docs(self, app)

    def _register_error_handlers(self) -> None:
        register_error_handlers(self._app)


class Blueprint(EtagMixin, PaginationMixin, PatchMixin, flask_smorest.Blueprint):  # type: ignore[misc]
    """flask-smorest's ``Blueprint`` with the behaviour a REST client expects.

    - A JSON body with another content type is a 415.
    - On a protected view, the caller is authenticated and authorised before ``If-Match`` is looked at, so a
      request without a token is a 401, not a 428; ``If-None-Match`` uses the weak comparison; a ``Versioned``
      item's ETag is its version and writes to it are conditional (see ``flask_ligand.etag``).
    - ``paginate`` pages by number or by keyset cursor (see ``flask_ligand.pagination``), with its defaults and
      cap from ``PAGINATION_DEFAULT_PAGE_SIZE``/``PAGINATION_MAX_PAGE_SIZE``.
    - ``merge_patch_arguments`` parses a ``PATCH`` body as a JSON Merge Patch of a schema (see
      ``flask_ligand.patch``).
    """

    if TYPE_CHECKING:
        # flask-smorest is untyped: these signatures keep strict mypy working in services' views.
        def route(
            self, rule: str, *, parameters: Any = None, tags: Any = None, **options: Any
        ) -> Callable[[_T], _T]: ...
        def response(self, status_code: int | str, schema: Any = None, **kwargs: Any) -> Callable[[_T], _T]: ...
        def alt_response(self, status_code: int | str, **kwargs: Any) -> Callable[[_T], _T]: ...
        def doc(self, **kwargs: Any) -> Callable[[_T], _T]: ...

    ARGUMENTS_PARSER = _JsonBodyParser()
    PAGINATION_ARGUMENTS_PARSER = _JsonBodyParser()

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Callable[[_T], _T]:
        """flask-smorest's ``arguments``; a schema class is instantiated once here, not by webargs on every request."""
        if isinstance(schema, type) and issubclass(schema, ma.Schema):
            schema = schema()
        decorator: Callable[[_T], _T] = super().arguments(schema, location=location, **kwargs)
        return decorator
