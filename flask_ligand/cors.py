"""Cross-origin requests (flask-cors), with origin patterns that match whole origins and credentials kept safe.

flask-cors reads a ``CORS_ORIGINS`` item with regular-expression characters as a pattern and matches it against the
*start* of an origin: ``https://app\\.example\\.com`` would also let ``https://app.example.com.evil.net`` in. Here
each pattern must match the whole origin. With ``CORS_SUPPORTS_CREDENTIALS``, an item that lets any site in
(``*``, ``null``, or a pattern such as ``.*`` or ``https://.*``) stops the service from starting: any web site could
otherwise make requests with its users' cookies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask_cors import CORS
from flask_cors.core import probably_regex

from flask_ligand.errors import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask

Origin = str | re.Pattern[str]

#: A pattern's leading global flags, such as ``(?i)``, which must stay first when the pattern is wrapped.
_LEADING_FLAGS = re.compile(r"(?:\(\?[aiLmsux]+\))+")
#: Origins that no pattern meant for a service's own front ends should match.
_STRANGER_ORIGINS = ("https://stranger.invalid", "http://stranger.invalid", "null")


def init_app(app: Flask) -> None:
    """Answer cross-origin requests as the ``CORS_*`` settings say, each origin pattern matching whole origins.

    Raises:
        ConfigurationError: An origin pattern does not compile, or credentials are allowed for any site.
    """
    config = app.config
    credentials = bool(config.get("CORS_SUPPORTS_CREDENTIALS"))
    config["CORS_ORIGINS"] = _whole_origins(config.get("CORS_ORIGINS", "*"), "CORS_ORIGINS", credentials)
    resources = config.get("CORS_RESOURCES")
    if isinstance(resources, dict):
        for path, options in resources.items():
            if isinstance(options, dict) and "origins" in options:
                setting = f"CORS_RESOURCES['{path}']"
                options["origins"] = _whole_origins(options["origins"], setting, credentials)
    CORS(app)


def _whole_origins(origins: Origin | Iterable[Origin], setting: str, credentials: bool) -> Origin | list[Origin]:
    if isinstance(origins, str | re.Pattern):
        return _whole_origin(origins, setting, credentials)
    return [_whole_origin(origin, setting, credentials) for origin in origins]


def _whole_origin(origin: Origin, setting: str, credentials: bool) -> Origin:
    if origin == "*":  # flask-cors' own wildcard, not a pattern
        if credentials:
            raise _any_site(setting, origin)
        return origin
    if isinstance(origin, str) and not probably_regex(origin):
        if credentials and origin.strip().lower() == "null":  # sent by any sandboxed page or local file
            raise _any_site(setting, origin)
        return origin
    source = origin.pattern if isinstance(origin, re.Pattern) else origin
    flags = origin.flags if isinstance(origin, re.Pattern) else re.IGNORECASE
    leading = _LEADING_FLAGS.match(source)
    inline_flags = leading.group() if leading else ""
    try:
        pattern = re.compile(rf"{inline_flags}(?:{source[len(inline_flags) :]})\Z", flags)
    except re.error as exc:
        raise ConfigurationError(f"Config '{setting}' has item '{source}', not a valid pattern: {exc}.") from None
    if credentials and any(pattern.match(stranger) for stranger in _STRANGER_ORIGINS):
        raise _any_site(setting, source)
    return pattern


def _any_site(setting: str, origin: Any) -> ConfigurationError:
    return ConfigurationError(
        f"Config 'CORS_SUPPORTS_CREDENTIALS' is true while '{setting}' has '{origin}', which allows any origin: any "
        "web site could then make requests with your users' cookies. List the allowed origins (a pattern must match "
        "only them, e.g. https://[a-z]+\\.example\\.com)."
    )
