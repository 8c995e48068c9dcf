"""The exception hierarchy and the one JSON shape every HTTP error leaves the service in."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NoReturn

import marshmallow as ma
from flask import Response, current_app, jsonify
from flask_smorest import abort as _smorest_abort
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnprocessableEntity

if TYPE_CHECKING:
    from flask import Flask

_LOG = logging.getLogger(__name__)

#: Headers of werkzeug's own exceptions worth passing on (e.g. ``Allow`` on a 405).
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")
_VALIDATION_MESSAGE = "The request data is invalid; see 'errors' for what to fix in each field."


class FlaskLigandError(Exception):
    """Base class of every exception raised by flask-ligand."""


class ConfigurationError(FlaskLigandError, RuntimeError):
    """The application is misconfigured and must not start.

    It is a ``RuntimeError`` because upstream flask-ligand promised one from ``create_app``.
    """


class ErrorSchema(ma.Schema):
    """The body of every error response; used to document it in OpenAPI."""

    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    status = ma.fields.String(required=True, metadata={"description": "The HTTP reason phrase."})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, for a human."})
    errors = ma.fields.Dict(metadata={"description": "Per-location, per-field validation messages."})


def abort(http_status: HTTPStatus | int, message: str | None = None, **kwargs: Any) -> NoReturn:
    """Stop the request with an HTTP error rendered as the standard JSON body.

    Args:
        http_status: The status, as an ``HTTPStatus`` (upstream's signature) or an ``int``.
        message: The human-readable message; defaults to the status' standard description.
        kwargs: ``errors`` (per-field messages) and ``headers`` (extra response headers).

    Raises:
        werkzeug.exceptions.HTTPException: Always.
    """
    if message is not None:
        kwargs["message"] = message
    _smorest_abort(int(http_status), **kwargs)
    raise AssertionError("unreachable")  # pragma: no cover - flask-smorest's abort always raises


def error_response(http_status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """Build the standard JSON error response.

    Callbacks that must return a response rather than raise (flask-jwt-extended's loaders) use it directly.
    """
    body: dict[str, Any] = {"code": http_status, "status": HTTPStatus(http_status).phrase, "message": message}
    body.update({key: value for key, value in extra.items() if value is not None})
    response = jsonify(body)
    response.status_code = http_status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Render any werkzeug ``HTTPException`` (``abort``, routing, webargs, unhandled errors) as JSON."""
    code = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    headers = {name: value for name, value in error.get_headers() if name in _KEPT_HEADERS}
    headers.update(data.get("headers") or {})
    errors = data.get("errors", data.get("messages"))
    message = data.get("message")
    if message is None and isinstance(error, RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        message = f"The request body is larger than this service accepts ({limit} bytes at most)."
    if message is None:
        message = _VALIDATION_MESSAGE if errors and isinstance(error, UnprocessableEntity) else error.description
    if code >= 500:
        # Never leak internals: the description of a 5xx is the standard one, whatever raised it.
        message = data.get("message") or type(error).description or HTTPStatus(code).phrase
    return error_response(code, str(message), headers, errors=errors)


def handle_integrity_error(error: IntegrityError) -> Response:
    """Turn a constraint violation into a 409 without the SQL that caused it."""
    from flask_ligand.extensions.database import DB  # the database module imports this one

    DB.session.rollback()
    _LOG.info("Integrity error turned into 409: %s", error.orig)
    return error_response(
        409,
        "The request conflicts with the stored data: a uniqueness or reference constraint was violated.",
    )


def register_error_handlers(app: Flask) -> None:
    """Make every error the app can raise answer with the standard JSON body."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
