"""The trusted issuer (``extensions/oidc.py``) through HTTP: a small OIDC provider on 127.0.0.1 and the local issuer."""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask_jwt_extended import create_access_token
from jwt.algorithms import RSAAlgorithm

import example_petstore
from flask_ligand.extensions.database import DB
from flask_ligand.testing import created_app, json_body

AppFactory = Callable[..., Flask]

#: The settings of a production petstore, but for the identity provider (added by each fixture).
PROD_SETTINGS = {
    "SERVICE_PUBLIC_URL": "https://pets.example.com",
    "SERVICE_PRIVATE_URL": "http://pets.internal",
    "ALLOWED_ROLES": "user,admin",
    "OIDC_HTTP_TIMEOUT": "2",
    "PAGINATION_CURSOR_SECRET": "a-cursor-secret-for-the-tests",
}


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Provider:
    """A tiny OpenID Connect provider on 127.0.0.1: a discovery document and a JWKS of keys the test controls.

    ``published`` maps each ``kid`` to its private key; only those are in the JWKS. ``requests`` counts the GETs per
    path. ``stop()`` and ``start()`` take it down and bring it back on the same port.
    """

    def __init__(self) -> None:
        self.current_kid = "provider-key-1"
        self.published: dict[str, rsa.RSAPrivateKey] = {self.current_kid: _new_key()}
        self.requests: Counter[str] = Counter()
        self.discovery: dict[str, Any] | None = None
        self.jwks: Any = None
        self.publish_alg = True
        #: Paths answered with a redirect to another URL, paths answered with raw bytes (not JSON), and the delay
        #: between the bytes of ``trickle``'s answers.
        self.redirects: dict[str, str] = {}
        self.raw: dict[str, bytes] = {}
        self.trickle: dict[str, float] = {}
        #: Paths whose status line and headers are sent a byte at a time, this many seconds apart.
        self.trickle_head: dict[str, float] = {}
        #: Cleared, the JWKS is answered only once it is set again.
        self.jwks_gate = threading.Event()
        self.jwks_gate.set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    @property
    def key(self) -> rsa.RSAPrivateKey:
        return self.published[self.current_kid]

    def documents(self) -> dict[str, Any]:
        alg = {"alg": "RS256"} if self.publish_alg else {}
        keys = [
            {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", **alg}
            for kid, key in self.published.items()
        ]
        discovery = self.discovery or {"issuer": self.base_url, "jwks_uri": f"{self.base_url}/jwks"}
        jwks = {"keys": keys} if self.jwks is None else self.jwks
        return {"/.well-known/openid-configuration": discovery, "/jwks": jwks}

    def claims(self, roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        """The claims of a valid access token from this provider."""
        now = int(time.time())
        return {
            "iss": self.base_url,
            "sub": "tester",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "realm_access": {"roles": ["user"] if roles is None else roles},
            **extra,
        }

    def sign(self, claims: dict[str, Any] | None = None, kid: str | None = None, name_kid: bool = True) -> str:
        """A token signed with the current key (or the published key ``kid``), naming that ``kid`` if ``name_kid``."""
        kid = kid or self.current_kid
        headers = {"kid": kid} if name_kid else None
        return jwt.encode(claims or self.claims(), self.published[kid], algorithm="RS256", headers=headers)

    def rotate(self) -> str:
        """Publish a new key next to the old one and sign with it from now on; return the new ``kid``."""
        self.current_kid = f"provider-key-{len(self.published) + 1}"
        self.published[self.current_kid] = _new_key()
        return self.current_kid

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("http://"):  # asked as a proxy: the absolute URL's path is the document
                    self.path = "/" + self.path.split("/", 3)[3]
                provider.requests[self.path] += 1
                if self.path == "/jwks":
                    provider.jwks_gate.wait(timeout=30)
                if self.path in provider.redirects:
                    self.send_response(HTTPStatus.FOUND)
                    self.send_header("Location", provider.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                document = provider.documents().get(self.path)
                body = provider.raw.get(self.path) or json.dumps(document).encode()
                if self.path in provider.trickle_head:
                    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nX-Padding: {'x' * 200}\r\n\r\n"
                    try:
                        for byte in head.encode():
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(provider.trickle_head[self.path])
                        self.wfile.write(body)
                    except OSError:  # the service gave up on the answer
                        pass
                    return
                self.send_response(HTTPStatus.OK if document is not None else HTTPStatus.NOT_FOUND)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                delay = provider.trickle.get(self.path)
                try:
                    for start in range(0, len(body), 1 if delay else len(body) or 1):
                        self.wfile.write(body[start : start + 1] if delay else body)
                        self.wfile.flush()
                        if delay:
                            time.sleep(delay)
                except OSError:  # the service gave up on the answer
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and free the port; connections are refused from now on."""
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The petstore in ``testing`` on a SQLite file (token checks do not depend on the database)."""
    with created_app(
        example_petstore.create_app, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'testing.sqlite'}"
    ) as app:
        yield app


@pytest.fixture
def provider() -> Iterator[Provider]:
    """A running OIDC provider, stopped at teardown."""
    server = Provider()
    yield server
    server.stop()


@pytest.fixture
def make_prod_app(provider: Provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppFactory]:
    """Build the petstore in ``prod`` from environment variables, trusting ``provider``; keywords override them."""
    numbers = itertools.count()
    with ExitStack() as apps:

        def make(**settings: Any) -> Flask:
            with monkeypatch.context() as environment:
                variables = {
                    **PROD_SETTINGS,
                    "OIDC_DISCOVERY_URL": provider.discovery_url,
                    "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / f'petstore-{next(numbers)}.sqlite'}",
                }
                for key, value in variables.items():
                    environment.setenv(key, value)
                return apps.enter_context(created_app(example_petstore.create_app, "prod", **settings))

        yield make


@pytest.fixture
def prod_app(make_prod_app: AppFactory) -> Flask:
    """The petstore in ``prod`` trusting a running ``provider``."""
    return make_prod_app()


def _post_pet(app: Flask, token: str) -> Any:
    return app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})


def _assert_invalid_token(response: Any, fragment: str) -> None:
    assert response.status_code == 401, response.json
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response.json["code"] == 401
    assert fragment in response.json["message"]


def test_prod_accepts_token_signed_by_the_provider(prod_app: Flask, provider: Provider) -> None:
    """In prod, a token signed with the provider's key (its ``kid`` in the header) is accepted."""
    response = _post_pet(prod_app, provider.sign())

    assert response.status_code == 201, response.json


def test_prod_rejects_token_signed_with_the_testing_dev_key(prod_app: Flask, app: Flask) -> None:
    """In prod, a token made with ``create_access_token`` in ``testing`` (the development key) is a 401."""
    with app.app_context():
        token = create_access_token("tester", additional_claims={"realm_access": {"roles": ["user", "admin"]}})

    response = _post_pet(prod_app, token)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_prod_rejects_dev_key_token_claiming_the_provider_kid(prod_app: Flask, app: Flask, provider: Provider) -> None:
    """In prod, a token signed with the development key is a 401 even with the provider's issuer and ``kid``."""
    token = jwt.encode(
        provider.claims(), app.config["JWT_PRIVATE_KEY"], algorithm="RS256", headers={"kid": provider.current_kid}
    )

    _assert_invalid_token(_post_pet(prod_app, token), "Signature verification failed")


def test_prod_rejects_token_with_unknown_kid(prod_app: Flask, provider: Provider) -> None:
    """A token whose ``kid`` the provider does not publish is a 401 ``invalid_token`` naming the unknown key."""
    token = jwt.encode(provider.claims(), _new_key(), algorithm="RS256", headers={"kid": "not-a-provider-key"})

    _assert_invalid_token(_post_pet(prod_app, token), "signing key (kid) is not one the issuer publishes")


def test_prod_rejects_token_from_another_issuer(prod_app: Flask, provider: Provider) -> None:
    """A token signed with the provider's key but naming another issuer is a 401 naming the trusted issuer."""
    token = provider.sign(provider.claims(iss="https://evil.example.com"))

    _assert_invalid_token(_post_pet(prod_app, token), f"is not '{provider.base_url}'")


def test_token_naming_no_user_is_refused(prod_app: Flask, provider: Provider) -> None:
    """An empty ``sub`` would make every such token the same, nameless user."""
    _assert_invalid_token(_post_pet(prod_app, provider.sign(provider.claims(sub=""))), "subject (sub) is empty")


def test_oidc_issuer_overrides_the_discovered_issuer(make_prod_app: AppFactory, provider: Provider) -> None:
    """With ``OIDC_ISSUER`` set (a provider behind a proxy), tokens must name it instead of the discovered one."""
    app = make_prod_app(OIDC_ISSUER="https://login.example.com/realms/pets")

    accepted = _post_pet(app, provider.sign(provider.claims(iss="https://login.example.com/realms/pets")))
    refused = _post_pet(app, provider.sign())

    assert accepted.status_code == 201, accepted.json
    _assert_invalid_token(refused, "is not 'https://login.example.com/realms/pets'")


def test_unknown_kids_refresh_the_keys_at_most_once_per_interval(prod_app: Flask, provider: Provider) -> None:
    """A flood of tokens with made-up ``kid`` values fetches the JWKS once, plus one early refresh."""
    for _ in range(10):
        token = jwt.encode(provider.claims(), _new_key(), algorithm="RS256", headers={"kid": str(uuid.uuid4())})
        assert _post_pet(prod_app, token).status_code == 401

    assert provider.requests["/jwks"] == 2
    assert provider.requests["/.well-known/openid-configuration"] == 1


def test_key_rotation_is_picked_up_without_restart(prod_app: Flask, provider: Provider) -> None:
    """After the provider rotates its key, tokens signed with the new key are accepted by the running service."""
    assert _post_pet(prod_app, provider.sign()).status_code == 201
    provider.rotate()

    response = _post_pet(prod_app, provider.sign())

    assert response.status_code == 201, response.json


def test_retired_key_is_refused_once_the_cache_lifetime_has_passed(
    make_prod_app: AppFactory, provider: Provider
) -> None:
    """A token signed by a key the provider no longer publishes is refused once the cached keys expire."""
    app = make_prod_app(OIDC_JWKS_CACHE_SECONDS=1)
    old_kid = provider.current_kid
    old_token = provider.sign()
    assert _post_pet(app, old_token).status_code == 201
    provider.rotate()
    del provider.published[old_kid]
    time.sleep(1.2)

    _assert_invalid_token(_post_pet(app, old_token), "signing key (kid) is not one the issuer publishes")


def test_prod_app_starts_and_serves_public_endpoint_while_provider_is_down(
    make_prod_app: AppFactory, provider: Provider
) -> None:
    """With the identity provider down, the prod app still starts and public GET /pets/ answers 200."""
    provider.stop()
    app = make_prod_app()

    response = app.test_client().get("/pets/")

    assert response.status_code == 200
    assert response.json == []


def test_prod_protected_endpoint_answers_503_while_provider_is_down(
    make_prod_app: AppFactory, provider: Provider
) -> None:
    """With the identity provider down, a protected endpoint answers 503 JSON with Retry-After instead of failing."""
    token = provider.sign()
    provider.stop()
    app = make_prod_app()

    response = _post_pet(app, token)

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json["code"] == 503
    assert response.json["status"] == "Service Unavailable"
    assert "identity provider cannot be reached" in response.json["message"]


def test_protected_endpoints_recover_when_the_provider_comes_back(
    make_prod_app: AppFactory, provider: Provider
) -> None:
    """After answering 503 while the provider is down, the service accepts tokens again once it is back."""
    token = provider.sign()
    provider.stop()
    app = make_prod_app(OIDC_JWKS_MIN_REFRESH_SECONDS=0)
    assert _post_pet(app, token).status_code == 503

    provider.start()

    response = _post_pet(app, token)
    assert response.status_code == 201, response.json


def test_cached_keys_keep_working_while_the_provider_is_down(make_prod_app: AppFactory, provider: Provider) -> None:
    """Once fetched, the provider's keys verify tokens even after the cache expired while the provider is down."""
    app = make_prod_app(OIDC_JWKS_CACHE_SECONDS=0)
    assert _post_pet(app, provider.sign()).status_code == 201
    provider.stop()

    response = _post_pet(app, provider.sign())

    assert response.status_code == 201, response.json


def test_discovery_document_without_jwks_uri_answers_503(make_prod_app: AppFactory, provider: Provider) -> None:
    """A discovery document that names no JWKS is a 503 JSON for protected endpoints, not a 500."""
    provider.discovery = {"issuer": provider.base_url}
    app = make_prod_app()

    response = _post_pet(app, provider.sign())

    assert response.status_code == 503
    assert response.json["code"] == 503


def test_token_without_kid_is_accepted_while_the_provider_publishes_one_key(
    prod_app: Flask, provider: Provider
) -> None:
    """A token naming no ``kid`` is verified with the provider's only key."""
    response = _post_pet(prod_app, provider.sign(name_kid=False))

    assert response.status_code == 201, response.json


def test_token_without_kid_is_refused_while_the_provider_publishes_several_keys(
    prod_app: Flask, provider: Provider
) -> None:
    """A token naming no ``kid`` is a 401 once the provider publishes several keys: none can be chosen."""
    provider.rotate()

    _assert_invalid_token(_post_pet(prod_app, provider.sign(name_kid=False)), "names no signing key (kid)")


def test_algorithm_that_does_not_fit_the_key_is_refused(make_prod_app: AppFactory, provider: Provider) -> None:
    """An ES256 token naming the provider's RSA key (published without ``alg``) is a 401, not a 500."""
    provider.publish_alg = False
    app = make_prod_app(JWT_DECODE_ALGORITHMS=["RS256", "ES256"])
    token = jwt.encode(
        provider.claims(), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "provider-key-1"}
    )

    _assert_invalid_token(_post_pet(app, token), "does not fit its key")


def test_algorithm_other_than_the_published_one_is_refused(make_prod_app: AppFactory, provider: Provider) -> None:
    """A PS256 token naming a key the provider publishes for RS256 is a 401, even though PS256 is accepted."""
    app = make_prod_app(JWT_DECODE_ALGORITHMS=["RS256", "PS256"])
    token = jwt.encode(provider.claims(), provider.key, algorithm="PS256", headers={"kid": provider.current_kid})

    _assert_invalid_token(_post_pet(app, token), "does not match the key's algorithm")


def test_prod_refuses_signing_keys_named_at_a_plain_http_address(
    make_prod_app: AppFactory, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    """The discovery URL is checked at start; the ``jwks_uri`` it names (a Keycloak behind a TLS proxy often says
    http) is refused when fetched, without a request to it: 503, and the log says why."""
    provider.discovery = {"issuer": provider.base_url, "jwks_uri": "http://10.255.255.1/realms/pets/certs"}
    app = make_prod_app(OIDC_HTTP_TIMEOUT=30)

    response = _post_pet(app, provider.sign())

    assert response.status_code == 503
    assert "refused to fetch signing keys over plain http from http://10.255.255.1/realms/pets/certs" in caplog.text


def test_unverified_tls_setting_still_verifies_tokens(make_prod_app: AppFactory, provider: Provider) -> None:
    """With ``VERIFY_SSL_CERT`` off (and its opt-in), tokens are still verified with the provider's keys."""
    app = make_prod_app(VERIFY_SSL_CERT=False, OIDC_INSECURE_TRANSPORT=True)

    assert _post_pet(app, provider.sign()).status_code == 201
    assert _post_pet(app, provider.sign(provider.claims(iss="https://evil.example.com"))).status_code == 401


@pytest.mark.parametrize("jwks", [[], {"keys": "none"}], ids=["not-an-object", "keys-not-a-list"])
def test_malformed_jwks_answers_503(make_prod_app: AppFactory, provider: Provider, jwks: Any) -> None:
    """A JWKS that is not an object with a list of keys is a 503 JSON for protected endpoints, not a 500."""
    provider.jwks = jwks
    app = make_prod_app()

    response = _post_pet(app, provider.sign())

    assert response.status_code == 503
    assert response.json["code"] == 503


def test_unusable_keys_in_the_jwks_are_skipped_and_the_others_used(
    make_prod_app: AppFactory, provider: Provider
) -> None:
    """Entries PyJWT cannot read (a list as ``kty``, ``alg`` "none" or a list), a private key and an encryption key
    are left out once, when the JWKS is fetched: tokens of the good key pass, with no fetch per request."""
    good = provider.documents()["/jwks"]["keys"][0]
    public = {name: good[name] for name in ("kty", "n", "e")}
    private = RSAAlgorithm.to_jwk(_new_key(), as_dict=True)
    provider.jwks = {
        "keys": [
            {"kty": ["RSA"], "kid": "bad-kty"},
            {**public, "kid": "alg-none", "alg": "none"},
            {**public, "kid": "alg-list", "alg": ["RS256"]},
            {**private, "kid": "private", "alg": "RS256"},
            {**public, "kid": "encryption", "use": "enc"},
            "not an object",
            good,
        ]
    }
    app = make_prod_app()

    statuses = [_post_pet(app, provider.sign()).status_code for _ in range(5)]
    forged = _post_pet(app, jwt.encode(provider.claims(), _new_key(), algorithm="RS256", headers={"kid": "private"}))

    assert statuses == [201] * 5
    _assert_invalid_token(forged, "signing key (kid) is not one the issuer publishes")
    assert provider.requests["/jwks"] == 2  # the first fetch, and the early refresh for the unknown "private"


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"keys": [' + b" " * (1024 * 1024) + b"]}", b'{"keys": [{"kty": "oct"}]}'],
    ids=["nested-too-deep", "over-a-mebibyte", "no-usable-key"],
)
def test_a_jwks_the_service_cannot_use_answers_503(make_prod_app: AppFactory, provider: Provider, body: bytes) -> None:
    """JSON nested beyond the parser, a document of more than 1 MiB, or a set with no usable key: 503, not 500."""
    provider.raw["/jwks"] = body
    app = make_prod_app()

    response = _post_pet(app, provider.sign())

    assert response.status_code == 503, response.json
    assert response.json["code"] == 503


def test_keys_are_fetched_over_http_or_https_only(
    make_prod_app: AppFactory, provider: Provider, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A ``jwks_uri`` naming a local file (with a key the provider never published) is refused: 503."""
    forger = _new_key()
    keys = tmp_path / "jwks.json"
    jwk = {**RSAAlgorithm.to_jwk(forger.public_key(), as_dict=True), "kid": "forged", "alg": "RS256"}
    keys.write_text(json.dumps({"keys": [jwk]}))
    provider.discovery = {"issuer": provider.base_url, "jwks_uri": keys.as_uri()}
    app = make_prod_app()

    response = _post_pet(app, jwt.encode(provider.claims(), forger, algorithm="RS256", headers={"kid": "forged"}))

    assert response.status_code == 503
    assert f"refused to fetch signing keys from {keys.as_uri()}: only http and https are used" in caplog.text


def test_a_redirect_is_followed_only_where_the_first_url_could_go(
    make_prod_app: AppFactory, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    """In production a redirect from the JWKS to plain http elsewhere than the loopback is refused, as that URL
    would be; one to the loopback (or to https) is followed."""
    provider.discovery = {"issuer": provider.base_url, "jwks_uri": f"{provider.base_url}/moved"}
    provider.redirects["/moved"] = "http://idp.example.test/jwks"
    refused = _post_pet(make_prod_app(), provider.sign())
    provider.redirects["/moved"] = f"{provider.base_url}/jwks"
    followed = _post_pet(make_prod_app(), provider.sign())

    assert refused.status_code == 503
    assert "redirected to http://idp.example.test/jwks, refused to fetch signing keys over plain http" in caplog.text
    assert followed.status_code == 201, followed.json


@pytest.mark.parametrize("part", ["body", "head"])
def test_a_provider_answering_a_byte_at_a_time_is_given_up_on_in_time(
    make_prod_app: AppFactory, provider: Provider, part: str
) -> None:
    """``OIDC_HTTP_TIMEOUT`` bounds a whole fetch, status line and headers included: a JWKS sent slowly enough for
    no single read to time out (about a minute here) is abandoned after about that long, with a 503."""
    (provider.trickle if part == "body" else provider.trickle_head)["/jwks"] = 0.25
    app = make_prod_app(OIDC_HTTP_TIMEOUT=1)
    started = time.monotonic()

    response = _post_pet(app, provider.sign())

    assert response.status_code == 503
    assert time.monotonic() - started < 10


def test_keys_withdrawn_by_the_provider_stop_verifying_tokens(make_prod_app: AppFactory, provider: Provider) -> None:
    """A JWKS with no usable key, fetched when the cache expires, ends the cached keys' use: 503, never the old key."""
    app = make_prod_app(OIDC_JWKS_CACHE_SECONDS=1)
    token = provider.sign()
    assert _post_pet(app, token).status_code == 201
    provider.jwks = {"keys": []}
    time.sleep(1.2)

    response = _post_pet(app, token)

    assert response.status_code == 503, response.json


def test_keys_are_fetched_through_the_configured_http_proxy(
    make_prod_app: AppFactory, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HTTP_PROXY`` is honoured, as by ``urlopen``: a provider reachable only through a proxy still verifies."""
    provider.discovery = {"issuer": provider.base_url, "jwks_uri": "http://idp.example.test/jwks"}
    monkeypatch.setenv("http_proxy", provider.base_url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    app = make_prod_app(OIDC_INSECURE_TRANSPORT=True)

    response = _post_pet(app, provider.sign())

    assert response.status_code == 201, response.json
    assert provider.requests["/jwks"] == 1


def test_a_cached_key_is_used_while_an_early_refresh_waits_for_the_provider(
    prod_app: Flask, provider: Provider
) -> None:
    """A token with an unknown ``kid`` refreshes the keys early; while the provider has not answered that fetch,
    tokens whose key is cached are verified at once rather than queued behind it."""
    assert _post_pet(prod_app, provider.sign()).status_code == 201
    provider.jwks_gate.clear()
    unknown = jwt.encode(provider.claims(), _new_key(), algorithm="RS256", headers={"kid": "unknown"})
    statuses: dict[str, int] = {}

    def post(name: str, token: str) -> None:
        statuses[name] = _post_pet(prod_app, token).status_code

    refreshing = threading.Thread(target=post, args=("unknown", unknown))
    refreshing.start()
    deadline = time.monotonic() + 10
    while provider.requests["/jwks"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    known = threading.Thread(target=post, args=("known", provider.sign()))
    known.start()
    known.join(timeout=5)
    finished_while_held = not known.is_alive()
    provider.jwks_gate.set()
    refreshing.join(timeout=10)
    known.join(timeout=10)

    assert provider.requests["/jwks"] == 2
    assert finished_while_held
    assert statuses == {"known": 201, "unknown": 401}


def test_configured_issuer_with_provider_down_answers_503(make_prod_app: AppFactory, provider: Provider) -> None:
    """With ``OIDC_ISSUER`` set, the issuer check needs no provider, and a key that cannot be fetched is a 503."""
    token = provider.sign()
    forged_issuer = provider.sign(provider.claims(iss="https://evil.example.com"))
    provider.stop()
    app = make_prod_app(OIDC_ISSUER=provider.base_url)

    response = _post_pet(app, token)

    assert response.status_code == 503
    assert response.json["code"] == 503
    _assert_invalid_token(_post_pet(app, forged_issuer), f"is not '{provider.base_url}'")


def test_local_issuer_signs_and_verifies_with_an_ec_key(tmp_path: Path) -> None:
    """A ``testing`` app given an ES256 key pair is its own issuer with that key: its tokens are accepted."""
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    app = example_petstore.create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'ec.sqlite'}",
        JWT_ALGORITHM="ES256",
        JWT_DECODE_ALGORITHMS=["ES256"],
        JWT_PRIVATE_KEY=private_pem,
        JWT_PUBLIC_KEY=public_pem,
    )
    with app.app_context():
        DB.create_all()
        token = create_access_token("tester", additional_claims={"realm_access": {"roles": ["user"]}})

    response = _post_pet(app, token)

    assert response.status_code == 201, response.json
    assert json_body(app.test_client().get("/.well-known/jwks.json"))["keys"][0]["kty"] == "EC"
    with app.app_context():
        DB.engine.dispose()


def test_local_issuer_publishes_the_key_and_issuer_of_its_tokens(app: Flask) -> None:
    """``testing`` is its own issuer: its token verifies with the key and issuer of its served discovery and JWKS."""
    client = app.test_client()
    discovery = json_body(client.get("/.well-known/openid-configuration"))
    jwks = json_body(client.get(discovery["jwks_uri"].removeprefix(discovery["issuer"])))
    with app.app_context():
        token = create_access_token("alice")
    kid = jwt.get_unverified_header(token)["kid"]

    key = next(jwt.PyJWK(jwk) for jwk in jwks["keys"] if jwk["kid"] == kid)
    claims = jwt.decode(token, key, algorithms=["RS256"], issuer=discovery["issuer"])

    assert discovery["issuer"] == "http://public.url"
    assert claims["sub"] == "alice"


def test_prod_does_not_serve_a_local_issuer(prod_app: Flask) -> None:
    """With an identity provider, the service publishes no keys of its own."""
    response = prod_app.test_client().get("/.well-known/jwks.json")

    assert response.status_code == 404
