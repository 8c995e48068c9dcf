"""Keyset cursors: a row's sort values, signed (HMAC-SHA256) so that a client can hold them but not forge them.

A cursor is ``[fingerprint of the sort, [values...], "n" | "p"]`` as JSON, base64 and signed with itsdangerous. Its
values are readable by anyone who decodes the base64: opaque, not secret. Dates, times, UUIDs, decimals and bytes are
tagged so that they come back as the same Python types, which the database compares correctly.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import flask
import marshmallow as ma
from flask import current_app
from itsdangerous import BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from flask_ligand.errors import ConfigurationError
from flask_ligand.settings import get_environment

#: Why a service cannot make cursors; names the setting to fix.
NO_SECRET = (
    "Keyset pagination signs its cursors: set PAGINATION_CURSOR_SECRET (or SECRET_KEY) to a random secret shared by "
    "every process of the service, e.g. the output of `python -c 'import secrets; print(secrets.token_hex(32))'`."
)
_SALT = "flask-ligand.pagination.cursor"
_INVALID = "Not a valid cursor: use a cursor from a `Link` header of this endpoint, unchanged."
_DISABLED = "This service has no cursor secret (PAGINATION_CURSOR_SECRET), so no cursor is valid: use `page`."
_SERIALIZER_KEY = "ligand_cursor_serializer"


@dataclass
class Cursor:
    """A decoded cursor: the sort values of a row, and whether the page comes after (``next``) or before it."""

    fingerprint: str
    values: list[Any]
    direction: Literal["next", "prev"]


def cursors_enabled(app: flask.Flask) -> bool:
    """Whether ``app`` can sign cursors.

    It can with ``PAGINATION_CURSOR_SECRET`` or ``SECRET_KEY``, with a key derived from ``JWT_PRIVATE_KEY`` (when the
    service signs its own tokens), or outside production with a random key per process; not otherwise.
    """
    return _serializer(app) is not None


def encode_cursor(fingerprint: str, values: Sequence[Any], direction: Literal["next", "prev"]) -> str:
    """Make the signed cursor of a row's position: its sort ``values``, for the sort ``fingerprint`` names.

    Raises:
        ConfigurationError: The app has no cursor secret (see :func:`cursors_enabled`).
    """
    payload = [fingerprint, [_encode_value(value) for value in values], "n" if direction == "next" else "p"]
    serializer = _serializer(current_app)
    if serializer is None:  # pragma: no cover - pagination checks cursors_enabled() first
        raise ConfigurationError(NO_SECRET)
    return str(serializer.dumps(payload))


def decode_cursor(text: str) -> Cursor:
    """Check the signature of a cursor and decode it.

    Raises:
        marshmallow.ValidationError: The cursor was not made by this service (or was altered), or this service
            has no cursor secret.
    """
    serializer = _serializer(current_app)
    if serializer is None:
        raise ma.ValidationError(_DISABLED)
    try:
        fingerprint, values, direction = serializer.loads(text)
        return Cursor(str(fingerprint), [_decode_value(value) for value in values], _DIRECTIONS[direction])
    except (BadSignature, ValueError, TypeError, KeyError) as exc:
        raise ma.ValidationError(_INVALID) from exc


_DIRECTIONS: dict[str, Literal["next", "prev"]] = {"n": "next", "p": "prev"}


def _encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return ["datetime", value.isoformat()]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, dt.time):
        return ["time", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["uuid", str(value)]
    if isinstance(value, Decimal):
        return ["decimal", str(value)]
    if isinstance(value, bytes):
        return ["bytes", base64.b64encode(value).decode()]
    raise TypeError(f"A {type(value).__name__} sort value cannot go in a cursor: sort on another column.")


_DECODERS: dict[str, Callable[[str], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "uuid": uuid.UUID,
    "decimal": Decimal,
    "bytes": base64.b64decode,
}


def _decode_value(value: Any) -> Any:
    if isinstance(value, list):
        tag, text = value
        return _DECODERS[tag](str(text))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"A cursor cannot hold a {type(value).__name__} sort value.")  # only what _encode_value writes


class _CursorSerializer(URLSafeSerializer):
    """itsdangerous' URL-safe signed JSON, minus its zlib attempt: a cursor is too short to gain from it."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


def _serializer(app: flask.Flask) -> URLSafeSerializer | None:
    """The app's cursor signer, made once: HMAC-SHA256 with the configured or a derived secret; ``None`` without."""
    if _SERIALIZER_KEY not in app.extensions:
        secret = _cursor_secret(app)
        app.extensions[_SERIALIZER_KEY] = (
            None
            if secret is None
            else _CursorSerializer(secret, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})
        )
    serializer: URLSafeSerializer | None = app.extensions[_SERIALIZER_KEY]
    return serializer


def _cursor_secret(app: flask.Flask) -> bytes | None:
    """The configured secret; else one derived from the service's token signing key; else, outside production, a
    random one (cursors then work within one process only); else ``None``."""
    config = app.config
    configured = config.get("PAGINATION_CURSOR_SECRET") or config.get("SECRET_KEY")
    if configured:
        return configured.encode() if isinstance(configured, str) else bytes(configured)
    if config.get("JWT_PRIVATE_KEY"):
        # Every process of a service shares its signing key, and it is as secret as a cursor key must be.
        return hashlib.sha256(b"flask-ligand cursor key\0" + str(config["JWT_PRIVATE_KEY"]).encode()).digest()
    environment = get_environment(config.get("LIGAND_ENV", "prod"))
    if environment.production and environment.init_extensions:
        return None
    return secrets.token_bytes(32)
