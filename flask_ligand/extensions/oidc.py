"""The issuer whose bearer tokens a service trusts, and the checks every token passes before it is believed.

The issuer is either the OpenID Connect provider named by ``OIDC_DISCOVERY_URL`` or, in ``local`` and ``testing``
without one, the service itself: a tiny issuer whose development key is published as a JWKS at
:data:`LOCAL_JWKS_PATH`. Both give a discovery document and a JWKS, cached the same way, and every token goes through
:func:`check_token`, so development tokens exercise the production path.

A provider is contacted only when a token needs it, never at start-up, so the service starts while the provider is
down. Its keys are cached for ``OIDC_JWKS_CACHE_SECONDS`` and matched by ``kid``; a token naming an unknown ``kid``
refreshes them early (at most once per ``OIDC_JWKS_MIN_REFRESH_SECONDS``), so a key rotation needs no restart and a
flood of made-up ``kid`` values cannot flood the provider. While the provider is unreachable, cached keys keep
working; a token no cached key fits is answered with 503.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

import jwt
from flask import Flask, current_app

from flask_ligand.devkeys import public_jwk
from flask_ligand.errors import abort
from flask_ligand.settings import get_environment, interceptable

#: Claims every token must carry (RFC 8725 §3.10: a token that never expires is refused).
REQUIRED_CLAIMS = ("exp", "iat")
#: Where a service that is its own issuer publishes its discovery document and keys.
LOCAL_DISCOVERY_PATH = "/.well-known/openid-configuration"
LOCAL_JWKS_PATH = "/.well-known/jwks.json"

_LOG = logging.getLogger(__name__)
_EXTENSION_KEY = "flask_ligand.oidc"
_UNAVAILABLE = "The identity provider cannot be reached to verify the bearer token; try again shortly."
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})

Document = dict[str, Any]


class UnknownSigningKeyError(jwt.InvalidTokenError):
    """No key the issuer publishes fits the token: a retired, foreign or forged key (401 ``invalid_token``)."""


class _UnreachableError(Exception):
    """The issuer's documents could not be had; the message says why, for the operator's log."""


class Issuer:
    """One trusted issuer: its identifier and signing keys, fetched through ``fetch`` and cached.

    Args:
        fetch: Returns the document at a URL: the discovery document first, then its ``jwks_uri``.
        discovery_url: Where the discovery document is.
        issuer: The ``iss`` tokens must carry; the discovery document's ``issuer`` when ``None``.
        cache_seconds: How long fetched keys are used before they are fetched again.
        min_refresh_seconds: Least time between two early refreshes (unknown ``kid``) or retries after a failure.
    """

    def __init__(
        self,
        fetch: Callable[[str], Document],
        discovery_url: str,
        *,
        issuer: str | None = None,
        cache_seconds: float = 300,
        min_refresh_seconds: float = 10,
    ) -> None:
        self.discovery_url = discovery_url
        self._fetch = fetch
        self._issuer = issuer
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._lock = threading.Lock()
        self._metadata: Document | None = None
        self._keys: list[Document] | None = None
        self._expires_at = 0.0
        self._retry_at = 0.0
        self._early_refresh_at = 0.0
        self._unreachable = False

    def expected_issuer(self) -> str:
        """The ``iss`` a token must carry.

        Raises:
            werkzeug.exceptions.HTTPException: 503 when the discovery document cannot be had.
        """
        if self._issuer is not None:
            return self._issuer
        with self._lock:
            self._load()
            metadata = self._metadata
        if metadata is None:
            abort(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE, headers={"Retry-After": "10"})
        return str(metadata["issuer"])

    def signing_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        """Return the published key that fits a token's header (its ``kid`` and ``alg``).

        Raises:
            UnknownSigningKeyError: No published key fits.
            werkzeug.exceptions.HTTPException: 503 when no cached key fits and the issuer cannot be reached.
        """
        kid = header.get("kid")
        with self._lock:
            fetched = self._load()
            jwk = self._match(kid)
            now = time.monotonic()
            if jwk is None and not fetched and now >= self._early_refresh_at:
                self._early_refresh_at = now + self._min_refresh_seconds
                self._load(refresh=True)
                jwk = self._match(kid)
            unreachable = self._unreachable or self._keys is None
            several = self._keys is not None and len(self._keys) > 1
        if jwk is None:
            if unreachable:
                abort(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE, headers={"Retry-After": "10"})
            if kid is None and several:
                raise UnknownSigningKeyError("The token names no signing key (kid) and the issuer publishes several.")
            raise UnknownSigningKeyError("The token's signing key (kid) is not one the issuer publishes.")
        return _as_pyjwk(jwk, str(header.get("alg")))

    def _match(self, kid: Any) -> Document | None:
        keys = self._keys or []
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((key for key in keys if key.get("kid") == kid), None)

    def _load(self, refresh: bool = False) -> bool:
        """Fetch the keys when missing, expired or ``refresh``; a failure keeps the cache and backs off.

        Returns:
            Whether the keys were fetched just now.
        """
        now = time.monotonic()
        due = refresh or self._keys is None or now >= self._expires_at
        if not due or now < self._retry_at:
            return False
        try:
            if self._metadata is None:
                self._metadata = _checked_metadata(self._fetch(self.discovery_url))
            keys = _signing_keys(self._fetch(self._metadata["jwks_uri"]))
        except _UnreachableError as exc:
            _LOG.warning("Cannot get the identity provider's keys from %s: %s", self.discovery_url, exc)
            self._unreachable = True
            self._retry_at = now + self._min_refresh_seconds
            return False
        self._keys = keys
        self._expires_at = now + self._cache_seconds
        self._unreachable = False
        return True


def check_token(header: Mapping[str, Any], claims: Mapping[str, Any]) -> jwt.PyJWK:
    """Check a token's header and claims before its signature, and return the key that must verify it.

    PyJWT then verifies the signature with that key under the accepted algorithms, and the values of ``exp``,
    ``nbf``, ``iat`` (with ``JWT_DECODE_LEEWAY``) and ``aud``. Checking here first gives each refusal a precise
    message, and keeps tokens that can never pass from reaching the identity provider.

    Raises:
        jwt.InvalidTokenError: The token is refused (401); the message says why and never quotes the token.
        werkzeug.exceptions.HTTPException: 503 when the issuer is needed and cannot be reached.
    """
    config = current_app.config
    accepted: Sequence[str] = config["JWT_DECODE_ALGORITHMS"]
    if header.get("alg") not in accepted:
        raise jwt.InvalidAlgorithmError(
            f"The token's signing algorithm (alg) is not accepted; this service accepts {', '.join(accepted)}."
        )
    for claim in REQUIRED_CLAIMS:
        if claim not in claims:
            raise jwt.MissingRequiredClaimError(claim)
    _check_audience(claims.get("aud"), config.get("JWT_DECODE_AUDIENCE"))
    issuer = current_issuer()
    expected = issuer.expected_issuer()
    if claims.get("iss") != expected:
        raise jwt.InvalidIssuerError(f"The token's issuer (iss) is not '{expected}', the issuer this service trusts.")
    return issuer.signing_key(header)


def init_app(app: Flask) -> None:
    """Attach the trusted issuer to ``app``; nothing is fetched yet."""
    app.extensions[_EXTENSION_KEY] = _make_issuer(app)


def current_issuer() -> Issuer:
    """The current app's trusted issuer, made on first use when the app bound ``JWT`` without our ``init_app``."""
    issuer: Issuer | None = current_app.extensions.get(_EXTENSION_KEY)
    if issuer is None:
        issuer = current_app.extensions.setdefault(_EXTENSION_KEY, _make_issuer(current_app))
    return issuer


def local_issuer_url(config: Mapping[str, Any]) -> str:
    """The issuer identifier of a service that is its own issuer: its public URL."""
    return str(config.get("JWT_ENCODE_ISSUER") or config.get("SERVICE_PUBLIC_URL") or "").rstrip("/")


def local_documents(config: Mapping[str, Any]) -> dict[str, Document]:
    """The discovery document and JWKS of a service that is its own issuer, by path.

    Raises:
        _UnreachableError: The app has no development public key (``JWT_PUBLIC_KEY``) to publish.
    """
    issuer = local_issuer_url(config)
    public_pem = config.get("JWT_PUBLIC_KEY")
    if not public_pem:
        raise _UnreachableError("JWT_PUBLIC_KEY is empty, so the service has no key of its own to verify tokens.")
    return {
        LOCAL_DISCOVERY_PATH: {
            "issuer": issuer,
            "jwks_uri": f"{issuer}{LOCAL_JWKS_PATH}",
            "id_token_signing_alg_values_supported": [config.get("JWT_ALGORITHM", "RS256")],
        },
        LOCAL_JWKS_PATH: {"keys": [public_jwk(public_pem, config.get("JWT_ALGORITHM", "RS256"))]},
    }


def _make_issuer(app: Flask) -> Issuer:
    config = app.config
    options = {
        "issuer": config.get("OIDC_ISSUER") or None,
        "cache_seconds": config.get("OIDC_JWKS_CACHE_SECONDS", 300),
        "min_refresh_seconds": config.get("OIDC_JWKS_MIN_REFRESH_SECONDS", 10),
    }
    discovery_url = config.get("OIDC_DISCOVERY_URL")
    if discovery_url:
        verify = bool(config.get("VERIFY_SSL_CERT", True))
        timeout = config.get("OIDC_HTTP_TIMEOUT", 5)
        # Production checked the discovery URL at start; the jwks_uri it names is only known now.
        environment = config.get("LIGAND_ENV")
        production = environment is None or get_environment(environment).production
        guarded = production and not config.get("OIDC_INSECURE_TRANSPORT")

        def fetch(url: str) -> Document:
            if guarded and interceptable(url):
                raise _UnreachableError(
                    f"refused to fetch signing keys over plain http from {url}: use https, or set "
                    "OIDC_INSECURE_TRANSPORT=true for a provider on a network you trust"
                )
            return _fetch_json(url, _ssl_context(verify), timeout)

        return Issuer(fetch, discovery_url, **options)

    issuer_url = local_issuer_url(config)
    # The documents are built from the app's configuration, which does not change after create_app.
    return Issuer(
        lambda url: local_documents(config)[url.removeprefix(issuer_url)],
        f"{issuer_url}{LOCAL_DISCOVERY_PATH}",
        **options,
    )


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """The TLS context of requests to the provider, made at the first one: loading the system's CA certificates takes
    about 25 ms, which every start of a worker would otherwise pay."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _fetch_json(url: str, context: ssl.SSLContext, timeout: float) -> Document:
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:
        raise _UnreachableError(f"GET {url} failed: {exc}") from exc
    if not isinstance(document, dict):
        raise _UnreachableError(f"GET {url} did not return a JSON object.")
    return document


def _checked_metadata(document: Document) -> Document:
    for key in ("issuer", "jwks_uri"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise _UnreachableError(f"The discovery document has no '{key}'.")
    return document


def _signing_keys(document: Document) -> list[Document]:
    """The public signing keys of a JWKS: asymmetric, not marked for encryption."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise _UnreachableError("The JWKS has no 'keys' list.")
    return [
        key for key in keys if isinstance(key, dict) and key.get("kty") in _KEY_TYPES and key.get("use", "sig") == "sig"
    ]


def _as_pyjwk(jwk: Document, alg: str) -> jwt.PyJWK:
    """The key as PyJWT uses it, bound to its published ``alg`` (or the token's, when it publishes none)."""
    try:
        return jwt.PyJWK(jwk, None if "alg" in jwk else alg)
    except jwt.PyJWTError as exc:
        raise UnknownSigningKeyError("The token's signing algorithm (alg) does not fit its key.") from exc


def _check_audience(audience: Any, accepted: str | Sequence[str] | None) -> None:
    if accepted is None or accepted == "":
        if audience is not None:
            raise jwt.InvalidAudienceError(
                "The token is meant for an audience (aud), but this service accepts none: "
                "set JWT_DECODE_AUDIENCE to the audience its tokens are issued for."
            )
        return
    wanted = {accepted} if isinstance(accepted, str) else set(accepted)
    items = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
    given = {item for item in items if isinstance(item, str)}
    if not wanted & given:
        raise jwt.InvalidAudienceError(
            f"The token's audience (aud) is not {' or '.join(repr(item) for item in sorted(wanted))}, "
            "the audience this service accepts."
        )
