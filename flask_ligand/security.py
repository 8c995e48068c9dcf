"""Hardening of every response, and trusting a reverse proxy's ``X-Forwarded-*`` headers only when told to.

API responses get a Content Security Policy that allows nothing (``SECURITY_CSP``): a JSON body is never a page. HTML
pages, such as the API documentation, keep the policy they set themselves, since they need scripts and styles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from flask import Flask, Response

#: ProxyFix's arguments and the settings giving them: how many proxies in front set each ``X-Forwarded-*`` header.
PROXY_FIX_SETTINGS = {
    "x_for": "PROXY_FIX_X_FOR",
    "x_proto": "PROXY_FIX_X_PROTO",
    "x_host": "PROXY_FIX_X_HOST",
    "x_port": "PROXY_FIX_X_PORT",
    "x_prefix": "PROXY_FIX_X_PREFIX",
}


def init_app(app: Flask) -> None:
    """Add the security headers to ``app``'s responses and, when a ``PROXY_FIX_*`` setting is above 0, apply
    werkzeug's ``ProxyFix`` with them."""
    counts = {argument: int(app.config[key]) for argument, key in PROXY_FIX_SETTINGS.items()}
    if any(counts.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)  # type: ignore[method-assign]
    app.after_request(_add_security_headers)


def _add_security_headers(response: Response) -> Response:
    config = current_app.config
    headers = response.headers
    # One pass over the response's headers: werkzeug's setdefault raises and catches a KeyError per missing header.
    present = {name.lower() for name in headers.keys()}
    for name, value in config["SECURITY_HEADERS"].items():
        if name.lower() not in present:
            headers.add(name, value)
    csp = config["SECURITY_CSP"]
    if csp and "content-security-policy" not in present and response.mimetype != "text/html":
        headers.add("Content-Security-Policy", csp)
    return response
