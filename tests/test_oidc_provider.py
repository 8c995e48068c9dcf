"""The petstore on a real server against a real, certified OpenID provider (the npm package ``oidc-provider``).

``tests/idp/provider.mjs`` runs it on 127.0.0.1 with the client-credentials grant, RS256 JWT access tokens for an
audience, and Keycloak-style ``realm_access.roles`` per client. Its signing keys are made here, so a test can rotate
them by restarting the provider on the same port, and the service is never restarted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from jwt.algorithms import RSAAlgorithm

import example_petstore
from flask_ligand.extensions.database import DB
from tests.conftest import REPO_ROOT
from tests.servers import free_port, require, serve

IDP_DIR = REPO_ROOT / "tests" / "idp"
AUDIENCE = "https://pets.example.test"
OTHER_AUDIENCE = "https://other-service.example.test"
#: The provider's clients and the realm roles their tokens carry (see provider.mjs).
CLIENTS = {"no-roles": [], "user": ["user"], "admin": ["user", "admin"]}
#: Bound on every wait for a process or a server.
DEADLINE_SECONDS = 20


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any


def call(method: str, url: str, token: str | None = None, body: Any = None, **headers: str) -> Response:
    """Send one HTTP request (JSON in, JSON out) and return its status, headers and decoded body."""
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, answer_headers, raw = answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        status, answer_headers, raw = error.code, dict(error.headers), error.read()
    return Response(status, answer_headers, json.loads(raw) if raw else None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IdentityProvider:
    """``tests/idp/provider.mjs`` in a Node process, with signing keys this test controls.

    ``keys`` maps each published ``kid`` to its private key; the first one signs. ``start`` writes them as the
    provider's JWKS and (re)starts it on the same port.
    """

    def __init__(self, node: str, workdir: Path) -> None:
        self.node = node
        self.workdir = workdir
        self.port = free_port()
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def new_key(self) -> str:
        """Add a new key in front of the others (it signs from the next start on); return its ``kid``."""
        kid = f"key-{len(self.keys) + 1}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys = {kid: key, **self.keys}
        return kid

    def start(self) -> None:
        """Start the provider with the current keys and wait until it serves its discovery document."""
        self.stop()
        self._starts += 1
        jwks = {
            "keys": [
                {**RSAAlgorithm.to_jwk(key, as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}
                for kid, key in self.keys.items()
            ]
        }
        jwks_file = self.workdir / f"jwks-{self._starts}.json"
        jwks_file.write_text(json.dumps(jwks))
        log = (self.workdir / f"provider-{self._starts}.log").open("wb")
        environment = {
            **os.environ,
            "IDP_PORT": str(self.port),
            "IDP_JWKS_FILE": str(jwks_file),
            "IDP_AUDIENCE": AUDIENCE,
        }
        self._process = subprocess.Popen(
            [self.node, str(IDP_DIR / "provider.mjs")], cwd=IDP_DIR, env=environment, stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                output = (self.workdir / f"provider-{self._starts}.log").read_text()
                pytest.fail(f"oidc-provider exited with {self._process.returncode}:\n{output}")
            try:
                if call("GET", self.discovery_url).status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"oidc-provider did not answer at {self.discovery_url} within {DEADLINE_SECONDS} s")

    def stop(self) -> None:
        """Stop the provider process, if running."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        self._process = None

    def token(self, client: str, resource: str | None = None) -> str:
        """An access token for ``client`` from the provider's token endpoint (client-credentials grant)."""
        form = {"grant_type": "client_credentials", **({"resource": resource} if resource else {})}
        secret = base64.b64encode(f"{client}:{client}-secret".encode()).decode()
        request = urllib.request.Request(
            f"{self.issuer}/token",
            data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {secret}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            token: str = json.load(answer)["access_token"]
        return token

    def sign(self, claims: dict[str, Any], kid: str | None = None) -> str:
        """A token signed with one of the provider's keys (the signing one by default)."""
        kid = kid or next(iter(self.keys))
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid, "typ": "at+jwt"})


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js with the provider's pinned packages installed by ``npm ci`` (once, when the lockfile changed)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    require(node is not None and npm is not None, "Node.js and npm are needed to run the oidc-provider tests")
    assert node is not None and npm is not None
    installed = IDP_DIR / "node_modules" / ".package-lock.json"
    lockfile = IDP_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=IDP_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, f"npm ci failed in {IDP_DIR}:\n{result.stdout}\n{result.stderr}"
    return node


@contextmanager
def identity_provider(node: str, workdir: Path, *, started: bool = True) -> Iterator[IdentityProvider]:
    """An ``IdentityProvider`` with one key, started unless ``started`` is false; stopped on exit."""
    provider = IdentityProvider(node, workdir)
    provider.new_key()
    try:
        if started:
            provider.start()
        yield provider
    finally:
        provider.stop()


@contextmanager
def petstore(provider: IdentityProvider, database: Path, **settings: Any) -> Iterator[str]:
    """The petstore in ``prod`` trusting ``provider``, on a real server; yields its base URL."""
    app: Flask = example_petstore.create_app(
        "prod",
        SERVICE_PUBLIC_URL="https://pets.example.test",
        SERVICE_PRIVATE_URL="http://pets.internal",
        ALLOWED_ROLES=["user", "admin"],
        OIDC_DISCOVERY_URL=provider.discovery_url,
        OIDC_HTTP_TIMEOUT=2,
        JWT_DECODE_AUDIENCE=AUDIENCE,
        JWT_DECODE_LEEWAY=0,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{database}",
        PAGINATION_CURSOR_SECRET="a-cursor-secret-for-the-tests",
        **settings,
    )
    with app.app_context():
        DB.create_all()
    try:
        with serve(app) as base_url:
            yield base_url
    finally:
        with app.app_context():
            DB.session.remove()
            DB.engine.dispose()


@dataclass
class Deployment:
    provider: IdentityProvider
    base_url: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def deployment(node: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The provider and the petstore trusting it, shared by the read-only tests of this module."""
    workdir = tmp_path_factory.mktemp("idp")
    with identity_provider(node, workdir) as provider, petstore(provider, workdir / "pets.sqlite") as base_url:
        yield Deployment(provider, base_url, {client: provider.token(client) for client in CLIENTS})


def _create_pet(deployment: Deployment) -> tuple[str, str]:
    """Create a pet as ``admin``; return its URL and ETag."""
    created = call("POST", f"{deployment.base_url}/pets/", deployment.tokens["admin"], {"name": "Rex"})
    assert created.status == 201, created.body
    location = f"{deployment.base_url}/pets/{created.body['id']}"
    return location, call("GET", location).headers["ETag"]


#: Expected status per endpoint for a caller: anonymous, or a client of the provider.
EXPECTED_STATUSES = {
    None: {"list": 200, "create": 401, "get": 200, "replace": 401, "delete": 401},
    "no-roles": {"list": 200, "create": 403, "get": 200, "replace": 403, "delete": 403},
    "user": {"list": 200, "create": 201, "get": 200, "replace": 200, "delete": 403},
    "admin": {"list": 200, "create": 201, "get": 200, "replace": 200, "delete": 204},
}


@pytest.mark.parametrize("client", list(EXPECTED_STATUSES), ids=lambda client: client or "anonymous")
def test_each_role_combination_gets_the_expected_status_on_every_endpoint(
    deployment: Deployment, client: str | None
) -> None:
    """Anonymous, no-roles, ``user`` and ``user``+``admin`` callers get exactly their status on every endpoint."""
    token = None if client is None else deployment.tokens[client]
    pets = f"{deployment.base_url}/pets/"
    location, etag = _create_pet(deployment)

    statuses = {
        "list": call("GET", pets, token).status,
        "create": call("POST", pets, token, {"name": "Max"}).status,
        "get": call("GET", location, token).status,
        "replace": call("PUT", location, token, {"name": "Max"}, **{"If-Match": etag}).status,
    }
    statuses["delete"] = call("DELETE", location, token, **{"If-Match": call("GET", location).headers["ETag"]}).status

    assert statuses == EXPECTED_STATUSES[client]


def test_refusals_name_the_missing_role(deployment: Deployment) -> None:
    """A ``user`` token deleting a pet gets the upstream 403 message naming ``admin``."""
    location, etag = _create_pet(deployment)

    response = call("DELETE", location, deployment.tokens["user"], **{"If-Match": etag})

    assert response.status == 403
    assert response.body["message"] == "This endpoint requires the user to have the 'admin' role!"


def _real_claims(deployment: Deployment, client: str = "admin") -> dict[str, Any]:
    """The claims of a real token the provider issued to ``client``."""
    claims: dict[str, Any] = jwt.decode(deployment.tokens[client], options={"verify_signature": False})
    return claims


def _wrong_issuer(deployment: Deployment) -> str:
    return deployment.provider.sign({**_real_claims(deployment), "iss": "http://127.0.0.1:1/another-issuer"})


def _alg_none(deployment: Deployment) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": next(iter(deployment.provider.keys))}).encode())
    return f"{header}.{_b64(json.dumps(_real_claims(deployment)).encode())}."


def _hs256_with_public_key(deployment: Deployment) -> str:
    """The algorithm-confusion attack: an HMAC whose secret is the provider's public key, as PEM."""
    public_key = next(iter(deployment.provider.keys.values())).public_key()
    secret = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": next(iter(deployment.provider.keys))}).encode())
    payload = _b64(json.dumps(_real_claims(deployment)).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _unknown_key(deployment: Deployment) -> str:
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_real_claims(deployment), foreign, algorithm="RS256", headers={"kid": "not-the-provider's"})


def _tampered(deployment: Deployment) -> str:
    """A real ``user`` token whose payload was edited to claim ``admin`` too."""
    header, payload, signature = deployment.tokens["user"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"]["roles"].append("admin")
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _garbage_header(deployment: Deployment) -> str:
    return "!!not-a-header!!." + deployment.tokens["admin"].split(".", 1)[1]


#: Tokens the service must refuse, with a fragment of the message that says why.
REFUSED: dict[str, tuple[Callable[[Deployment], str], str]] = {
    "wrong-issuer": (_wrong_issuer, "issuer (iss)"),
    "wrong-audience": (lambda d: d.provider.token("admin", resource=OTHER_AUDIENCE), "audience (aud)"),
    "alg-none": (_alg_none, "algorithm (alg) is not accepted"),
    "hs256-with-public-key": (_hs256_with_public_key, "algorithm (alg) is not accepted"),
    "unknown-key": (_unknown_key, "signing key (kid)"),
    "tampered-payload": (_tampered, "Signature verification failed"),
    "garbage-header": (_garbage_header, "header"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_token_is_refused_with_401_saying_why(deployment: Deployment, case: str) -> None:
    """Each bad token gets 401 ``invalid_token`` with a message that says what is wrong and does not quote it."""
    make, fragment = REFUSED[case]
    token = make(deployment)
    location, etag = _create_pet(deployment)

    response = call("DELETE", location, token, **{"If-Match": etag})

    assert response.status == 401, response.body
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert fragment in response.body["message"]
    assert token.split(".")[1] not in json.dumps(response.body)
    assert call("GET", location).status == 200


def test_expired_token_is_refused(deployment: Deployment) -> None:
    """A token the provider issued with a one-second lifetime is refused once it has expired."""
    token = deployment.provider.token("short-lived")
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires_at - time.time()) + 0.2)

    response = call("POST", f"{deployment.base_url}/pets/", token, {"name": "Rex"})

    assert response.status == 401, response.body
    assert response.body["message"] == "The bearer token has expired; get a new one."


def test_key_rotation_is_accepted_without_restart_and_retired_key_refused_after_cache_lifetime(
    node: str, tmp_path: Path
) -> None:
    """New key signs new tokens at once; a token of the retired key works until the provider drops it and the
    cache lifetime has passed, then it is refused, all without restarting the service."""
    with (
        identity_provider(node, tmp_path) as provider,
        petstore(provider, tmp_path / "pets.sqlite", OIDC_JWKS_CACHE_SECONDS=1, OIDC_JWKS_MIN_REFRESH_SECONDS=0) as url,
    ):
        old_token = provider.token("user")
        assert call("POST", f"{url}/pets/", old_token, {"name": "Before"}).status == 201

        new_kid = provider.new_key()
        provider.start()  # the new key signs; the old one is still published
        new_token = provider.token("user")
        assert jwt.get_unverified_header(new_token)["kid"] == new_kid
        assert call("POST", f"{url}/pets/", new_token, {"name": "After"}).status == 201
        assert call("POST", f"{url}/pets/", old_token, {"name": "Old"}).status == 201

        provider.keys = {new_kid: provider.keys[new_kid]}
        provider.start()  # the old key is retired
        time.sleep(1.2)

        refused = call("POST", f"{url}/pets/", old_token, {"name": "Old"})
        accepted = call("POST", f"{url}/pets/", new_token, {"name": "New"})

    assert refused.status == 401, refused.body
    assert "signing key (kid)" in refused.body["message"]
    assert accepted.status == 201, accepted.body


def test_service_starts_while_provider_is_down_and_recovers_when_it_comes_back(node: str, tmp_path: Path) -> None:
    """With the provider down at start-up, public endpoints answer, protected ones answer 503 JSON, and both
    work by themselves once the provider is up."""
    with identity_provider(node, tmp_path, started=False) as provider:
        now = int(time.time())
        token = provider.sign(
            {
                "iss": provider.issuer,
                "sub": "user",
                "aud": AUDIENCE,
                "iat": now,
                "exp": now + 300,
                "realm_access": {"roles": ["user"]},
            }
        )
        with petstore(provider, tmp_path / "pets.sqlite", OIDC_JWKS_MIN_REFRESH_SECONDS=0) as url:
            public = call("GET", f"{url}/pets/")
            protected = call("POST", f"{url}/pets/", token, {"name": "Rex"})

            provider.start()
            recovered = call("POST", f"{url}/pets/", provider.token("user"), {"name": "Rex"})
            same_token = call("POST", f"{url}/pets/", token, {"name": "Max"})

    assert public.status == 200
    assert protected.status == 503
    assert protected.body["code"] == 503 and protected.body["status"] == "Service Unavailable"
    assert recovered.status == 201, recovered.body
    assert same_token.status == 201, same_token.body
