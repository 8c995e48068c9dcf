"""The exception hierarchy and the one JSON shape every HTTP error leaves the service in."""

from __future__ import annotations

import logging
import traceback
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import click
import marshmallow as ma
from flask import Response, current_app, has_request_context, jsonify, request
from flask_smorest import abort as _smorest_abort
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, UnprocessableEntity
from werkzeug.routing import RequestRedirect

from flask_ligand.logging import current_request_id

if TYPE_CHECKING:
    from flask import Flask

_LOG = logging.getLogger(__name__)

#: Headers of werkzeug's own exceptions worth passing on (``Allow`` on a 405, ``Content-Range`` on a 416).
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "Content-Range")
#: How much of a value the client sent an error message quotes.
_QUOTED_MAX_CHARS = 100
_VALIDATION_MESSAGE = "The request data is invalid; see 'errors' for what to fix in each field."
#: The 412's message, whether ``check_etag`` saw the change or a conditional ``UPDATE``/``DELETE`` matched nothing.
PRECONDITION_FAILED_MESSAGE = (
    "The If-Match header does not match the current ETag of the resource: it changed since you read it. "
    "GET it again and retry with the new ETag."
)
#: The media type of an RFC 9457 problem details body, used for every error when ``ERRORS_PROBLEM_DETAILS`` is on.
PROBLEM_JSON = "application/problem+json"
#: Characters a URL path keeps as they are (RFC 3986's pchar and "/"); others are percent-encoded.
_PATH_CHARACTERS = "/:@!$&'()*+,;=-._~"


class FlaskLigandError(Exception):
    """Base class of every exception raised by flask-ligand."""


class ConfigurationError(FlaskLigandError, RuntimeError, click.ClickException):
    """The application is misconfigured and must not start.

    It is a ``RuntimeError`` because upstream flask-ligand promised one from ``create_app``, and a click error, so
    that a ``flask`` command whose app cannot start prints the message alone (``Error: ...``, exit status 1) rather
    than a traceback ending in it.
    """

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)
        click.ClickException.__init__(self, message)


class ClientGenerationError(FlaskLigandError):
    """An OpenAPI client could not be generated; the message says why and what to do.

    Raised by ``flask_ligand.clientgen`` for both the endpoints and ``flask genclient``, so it is not an HTTP
    exception itself: ``http_status`` is the status the endpoints answer with (503 when no generator can run,
    504 when it timed out, 500 when it failed); ``retry_after``, when known, the seconds before trying again helps.
    """

    def __init__(self, message: str, http_status: int = 500, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after


#: The members both error shapes have, documented once.
_ERRORS_METADATA = {
    "description": "Per-location, per-field validation messages.",
    "example": {"json": {"name": ["Missing data for required field."]}},
}
_REQUEST_ID_METADATA = {
    "description": "The request's id, also in the X-Request-ID header and the service's log.",
}


class ErrorSchema(ma.Schema):
    """The body of every error response; used to document it in OpenAPI."""

    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    status = ma.fields.String(required=True, metadata={"description": "The HTTP reason phrase."})
    message = ma.fields.String(required=True, metadata={"description": "What went wrong, for a human."})
    errors = ma.fields.Dict(metadata=_ERRORS_METADATA)
    request_id = ma.fields.String(metadata=_REQUEST_ID_METADATA)


class ProblemDetailsSchema(ma.Schema):
    """The body of every error response with ``ERRORS_PROBLEM_DETAILS``: RFC 9457 problem details.

    The standard members, plus ``code``, ``message``, ``errors`` and ``request_id`` of the default shape, so that a
    client written for either keeps working.
    """

    type = ma.fields.String(
        required=True, metadata={"description": "A URI of the problem type; 'about:blank' when the status says it."}
    )
    title = ma.fields.String(required=True, metadata={"description": "The HTTP reason phrase."})
    status = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code."})
    detail = ma.fields.String(required=True, metadata={"description": "What went wrong, for a human."})
    instance = ma.fields.String(metadata={"description": "The path of the request that failed."})
    code = ma.fields.Integer(required=True, metadata={"description": "The HTTP status code, as in the default shape."})
    message = ma.fields.String(required=True, metadata={"description": "The same as 'detail'."})
    errors = ma.fields.Dict(metadata=_ERRORS_METADATA)
    request_id = ma.fields.String(metadata=_REQUEST_ID_METADATA)


def quoted(value: str) -> str:
    """A value the client sent (a header, say), quoted for an error message and cut short."""
    return repr(value if len(value) <= _QUOTED_MAX_CHARS else value[:_QUOTED_MAX_CHARS] + "...")


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
    """Build the standard JSON error response, or RFC 9457 problem details with ``ERRORS_PROBLEM_DETAILS``.

    Callbacks that must return a response rather than raise (flask-jwt-extended's loaders) use it directly.
    """
    problem = bool(current_app.config.get("ERRORS_PROBLEM_DETAILS"))
    instance = None
    if problem and has_request_context():
        # The path the client asked for: with the prefix a proxy mounts the service under, percent-encoded.
        instance = quote(request.script_root + request.path, safe=_PATH_CHARACTERS)
    body = error_document(http_status, message, problem=problem, instance=instance)
    body.update({key: value for key, value in extra.items() if value is not None})
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    response = jsonify(body)
    response.status_code = http_status
    if problem:
        response.mimetype = PROBLEM_JSON
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_document(
    http_status: int, message: str, *, problem: bool = False, instance: str | None = None
) -> dict[str, Any]:
    """The error body without request id or extra members: the default shape, or RFC 9457 problem details.

    Also written by ``gunicorn.conf.py`` for the requests gunicorn answers itself, outside the app.
    """
    phrase = HTTPStatus(http_status).phrase
    if not problem:
        return {"code": int(http_status), "status": phrase, "message": message}
    body: dict[str, Any] = {"type": "about:blank", "title": phrase, "status": int(http_status), "detail": message}
    if instance is not None:
        body["instance"] = instance
    body.update({"code": int(http_status), "message": message})
    return body


def handle_http_exception(error: HTTPException) -> Response:
    """Render any werkzeug ``HTTPException`` (``abort``, routing, webargs, unhandled errors) as JSON."""
    code = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    headers = {name: value for name, value in error.get_headers() if name in _KEPT_HEADERS}
    headers.update(data.get("headers") or {})
    if code == HTTPStatus.NOT_MODIFIED:
        return Response(status=code, headers=headers)  # not an error: no body, but the ETag it matched
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
    """Turn a constraint violation into a 409 without the SQL or values that caused it, naming the columns when the
    database does."""
    _rollback_session()
    _LOG.info("Integrity error turned into 409: %s", _driver_message(error))
    return error_response(409, f"The request conflicts with the stored data: {_conflict(error)}")


def handle_stale_data_error(error: StaleDataError) -> Response:
    """Answer 412 when a conditional ``UPDATE``/``DELETE`` of a ``Versioned`` row matched nothing.

    The row changed (or went) between this request's read and its write: another client's write won.
    """
    _rollback_session()
    _LOG.info("Concurrent write lost, answering 412: %s", error)
    return error_response(412, PRECONDITION_FAILED_MESSAGE)


def handle_data_error(error: DataError) -> Response:
    """Answer 422 when the database refuses a value (too long, out of range, malformed), without the SQL."""
    _rollback_session()
    _LOG.info("Database refused a value, answering 422: %s", _driver_message(error))
    return error_response(
        422,
        "The request holds a value the database cannot store: too long, out of range or malformed. "
        "Check the values against the API's schema.",
    )


def handle_overflow_error(error: OverflowError) -> Response:
    """Answer 422 when SQLite's driver refuses an integer beyond 64 bits, as PostgreSQL's ``DataError`` does.

    Raises:
        OverflowError: Raised outside the database driver, it is a server bug and stays a 500.
    """
    if not any(
        frame.f_globals.get("__name__", "").startswith("sqlalchemy.")
        for frame, _ in traceback.walk_tb(error.__traceback__)
    ):
        raise error
    _rollback_session()
    _LOG.info("Database driver refused a number, answering 422: %s", error)
    return error_response(422, "The request holds a number too large for the database. Check it against the schema.")


def handle_database_unavailable(error: OperationalError | PoolTimeoutError) -> Response:
    """Answer 503 while the database cannot be reached; pooled connections are replaced once it is back.

    Raises:
        OperationalError: SQLite's report of a missing table or column, or of bad SQL: a schema not migrated or a
            bug, which waiting does not fix. It stays a 500, logged with its traceback.
    """
    if _is_sqlite_statement_error(error):
        raise error
    _LOG.warning("Database unavailable, answering 503: %s", getattr(error, "orig", None) or error)
    try:
        _rollback_session()
    except SQLAlchemyError:
        _LOG.warning("Rolling back after the database became unavailable failed too.", exc_info=True)
    return error_response(
        503, "The database is unavailable; try again shortly.", {"Retry-After": "5", "Cache-Control": "no-store"}
    )


def _json_routing_answers(response: Response) -> Response:
    """Keep HTML out of the answers Flask's routing makes without a view, and a type off answers without a body.

    Flask hands werkzeug's ``RequestRedirect`` (``/pets`` to ``/pets/``) back untouched, past every error handler,
    so its HTML page is replaced here by the standard body naming the new URL. The automatic answer to ``OPTIONS``
    has no body but claimed ``text/html``, and flask-smorest's 204 ``application/json``: they lose the type.
    """
    status = response.status_code
    if status == HTTPStatus.OK:
        if request.method == "OPTIONS" and getattr(request.url_rule, "provide_automatic_options", False):
            if not response.data:
                del response.headers["Content-Type"]
    elif status == HTTPStatus.NO_CONTENT:
        response.set_data(b"")  # flask-smorest serialises the view's None; nothing is sent, nor logged as sent
        response.headers.pop("Content-Type", None)
    elif isinstance(request.routing_exception, RequestRedirect) and response.location:
        return moved_response(status, response.location)
    return response


def moved_response(status: int, location: str) -> Response:
    """A redirect (301, 308, ...) to ``location`` with the standard body naming it, rather than werkzeug's HTML."""
    return error_response(status, f"This resource is at {location}; send the request there.", {"Location": location})


def register_error_handlers(app: Flask) -> None:
    """Make every error the app can raise answer with the standard JSON body."""
    app.after_request(_json_routing_answers)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(IntegrityError, handle_integrity_error)
    app.register_error_handler(StaleDataError, handle_stale_data_error)
    app.register_error_handler(DataError, handle_data_error)
    app.register_error_handler(OverflowError, handle_overflow_error)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(PoolTimeoutError, handle_database_unavailable)


# PostgreSQL's SQLSTATEs of integrity errors, and the constraint kinds that begin SQLite's messages.
_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"
_NOT_NULL_VIOLATION = "23502"
_SQLITE_STATES = {"UNIQUE": _UNIQUE_VIOLATION, "FOREIGN KEY": _FOREIGN_KEY_VIOLATION, "NOT NULL": _NOT_NULL_VIOLATION}
#: How SQLite's ``OperationalError`` starts or ends when the statement, not the database, is at fault.
_SQLITE_STATEMENT_ERRORS = ("no such table", "no such column", "no such function", "syntax error")


def _is_sqlite_statement_error(error: SQLAlchemyError) -> bool:
    original = getattr(error, "orig", None)
    if type(original).__module__ != "sqlite3":
        return False
    message = str(original)
    return (
        message.startswith(_SQLITE_STATEMENT_ERRORS)
        or message.endswith(_SQLITE_STATEMENT_ERRORS)
        or (" has no column named " in message)
    )


def _conflict(error: IntegrityError) -> str:
    """What the constraint a write broke says, in a client's terms: the columns, never the values or the table.

    PostgreSQL reports the kind of constraint (SQLSTATE) and, in its detail, the key: ``Key (name, owner_id)=(...)
    already exists.``, ``Key (owner_id)=(...) is not present in table "owner".`` or ``Key (id)=(...) is still
    referenced from table "pet".``. SQLite says ``UNIQUE constraint failed: pet.name``, ``NOT NULL constraint failed:
    pet.owner_id`` and only ``FOREIGN KEY constraint failed``. Only plain column names are kept: an expression
    index's key says nothing a client could act on.
    """
    original = error.orig
    diagnostic = getattr(original, "diag", None)
    if diagnostic is not None:  # psycopg 3's and psycopg2's
        state = getattr(diagnostic, "sqlstate", None)
        detail = diagnostic.message_detail or ""
        key = _columns(detail.removeprefix("Key (").partition(")=(")[0].split(",")) if ")=(" in detail else []
        column = _columns([getattr(diagnostic, "column_name", None) or ""])
    else:
        detail = ""
        kind, _, names = str(original).partition(" constraint failed")
        state = _SQLITE_STATES.get(kind)
        key = column = _columns([name.rpartition(".")[2] for name in names.removeprefix(": ").split(",")])
    if state == _UNIQUE_VIOLATION and key:
        return f"another item already has the same {', '.join(key)}."
    if state == _FOREIGN_KEY_VIOLATION:
        if "is still referenced" in detail:
            return "other items still refer to this one."
        if key:
            return f"{', '.join(key)} refers to an item that does not exist."
        return "it refers to an item that does not exist, or other items still refer to the one it changes."
    if state == _NOT_NULL_VIOLATION and column:
        return f"{column[0]} cannot be empty."
    return "it breaks a constraint of the stored data."


def _columns(names: list[str]) -> list[str]:
    columns = [name.strip().strip('"') for name in names]
    return columns if columns and all(column.isidentifier() for column in columns) else []


def _driver_message(error: SQLAlchemyError) -> str:
    """The database's message about ``error``, without PostgreSQL's detail: that quotes the key or the whole row.

    A failing row can hold what the view computed and the client never sent (a password hash, a token).
    """
    original = getattr(error, "orig", None)
    diagnostic = getattr(original, "diag", None)
    primary = getattr(diagnostic, "message_primary", None)
    if primary:
        return f"{primary} (SQLSTATE {getattr(diagnostic, 'sqlstate', None)})"
    return str(original if original is not None else error).partition("\n")[0]


def _rollback_session() -> None:
    """Drop the failed transaction, so the request's session (and the next use of its connection) starts clean."""
    from flask_ligand.extensions.database import DB  # the database module imports this one

    DB.session.rollback()
