"""Signing keys of an OpenID Connect provider, found through its discovery document and fetched lazily.

Nothing is fetched at start-up, so the service starts while the provider is down; keys are cached by ``kid`` and
an unknown ``kid`` refreshes the key set, so a key rotation at the provider needs no restart.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.request
from http import HTTPStatus
from typing import Any

import jwt
from flask import Flask, current_app

from flask_ligand.errors import abort

_EXTENSION_KEY = "flask_ligand.oidc"
_UNAVAILABLE = "The identity provider's signing keys are unavailable; try again shortly."


class OidcKeys:
    """The key set of one provider, for one app."""

    def __init__(self, discovery_url: str, *, verify_ssl: bool, timeout: float, cache_seconds: int) -> None:
        self.discovery_url = discovery_url
        self._ssl_context = ssl.create_default_context() if verify_ssl else ssl._create_unverified_context()
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._jwks_client: jwt.PyJWKClient | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched on first use."""
        with self._lock:
            if self._metadata is None:
                self._metadata = self._fetch_json(self.discovery_url)
            return self._metadata

    def signing_key(self, header: dict[str, Any]) -> Any:
        """Return the public key for a token's header, matched by its ``kid``.

        Raises:
            werkzeug.exceptions.HTTPException: 503 when the provider cannot be reached, 401 for an unknown key.
        """
        try:
            client = self._client()
            if header.get("kid") is None:
                return client.get_signing_keys()[0].key
            return client.get_signing_key(header["kid"]).key
        except jwt.PyJWKClientConnectionError:
            abort(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE)
        except jwt.PyJWKClientError as exc:
            abort(
                HTTPStatus.UNAUTHORIZED, f"The bearer token is invalid: {exc}", headers={"WWW-Authenticate": "Bearer"}
            )

    def _client(self) -> jwt.PyJWKClient:
        if self._jwks_client is None:
            jwks_uri = self.metadata.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                abort(HTTPStatus.SERVICE_UNAVAILABLE, "The identity provider's discovery document has no jwks_uri.")
            self._jwks_client = jwt.PyJWKClient(
                jwks_uri, lifespan=self._cache_seconds, timeout=int(self._timeout), ssl_context=self._ssl_context
            )
        return self._jwks_client

    def _fetch_json(self, url: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(url, timeout=self._timeout, context=self._ssl_context) as response:
                document = json.load(response)
        except (OSError, ValueError):
            abort(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE)
        if not isinstance(document, dict):
            abort(HTTPStatus.SERVICE_UNAVAILABLE, "The identity provider's discovery document is not a JSON object.")
        return document


def init_app(app: Flask) -> None:
    """Attach the provider's key set to ``app`` when ``OIDC_DISCOVERY_URL`` is set; nothing is fetched yet."""
    url = app.config.get("OIDC_DISCOVERY_URL")
    if url:
        app.extensions[_EXTENSION_KEY] = OidcKeys(
            url,
            verify_ssl=app.config["VERIFY_SSL_CERT"],
            timeout=app.config["OIDC_HTTP_TIMEOUT"],
            cache_seconds=app.config["OIDC_JWKS_CACHE_SECONDS"],
        )


def current_keys() -> OidcKeys | None:
    """The current app's provider keys, or ``None`` when it verifies tokens with a configured key."""
    keys = current_app.extensions.get(_EXTENSION_KEY)
    if keys is None and current_app.config.get("OIDC_DISCOVERY_URL"):
        init_app(current_app)  # the app's tests bound JWT without our init_app
        keys = current_app.extensions.get(_EXTENSION_KEY)
    return keys
