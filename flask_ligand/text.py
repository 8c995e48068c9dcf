"""Text a database can store: request strings with NUL characters or unpaired surrogates are refused up front.

JSON allows both (``"\\u0000"``, ``"\\ud800"``) and Python decodes them, but PostgreSQL cannot store a NUL in
``text`` or ``jsonb``, and neither it nor SQLite can encode a lone surrogate as UTF-8. Left to the database they
would end as a 500 deep in a view; the request parser calls :func:`unstorable_text_errors` on every JSON body,
query string and form, and answers 422 naming each offending field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: NUL, and any surrogate code point (a valid pair was already combined into one character by the JSON decoder).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NUL_MESSAGE = "Text must not contain the NUL character (\\u0000)."
_SURROGATE_MESSAGE = (
    "Text must not contain unpaired UTF-16 surrogates (\\ud800-\\udfff): send characters beyond U+FFFF as "
    "UTF-8 or as a complete surrogate pair."
)


def unstorable_text_errors(data: Any) -> dict[Any, Any]:
    """Find the strings (values and keys) in decoded JSON that no database can store.

    Returns:
        marshmallow-shaped errors: ``{"name": [message]}``, nested dicts for objects and list indexes for arrays;
        empty when every string is storable.
    """
    errors: dict[Any, Any] = {}
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and (message := _problem(key)):
                errors[_printable(key)] = [message]
            elif nested := _value_errors(value):
                errors[key] = nested
    elif isinstance(data, list):
        for index, value in enumerate(data):
            if nested := _value_errors(value):
                errors[index] = nested
    elif nested := _value_errors(data):
        errors["_schema"] = nested
    return errors


def unstorable_pair_errors(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Like :func:`unstorable_text_errors`, for the ``(name, value)`` pairs of a query string or form."""
    errors: dict[str, list[str]] = {}
    for key, value in pairs:
        if message := _problem(key):
            errors[_printable(key)] = [message]
        elif message := _problem(value):
            errors[key] = [message]
    return errors


def _value_errors(value: Any) -> Any:
    if isinstance(value, str):
        message = _problem(value)
        return [message] if message else None
    if isinstance(value, Mapping | list):
        return unstorable_text_errors(value) or None
    return None


def _problem(text: str) -> str | None:
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    return _NUL_MESSAGE if match.group() == "\x00" else _SURROGATE_MESSAGE


def _printable(text: str) -> str:
    """``text`` with the offending characters escaped, so the error itself is storable and printable."""
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
