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
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

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
#: JWK members only a private key has (RFC 7518 §6.2.2, §6.3.2; RFC 8037 for OKP).
_PRIVATE_PARAMETERS = ("d", "p", "q", "dp", "dq", "qi")
#: The largest discovery document or JWKS read: a provider's are a few kilobytes.
_MAX_DOCUMENT_BYTES = 1024 * 1024

Document = dict[str, Any]


class UnknownSigningKeyError(jwt.InvalidTokenError):
    """No key the issuer publishes fits the token: a retired, foreign or forged key (401 ``invalid_token``)."""


class _UnreachableError(Exception):
    """The issuer's documents could not be had; the message says why, for the operator's log."""


class _NoUsableKeyError(_UnreachableError):
    """The issuer's JWKS was fetched, but holds no key that can verify a token."""


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
        fetch_seconds: float = 10,
    ) -> None:
        self.discovery_url = discovery_url
        self._fetch = fetch
        self._issuer = issuer
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._fetch_seconds = fetch_seconds
        self._lock = threading.Lock()
        self._fetching: threading.Event | None = None
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
        if self._metadata is None:
            self._refresh()
        metadata = self._metadata
        if metadata is None:
            abort(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE, headers={"Retry-After": "10"})
        return str(metadata["issuer"])

    def signing_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        """Return the published key that fits a token's header (its ``kid`` and ``alg``).

        A key in the cache is used at once, even while another request fetches the keys early for a ``kid`` it does
        not know: only a token whose key is not cached, or a cache past its lifetime, waits for the provider.

        Raises:
            UnknownSigningKeyError: No published key fits.
            werkzeug.exceptions.HTTPException: 503 when no cached key fits and the issuer cannot be reached.
        """
        kid = header.get("kid")
        jwk, fresh = self._cached(kid)
        fetched = False
        if not fresh:  # no keys yet, or past their lifetime: a retired key must not verify (kept while unreachable)
            fetched = self._refresh()
            jwk, fresh = self._cached(kid)
        if jwk is None and not fetched:
            self._refresh(early=True)  # an unknown kid: the provider may have rotated its keys
            jwk, fresh = self._cached(kid)
        if jwk is None:
            with self._lock:
                unreachable = self._unreachable or self._keys is None or self._fetching is not None
                several = self._keys is not None and len(self._keys) > 1
            if unreachable:
                abort(HTTPStatus.SERVICE_UNAVAILABLE, _UNAVAILABLE, headers={"Retry-After": "10"})
            if kid is None and several:
                raise UnknownSigningKeyError("The token names no signing key (kid) and the issuer publishes several.")
            raise UnknownSigningKeyError("The token's signing key (kid) is not one the issuer publishes.")
        return _as_pyjwk(jwk, str(header.get("alg")))

    def _cached(self, kid: Any) -> tuple[Document | None, bool]:
        """The cached key that fits ``kid``, and whether the cache is within its lifetime."""
        with self._lock:
            keys = self._keys or []
            fresh = self._keys is not None and time.monotonic() < self._expires_at
        if kid is None:
            return (keys[0] if len(keys) == 1 else None), fresh
        return next((key for key in keys if key.get("kid") == kid), None), fresh

    def _refresh(self, *, early: bool = False, wait: bool = True) -> bool:
        """Fetch the documents, one request at a time; the others wait for that fetch (at most ``fetch_seconds``).

        A failure backs off for ``min_refresh_seconds``, keeping the cached keys unless the provider published none
        usable; an early refresh backs off as long.

        Returns:
            Whether this call fetched or waited for a fetch (not whether it succeeded).
        """
        with self._lock:
            now = time.monotonic()
            running = self._fetching
            if running is None:
                if now < self._retry_at or (early and now < self._early_refresh_at):
                    return False
                if early:
                    self._early_refresh_at = now + self._min_refresh_seconds
                self._fetching = done = threading.Event()
        if running is not None:
            if wait:
                running.wait(self._fetch_seconds)
            return wait
        try:
            self._fetch_documents()
        finally:
            with self._lock:
                self._fetching = None
            done.set()
        return True

    def _fetch_documents(self) -> None:
        metadata = self._metadata
        try:
            if metadata is None:
                metadata = _checked_metadata(self._fetch(self.discovery_url))
            keys = _signing_keys(self._fetch(metadata["jwks_uri"]))
        except Exception as exc:  # whatever the provider or the network did: 503 and a back-off, never a 500
            if isinstance(exc, _UnreachableError):
                _LOG.warning("Cannot get the identity provider's keys from %s: %s", self.discovery_url, exc)
            else:
                _LOG.warning("Cannot get the identity provider's keys from %s.", self.discovery_url, exc_info=True)
            with self._lock:
                self._metadata = metadata
                self._unreachable = True
                self._retry_at = time.monotonic() + self._min_refresh_seconds
                if isinstance(exc, _NoUsableKeyError):
                    self._keys = []  # the provider withdrew its keys: the cached ones must not outlive that
            return
        with self._lock:
            self._metadata = metadata
            self._keys = keys
            self._expires_at = time.monotonic() + self._cache_seconds
            self._unreachable = False


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
    if claims.get("sub") == "":
        raise jwt.InvalidTokenError("The token's subject (sub) is empty: it names no user.")
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

        def check(url: str) -> None:
            if urlsplit(url).scheme not in ("http", "https"):
                raise _UnreachableError(f"refused to fetch signing keys from {url}: only http and https are used")
            if guarded and interceptable(url):
                raise _UnreachableError(
                    f"refused to fetch signing keys over plain http from {url}: use https, or set "
                    "OIDC_INSECURE_TRANSPORT=true for a provider on a network you trust"
                )

        opener = _opener(check, verify)
        return Issuer(
            lambda url: _fetch_json(opener, check, url, timeout),
            discovery_url,
            fetch_seconds=2 * timeout + 1,  # the discovery document and the JWKS, each within the timeout
            **options,
        )

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


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL the first one could have been: https (or loopback http) in production."""

    def __init__(self, check: Callable[[str], None]) -> None:
        self._check = check

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        try:
            self._check(newurl)
        except _UnreachableError as exc:
            raise urllib.error.URLError(f"redirected to {newurl}, {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(check: Callable[[str], None], verify: bool) -> Callable[..., Any]:
    """``urlopen`` for the provider's documents: http and https only (no ``file:``, ``ftp:`` or ``data:``), redirects
    checked as the first URL is. It is made at the first request, with the TLS context."""

    @functools.cache
    def director() -> urllib.request.OpenerDirector:
        made = urllib.request.OpenerDirector()
        for handler in (
            urllib.request.ProxyHandler(),  # HTTP(S)_PROXY and NO_PROXY, as urlopen honours them
            urllib.request.HTTPHandler(),
            urllib.request.HTTPSHandler(context=_ssl_context(verify)),
            _CheckedRedirects(check),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            made.add_handler(handler)
        return made

    return lambda url, timeout: director().open(url, timeout=timeout)


def _fetch_json(open_url: Callable[..., Any], check: Callable[[str], None], url: str, timeout: float) -> Document:
    """GET ``url`` as JSON within ``timeout`` seconds in all and ``_MAX_DOCUMENT_BYTES``.

    The socket's timeout bounds each read, not the exchange: a provider sending its headers or body a byte at a
    time would hold the request for minutes. The fetch runs in a thread of its own, given up on after ``timeout``.

    Raises:
        _UnreachableError: The URL is refused, or does not answer a JSON object in time.
    """
    check(url)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["document"] = _read_json(open_url, url, timeout)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="oidc-fetch", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise _UnreachableError(f"GET {url} did not answer within {timeout} s.")
    if "error" in outcome:
        error = outcome["error"]
        if isinstance(error, _UnreachableError):
            raise error
        raise _UnreachableError(f"GET {url} failed: {error}") from error
    document: Document = outcome["document"]
    return document


def _read_json(open_url: Callable[..., Any], url: str, timeout: float) -> Document:
    deadline = time.monotonic() + timeout
    with open_url(url, timeout) as response:
        body = bytearray()
        while chunk := response.read1(64 * 1024):
            body += chunk
            if len(body) > _MAX_DOCUMENT_BYTES:
                raise _UnreachableError(f"GET {url} answered more than {_MAX_DOCUMENT_BYTES} bytes.")
            if time.monotonic() > deadline:  # ends the thread of a fetch given up on
                raise _UnreachableError(f"GET {url} did not answer within {timeout} s.")
    try:
        document = json.loads(body)
    except RecursionError:  # JSON nested beyond the parser's depth
        raise _UnreachableError(f"GET {url} answered JSON nested too deeply.") from None
    if not isinstance(document, dict):
        raise _UnreachableError(f"GET {url} did not return a JSON object.")
    return document


def _checked_metadata(document: Document) -> Document:
    for key in ("issuer", "jwks_uri"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise _UnreachableError(f"The discovery document has no '{key}'.")
    return document


def _signing_keys(document: Document) -> list[Document]:
    """The public signing keys of a JWKS: asymmetric, for signatures, that PyJWT can use; the others are skipped.

    A key PyJWT cannot read (a malformed or unknown value), a private key, or a key for other uses is left out with
    a warning, so that one bad entry does not fail every request.

    Raises:
        _UnreachableError: The document has no ``keys`` list.
        _NoUsableKeyError: It has no usable key: the provider withdrew its keys, and the cached ones are dropped.
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise _UnreachableError("The JWKS has no 'keys' list.")
    usable = []
    for number, key in enumerate(keys):
        reason = _unusable(key)
        if reason is None:
            usable.append(key)
        else:
            _LOG.warning("Skipping key %s of the identity provider's JWKS: %s", number, reason)
    if not usable:
        raise _NoUsableKeyError("The JWKS has no usable signing key.")
    return usable


def _unusable(key: Any) -> str | None:
    """Why a JWKS entry cannot verify tokens, or ``None`` when it can."""
    if not isinstance(key, dict):
        return "not an object"
    # key_ops is not read: providers publish the public half of a signing key with the private half's ["sign"].
    kty, use, alg = key.get("kty"), key.get("use", "sig"), key.get("alg")
    if not isinstance(kty, str) or kty not in _KEY_TYPES:
        return "not an asymmetric key (kty)"
    if use != "sig":
        return "not for signatures (use)"
    if alg is not None and not isinstance(alg, str):
        return "its alg is not a name"
    if any(name in key for name in _PRIVATE_PARAMETERS):
        return "a private key: the provider publishes a secret"
    try:
        jwt.PyJWK(key)
    except Exception as exc:  # PyJWT raises several kinds for what it cannot read (NotImplementedError for "none")
        return f"PyJWT cannot read it ({type(exc).__name__})"
    return None


def _as_pyjwk(jwk: Document, alg: str) -> jwt.PyJWK:
    """The key as PyJWT uses it, bound to its published ``alg`` (or the token's, when it publishes none)."""
    try:
        return jwt.PyJWK(jwk, None if "alg" in jwk else alg)
    except Exception as exc:  # the token's alg read with this key: PyJWTError, or NotImplementedError...
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
