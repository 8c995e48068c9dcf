"""Test a flask-ligand service the way its clients use it: real tokens, fresh databases, checks of what they see.

The pytest plugin (:mod:`flask_ligand.pytest_plugin`) turns these into fixtures; they work in any test runner.
Tokens are signed by the app itself (``testing`` and ``local`` are their own issuer), so they go through the same
verification as an identity provider's. The ``assert_*`` helpers raise ``AssertionError`` with the response in the
message, and return what they parsed, for further checks.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

from flask_ligand.errors import ConfigurationError
from flask_ligand.logging import REQUEST_ID_HEADER

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from werkzeug.wrappers import Response

#: The members an error body may have; ``code``, ``status`` and ``message`` are always there.
ERROR_FIELDS = ("code", "status", "message", "errors", "request_id")
#: The header numbered pages are described in (a JSON object).
PAGINATION_HEADER = "X-Pagination"
_REQUIRED_ERROR_FIELDS = ("code", "status", "message")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.ASCII)
_LINK = re.compile(r"<(?P<url>[^>]*)>(?P<params>[^,<]*)")
_REL = re.compile(r';\s*rel\s*=\s*(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s;,]+))', re.IGNORECASE)


class TokenFactory(Protocol):
    """``make_token(roles=("user",), *, sub="tester", expires_in=None, **claims)``: see :func:`make_token`."""

    def __call__(
        self,
        roles: Iterable[str] = ...,
        *,
        sub: str = ...,
        expires_in: timedelta | float | None = ...,
        **claims: Any,
    ) -> str: ...


class HeadersFactory(Protocol):
    """``auth_headers(*roles, **headers)``: see :func:`auth_headers`."""

    def __call__(self, *roles: str, **headers: str) -> dict[str, str]: ...


def make_token(
    app: Flask,
    roles: Iterable[str] = ("user",),
    *,
    sub: str = "tester",
    expires_in: timedelta | float | None = None,
    **claims: Any,
) -> str:
    """Sign a bearer token that ``app``'s own verification accepts, as ``flask ligand token`` does.

    The roles go where the app reads them (``OIDC_ROLES_CLAIM``, ``realm_access.roles`` by default); ``claims`` are
    added at the top level and win over the roles claim. The token names the app as issuer (``iss``), its key
    (``kid``) and, when ``JWT_DECODE_AUDIENCE`` is set, that audience, so it passes every check a provider's token
    passes.

    Args:
        app: A service created in ``testing`` (or ``local``) without ``OIDC_DISCOVERY_URL``.
        roles: The caller's roles; ``()`` for a token without any.
        sub: The caller's id, ``User.id`` in the views.
        expires_in: Lifetime in seconds (or a ``timedelta``). Zero or less makes a token the app refuses as
            expired: its ``exp`` is that far in the past, beyond the clock-skew leeway (``JWT_DECODE_LEEWAY``).
            Defaults to ``JWT_ACCESS_TOKEN_EXPIRES`` (5 minutes in ``testing``).
        claims: More claims, e.g. ``email="a@example.com"``.

    Raises:
        ConfigurationError: The app is not its own token issuer, so only its identity provider can sign its tokens.
    """
    from flask_jwt_extended import create_access_token

    if not app.config.get("JWT_PRIVATE_KEY") or app.config.get("OIDC_DISCOVERY_URL"):
        raise ConfigurationError(
            "make_token needs an app that signs its own tokens: create it in 'testing' (or 'local') without "
            "OIDC_DISCOVERY_URL. An app that trusts an identity provider only accepts that provider's tokens."
            + (
                f" This app has OIDC_DISCOVERY_URL={app.config['OIDC_DISCOVERY_URL']!r}, from create_app's keywords, "
                "the environment or a .env file."
                if app.config.get("OIDC_DISCOVERY_URL")
                else ""
            )
        )
    path = str(app.config.get("OIDC_ROLES_CLAIM") or "realm_access.roles")
    expires: timedelta | Literal[False] | None = (
        timedelta(seconds=expires_in) if isinstance(expires_in, int | float) else expires_in
    )
    extra = {**roles_claim(roles, path), **claims}
    if isinstance(expires, timedelta) and expires <= timedelta(0):
        # flask-jwt-extended writes no exp for a zero lifetime, and the app accepts a token up to the leeway late.
        leeway = int(app.config.get("JWT_DECODE_LEEWAY") or 0)
        extra.setdefault("exp", int(time.time() + expires.total_seconds()) - leeway - 1)
        expires = False
    with app.app_context():
        token: str = create_access_token(sub, additional_claims=extra, expires_delta=expires)
    return token


def auth_headers(app: Flask, *roles: str, **headers: str) -> dict[str, str]:
    """Request headers with a bearer token for ``roles`` (see :func:`make_token`), plus ``headers``.

    Headers whose names are not identifiers go in a mapping: ``auth_headers(app, "user", **{"If-Match": etag})``.
    """
    return {"Authorization": f"Bearer {make_token(app, roles)}", **headers}


def roles_claim(roles: Iterable[str], path: str = "realm_access.roles") -> dict[str, Any]:
    """The claim that carries ``roles`` at ``path`` (``OIDC_ROLES_CLAIM``): ``{"realm_access": {"roles": [...]}}``.

    Dots nest objects. A claim name that contains dots itself (Auth0's ``https://example.com/roles``) still reads
    back as the roles, because the service tries every way of splitting the path.
    """
    value: Any = [roles] if isinstance(roles, str) else list(roles)
    for name in reversed(path.split(".")):
        value = {name: value}
    result: dict[str, Any] = value
    return result


def assert_error(
    response: Response,
    status: int,
    message: str | re.Pattern[str] | None = None,
    *,
    errors: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assert that ``response`` is the standard JSON error with ``status``; return its body.

    The body is ``{code, status, message[, errors], request_id}``: ``code`` is ``status``, ``status`` its reason
    phrase, and ``request_id`` the response's ``X-Request-ID``.

    Args:
        response: What the test client returned.
        status: The expected HTTP status.
        message: The exact message, or a pattern it must contain (``re.compile(...)``).
        errors: The exact ``errors`` member (per location, per field), when the test cares.

    Raises:
        AssertionError: Anything differs; the message shows the response.
    """
    body = _json_object(response, "an error body")
    _check(response.status_code == status, f"status {response.status_code}, expected {status}", response)
    missing = [name for name in _REQUIRED_ERROR_FIELDS if name not in body]
    _check(not missing, f"error body lacks {', '.join(missing)}", response)
    unknown = sorted(set(body) - set(ERROR_FIELDS))
    _check(not unknown, f"error body has unexpected members {', '.join(unknown)}", response)
    _check(body["code"] == status, f"'code' is {body['code']!r}, expected {status}", response)
    phrase = HTTPStatus(status).phrase
    _check(body["status"] == phrase, f"'status' is {body['status']!r}, expected {phrase!r}", response)
    _check(isinstance(body["message"], str) and bool(body["message"]), "'message' is not a non-empty string", response)
    if isinstance(message, re.Pattern):
        _check(bool(message.search(body["message"])), f"'message' does not match {message.pattern!r}", response)
    elif message is not None:
        _check(body["message"] == message, f"'message' is not {message!r}", response)
    if errors is not None:
        _check(body.get("errors") == errors, f"'errors' is not {errors!r}", response)
    request_id = response.headers.get(REQUEST_ID_HEADER)
    if request_id is not None or "request_id" in body:
        _check(
            body.get("request_id") == request_id,
            f"'request_id' is {body.get('request_id')!r}, the {REQUEST_ID_HEADER} header {request_id!r}",
            response,
        )
    return body


def json_body(response: Response) -> Any:
    """The JSON body of ``response``, parsed: ``json_body(response)["id"]``.

    Unlike ``response.json``, which is ``None`` for a body that is not JSON and so is typed ``Any | None``, it fails
    showing the response, and is typed ``Any`` as ``json.loads`` is.

    Raises:
        AssertionError: The response is not JSON (by its ``Content-Type``) or its body does not parse.
    """
    if not response.is_json:
        _fail(f"the body must be JSON, not {response.mimetype!r}", response)
    try:
        return response.get_json()
    except ValueError:
        _fail("the body is not valid JSON", response)


def pagination(response: Response) -> dict[str, Any]:
    """The ``X-Pagination`` header of a numbered page, parsed.

    Raises:
        AssertionError: The header is missing or not a JSON object.
    """
    raw = response.headers.get(PAGINATION_HEADER)
    if raw is None:
        _fail(f"no {PAGINATION_HEADER} header", response)
    try:
        metadata = json.loads(raw)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        _fail(f"{PAGINATION_HEADER} is not a JSON object: {raw!r}", response)
    return metadata


def assert_pagination(response: Response, **expected: int | None) -> dict[str, Any]:
    """Assert that ``X-Pagination`` has the ``expected`` members, e.g. ``total=3, page=1, next_page=2``; return it.

    A member expected to be ``None`` must be absent (``next_page=None`` on the last page).

    Raises:
        AssertionError: The header is missing or a member differs.
    """
    metadata = pagination(response)
    wrong = {key: metadata.get(key) for key, value in expected.items() if metadata.get(key) != value}
    _check(not wrong, f"{PAGINATION_HEADER} {metadata} differs from {expected} in {sorted(wrong)}", response)
    return metadata


def links(response: Response) -> dict[str, str]:
    """The URLs of the ``Link`` header (RFC 8288) by relation: ``{"next": ..., "prev": ..., "first": ...}``.

    Empty when there is no ``Link`` header; a link with several relations (``rel="next last"``) is under each.
    """
    found: dict[str, str] = {}
    for header in response.headers.getlist("Link"):
        for match in _LINK.finditer(header):
            for rel in _REL.finditer(match["params"]):
                for name in (rel["quoted"] or rel["bare"] or "").split():
                    found.setdefault(name.lower(), match["url"])
    return found


def assert_etag_round_trip(client: FlaskClient, url: str, headers: Mapping[str, str] | None = None) -> str:
    """Assert that ``url`` answers with an ``ETag`` that a conditional ``GET`` turns into a 304; return the ETag.

    Raises:
        AssertionError: The ``GET`` is not a 200 with an ``ETag``, or ``If-None-Match`` does not give an empty 304
            (with the same ``ETag``, if it has one).
    """
    first = client.get(url, headers=dict(headers or {}))
    _check(first.status_code == 200, f"GET {url} answered {first.status_code}, expected 200", first)
    etag = first.headers.get("ETag")
    if not etag:
        _fail(f"GET {url} has no ETag header", first)
    again = client.get(url, headers={**(headers or {}), "If-None-Match": etag})
    _check(again.status_code == 304, f"GET {url} with If-None-Match answered {again.status_code}, expected 304", again)
    _check(not again.get_data(), "the 304 has a body", again)
    resent = again.headers.get("ETag", etag)
    _check(resent == etag, f"the 304's ETag {resent!r} is not {etag!r}", again)
    return etag


def assert_if_match_required(
    client: FlaskClient,
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
) -> None:
    """Assert that a write to ``url`` needs the current ETag: 428 without ``If-Match``, 412 with a stale one.

    Both answers are standard JSON errors, and neither request changes anything, so the test can go on with the
    current ETag. ``headers`` carry the credentials the write needs.

    Raises:
        AssertionError: Either answer differs.
    """
    base = {key: value for key, value in (headers or {}).items() if key.lower() != "if-match"}
    unconditional = client.open(url, method=method, headers=base, json=json)
    assert_error(unconditional, 428)
    stale = client.open(url, method=method, headers={**base, "If-Match": f'"{uuid.uuid4().hex}"'}, json=json)
    assert_error(stale, 412)


def assert_iso8601(value: Any, *, utc: bool = True) -> datetime:
    """Assert that ``value`` is an ISO 8601 (RFC 3339) date-time with a time zone, by default UTC; return it parsed.

    ``2026-11-21T12:56:30Z`` passes; a date alone, a naive time or another zone (with ``utc``) do not.

    Raises:
        AssertionError: ``value`` is not such a string.
    """
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise AssertionError(f"{value!r} is not an ISO 8601 date-time with a time zone (YYYY-MM-DDTHH:MM:SSZ)")
    parsed = datetime.fromisoformat(value)
    if utc and parsed.utcoffset() != timedelta(0):
        raise AssertionError(f"{value!r} is not in UTC")
    return parsed.astimezone(UTC) if utc else parsed


@contextmanager
def created_app(
    factory: Callable[..., Any], environment: str = "testing", *, create_tables: bool = True, **settings: Any
) -> Iterator[Flask]:
    """Create the service with its ``factory`` and the tables of its models; release its database connections after.

    Args:
        factory: The service's app factory, called as ``factory(environment, **settings)``; it returns the app, or
            ``(app, api)`` as ``flask_ligand.create_app`` does.
        environment: The environment to create it in.
        create_tables: Whether to create the tables of every model (``DB.create_all()``) first, rather than leave
            the database to a test that runs the migrations.
        settings: Setting overrides, e.g. ``SQLALCHEMY_DATABASE_URI``.

    Raises:
        flask_ligand.errors.ConfigurationError: The factory refused the settings.
    """
    from flask_ligand.extensions.database import DB

    created = factory(environment, **settings)
    app: Flask = created[0] if isinstance(created, tuple) else created
    uses_database = "sqlalchemy" in app.extensions
    try:
        if create_tables and uses_database:
            with app.app_context():
                DB.create_all()
        yield app
    finally:
        if uses_database:
            with app.app_context():
                DB.session.remove()
                DB.engine.dispose()


@contextmanager
def postgresql_database(server_url: str) -> Iterator[str]:
    """Create an empty PostgreSQL database of its own for the caller, yield its URL, then drop it.

    Args:
        server_url: A SQLAlchemy URL of a server on which the user may ``CREATE DATABASE`` (usually its
            ``postgres`` database); the new database is on the same server, with the same user.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: The server cannot be reached or refuses to create the database.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from flask_ligand.extensions.database import with_default_driver

    url = make_url(with_default_driver(server_url))
    name = f"ligand_test_{uuid.uuid4().hex[:16]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextmanager
def postgresql_schema(database_url: str) -> Iterator[str]:
    """Create an empty schema in a PostgreSQL database, yield a URL that works in it alone, then drop it.

    The URL sets the connection's ``search_path`` to the schema, so whatever connects with it (the app, ``flask db``,
    a server in a subprocess) creates and finds its tables there. Much faster than a database per test.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: The schema cannot be created, or a connection still holds a lock on it
            10 seconds into the drop (a test leaked an open transaction).
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from flask_ligand.extensions.database import with_default_driver

    url = make_url(with_default_driver(database_url))
    name = f"test_{uuid.uuid4().hex[:16]}"
    options = " ".join(filter(None, [str(url.query.get("options", "")), f"-csearch_path={name}"]))
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        try:
            yield url.update_query_dict({"options": options}).render_as_string(hide_password=False)
        finally:
            with engine.connect() as connection:
                connection.execute(text("SET lock_timeout = '10s'"))
                connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    finally:
        engine.dispose()


def _json_object(response: Response, what: str) -> dict[str, Any]:
    _check(response.mimetype == "application/json", f"{what} must be JSON, not {response.mimetype!r}", response)
    body = response.get_json(silent=True)
    if not isinstance(body, dict):
        _fail(f"{what} must be a JSON object", response)
    return body


def _check(condition: bool, problem: str, response: Response) -> None:
    if not condition:
        _fail(problem, response)


def _fail(problem: str, response: Response) -> NoReturn:
    raise AssertionError(f"{problem}; the response was {_describe(response)}")


def _describe(response: Response) -> str:
    body = response.get_data(as_text=True)
    if len(body) > 2000:
        body = body[:2000] + "..."
    headers = ", ".join(f"{name}: {value}" for name, value in response.headers.items())
    return f"{response.status} [{headers}] {body}"
