"""Bearer-token security through HTTP: ``jwt_role_required``'s 401/403/500, the current user and the OIDC provider."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token, get_current_user
from jwt.algorithms import RSAAlgorithm

import example_petstore
import flask_ligand
import flask_ligand.extensions.jwt as jwt_extension
from flask_ligand.extensions.api import Blueprint
from flask_ligand.extensions.database import DB
from flask_ligand.extensions.jwt import JWT, User, jwt_role_required

HeadersFactory = Callable[..., dict[str, str]]
TokenFactory = Callable[..., str]
AppFactory = Callable[..., Flask]

MISSING_HEADER = "Missing Authorization Header"
ROLE_NOT_ALLOWED = "Endpoint required role is not an allowed role!"


def _missing_role(role: str) -> str:
    return f"This endpoint requires the user to have the '{role}' role!"


@pytest.fixture(scope="module")
def foreign_key() -> rsa.RSAPrivateKey:
    """An RSA key the service has never heard of."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _claims(sub: str = "tester", roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The claims of a valid access token for ``sub`` with ``roles`` (``["user"]`` by default)."""
    now = int(time.time())
    return {
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "realm_access": {"roles": ["user"] if roles is None else roles},
        **extra,
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.json
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["code"] == 401
    assert response.json["status"] == "Unauthorized"
    assert response.json["message"]


def _expired(app: Flask) -> str:
    with app.app_context():
        token = create_access_token(
            "tester", expires_delta=timedelta(hours=-1), additional_claims={"realm_access": {"roles": ["user"]}}
        )
    return f"Bearer {token}"


def _alg_none(app: Flask) -> str:
    return f"Bearer {jwt.encode(_claims(), '', algorithm='none')}"


def _hs256(app: Flask) -> str:
    return f"Bearer {jwt.encode(_claims(), 'a-shared-secret-long-enough-for-hmac-sha256!', algorithm='HS256')}"


def _hs256_with_public_key(app: Flask) -> str:
    """The algorithm-confusion attack: an HMAC whose secret is the service's public RSA key."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    secret = app.config["JWT_PUBLIC_KEY"].encode()
    signature = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"Bearer {header}.{payload}.{_b64(signature)}"


#: Bad Authorization headers, each built from the testing app; ``None`` sends no header at all.
BAD_AUTHORIZATIONS: dict[str, Callable[[Flask], str | None]] = {
    "missing": lambda app: None,
    "bearer-alone": lambda app: "Bearer",
    "basic": lambda app: "Basic dGVzdGVyOnNlY3JldA==",
    "garbage": lambda app: "Bearer garbage",
    "three-garbage-segments": lambda app: "Bearer abc.def.ghi",
    "expired": _expired,
    "alg-none": _alg_none,
    "hs256": _hs256,
    "hs256-with-public-key": _hs256_with_public_key,
}


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATIONS))
def test_bad_or_missing_token_returns_401_with_bearer_challenge(app: Flask, client: FlaskClient, case: str) -> None:
    """A missing, malformed, expired or wrongly signed token answers 401 JSON with ``WWW-Authenticate: Bearer``."""
    authorization = BAD_AUTHORIZATIONS[case](app)
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.post("/pets/", json={"name": "Rex"}, headers=headers)

    _assert_unauthorized(response)


def test_forged_token_returns_401(client: FlaskClient, foreign_key: rsa.RSAPrivateKey) -> None:
    """A well-formed RS256 token signed by another key is refused with 401."""
    token = jwt.encode(_claims(roles=["user", "admin"]), foreign_key, algorithm="RS256")

    response = client.post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    _assert_unauthorized(response)


def test_missing_token_message_is_exact(client: FlaskClient) -> None:
    """Without an Authorization header the message is exactly ``Missing Authorization Header``."""
    response = client.post("/pets/", json={"name": "Rex"})

    assert response.json == {"code": 401, "status": "Unauthorized", "message": MISSING_HEADER}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_write_without_token_returns_401_not_428(
    client: FlaskClient, auth_headers: HeadersFactory, method: str
) -> None:
    """PUT or DELETE without a token (and without If-Match) is a 401: authentication comes before preconditions."""
    location = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user")).headers["Location"]

    response = client.open(location, method=method, json={"name": "Max"})

    _assert_unauthorized(response)
    assert response.json["message"] == MISSING_HEADER


@pytest.mark.parametrize(
    ("method", "path", "role"), [("POST", "/pets/", "user"), ("DELETE", f"/pets/{uuid.UUID(int=1)}", "admin")]
)
def test_missing_role_returns_403_naming_it(
    client: FlaskClient, make_token: TokenFactory, method: str, path: str, role: str
) -> None:
    """A valid token without the required role answers 403 with the exact upstream message naming the role."""
    token = make_token(roles=["someone-else"])

    response = client.open(path, method=method, json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json == {"code": 403, "status": "Forbidden", "message": _missing_role(role)}


def test_token_without_roles_claim_returns_403(app: Flask, client: FlaskClient) -> None:
    """A valid token that carries no roles claim at all is a 403, not a 500."""
    with app.app_context():
        token = create_access_token("tester")

    response = client.post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json["message"] == _missing_role("user")


@pytest.mark.parametrize(
    "realm_access",
    [
        {"roles": ["administrator"]},
        {"roles": ["Admin"]},
        {"roles": ["user"]},
        {"roles": "admin-ish"},
        {"roles": "xadmin"},
        {"roles": "user,admin"},
        {"roles": {"admin": True}},
        ["admin"],
        "admin",
    ],
    ids=repr,
)
def test_roles_are_matched_exactly(client: FlaskClient, make_token: TokenFactory, realm_access: Any) -> None:
    """Only a role equal to ``admin`` grants ``admin``: never a substring, another case or another claim shape."""
    token = make_token(roles=(), realm_access=realm_access)

    response = client.delete(f"/pets/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.json["message"] == _missing_role("admin")


@pytest.fixture
def make_roles_app(database_uri: str) -> Iterator[AppFactory]:
    """Build a small ``testing`` app with ``/me`` (role ``user``) and ``/superuser`` (a role outside ALLOWED_ROLES)."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app, api = flask_ligand.create_app(
            __name__, "testing", "Roles", "1.0.0", SQLALCHEMY_DATABASE_URI=database_uri, **settings
        )
        blp = Blueprint("Roles", __name__)

        @blp.route("/me")
        @jwt_role_required("user")
        def me() -> dict[str, Any]:
            user = get_current_user()
            return {"is_user": isinstance(user, User), "id": user.id, "roles": user.roles, "claims": dict(user.claims)}

        @blp.route("/superuser")
        @jwt_role_required("superuser")
        def superuser() -> dict[str, Any]:
            return {}

        api.register_blueprint(blp)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            DB.engine.dispose()


def _token_for(app: Flask, sub: str = "tester", **claims: Any) -> dict[str, str]:
    with app.app_context():
        return {"Authorization": f"Bearer {create_access_token(sub, additional_claims=claims)}"}


def test_role_outside_allowed_roles_returns_500(make_roles_app: AppFactory) -> None:
    """A view requiring a role that is not in ALLOWED_ROLES answers 500 with the exact upstream message."""
    app = make_roles_app()

    response = app.test_client().get("/superuser", headers=_token_for(app, realm_access={"roles": ["superuser"]}))

    assert response.status_code == 500
    assert response.json == {"code": 500, "status": "Internal Server Error", "message": ROLE_NOT_ALLOWED}


def test_role_outside_allowed_roles_is_logged(make_roles_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    """The misconfigured role is logged as an error naming it, for the operator."""
    app = make_roles_app()

    with caplog.at_level(logging.ERROR):
        app.test_client().get("/superuser", headers=_token_for(app, realm_access={"roles": ["user"]}))

    assert any(record.levelno == logging.ERROR and "'superuser'" in record.getMessage() for record in caplog.records)


def test_get_current_user_gives_id_roles_and_claims(make_roles_app: AppFactory) -> None:
    """In a protected view, ``get_current_user()`` is a ``User`` with the token's subject, roles and claims."""
    app = make_roles_app()
    headers = _token_for(app, "alice", realm_access={"roles": ["user", "admin"]}, email="alice@example.com")

    body = app.test_client().get("/me", headers=headers).json

    assert body["is_user"] is True
    assert body["id"] == "alice"
    assert body["roles"] == ["user", "admin"]
    assert body["claims"]["sub"] == "alice"
    assert body["claims"]["email"] == "alice@example.com"


@pytest.mark.parametrize("source", ["keyword", "environment"])
def test_roles_claim_path_is_configurable(
    make_roles_app: AppFactory, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    """``OIDC_ROLES_CLAIM`` names the dotted claim path the roles are read from."""
    if source == "environment":
        monkeypatch.setenv("OIDC_ROLES_CLAIM", "resource_access.petstore.roles")
        app = make_roles_app()
    else:
        app = make_roles_app(OIDC_ROLES_CLAIM="resource_access.petstore.roles")
    headers = _token_for(app, resource_access={"petstore": {"roles": ["user"]}}, realm_access={"roles": ["admin"]})

    response = app.test_client().get("/me", headers=headers)

    assert response.status_code == 200, response.json
    assert response.json["roles"] == ["user"]


def test_default_roles_claim_is_ignored_when_another_is_configured(make_roles_app: AppFactory) -> None:
    """With ``OIDC_ROLES_CLAIM`` set elsewhere, roles under ``realm_access.roles`` grant nothing."""
    app = make_roles_app(OIDC_ROLES_CLAIM="resource_access.petstore.roles")

    response = app.test_client().get("/me", headers=_token_for(app, realm_access={"roles": ["user"]}))

    assert response.status_code == 403
    assert response.json["message"] == _missing_role("user")


def test_upstream_test_setup_accepts_create_access_token(monkeypatch: pytest.MonkeyPatch, database_uri: str) -> None:
    """Replacing ``extensions.jwt.init_app`` with ``JWT.init_app``, as upstream apps' tests do, is enough in testing."""
    monkeypatch.setattr(jwt_extension, "init_app", JWT.init_app)
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri)
    with app.app_context():
        DB.create_all()
        token = create_access_token("tester", additional_claims={"sub": "tester", "realm_access": {"roles": ["user"]}})

    response = app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 201, response.json
    with app.app_context():
        DB.engine.dispose()


class _Provider:
    """A tiny OpenID Connect provider on 127.0.0.1: a discovery document and the JWKS of its own RSA key."""

    kid = "provider-key-1"

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {
            **RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True),
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
        }
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                documents = {
                    "/.well-known/openid-configuration": {
                        "issuer": provider.base_url,
                        "jwks_uri": f"{provider.base_url}/jwks",
                    },
                    "/jwks": {"keys": [jwk]},
                }
                document = documents.get(self.path)
                body = json.dumps(document).encode()
                self.send_response(HTTPStatus.OK if document is not None else HTTPStatus.NOT_FOUND)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.discovery_url = f"{self.base_url}/.well-known/openid-configuration"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        self._running = True

    def sign(self, claims: dict[str, Any], kid: str | None = kid) -> str:
        """A token signed with the provider's key, with ``kid`` in its header."""
        headers = {} if kid is None else {"kid": kid}
        return jwt.encode(claims, self.key, algorithm="RS256", headers=headers)

    def stop(self) -> None:
        """Stop serving and free the port; connections are refused from now on."""
        if self._running:
            self._running = False
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)


@pytest.fixture
def provider() -> Iterator[_Provider]:
    """A running OIDC provider, stopped at teardown."""
    server = _Provider()
    yield server
    server.stop()


@pytest.fixture
def make_prod_app(provider: _Provider, database_uri: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppFactory]:
    """Build the petstore in ``prod`` from environment variables (set while it is created), trusting ``provider``."""
    apps: list[Flask] = []

    def make() -> Flask:
        with monkeypatch.context() as environment:
            for key, value in {
                "SERVICE_PUBLIC_URL": "https://pets.example.com",
                "SERVICE_PRIVATE_URL": "http://pets.internal",
                "ALLOWED_ROLES": "user,admin",
                "OIDC_DISCOVERY_URL": provider.discovery_url,
                "OIDC_HTTP_TIMEOUT": "2",
                "SQLALCHEMY_DATABASE_URI": database_uri,
            }.items():
                environment.setenv(key, value)
            app = example_petstore.create_app("prod")
        with app.app_context():
            DB.create_all()
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            DB.session.remove()
            DB.engine.dispose()


@pytest.fixture
def prod_app(make_prod_app: AppFactory) -> Flask:
    """The petstore in ``prod`` trusting a running ``provider``."""
    return make_prod_app()


def test_prod_accepts_token_signed_by_the_provider(prod_app: Flask, provider: _Provider) -> None:
    """In prod, a token signed with the provider's key (its ``kid`` in the header) is accepted."""
    token = provider.sign(_claims(roles=["user"]))

    response = prod_app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 201, response.json


def test_prod_rejects_token_signed_with_the_testing_dev_key(prod_app: Flask, make_token: TokenFactory) -> None:
    """In prod, a token signed with the development key that ``testing`` trusts is a 401."""
    token = make_token(roles=["user", "admin"])

    response = prod_app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    _assert_unauthorized(response)


def test_prod_rejects_dev_key_token_claiming_the_provider_kid(prod_app: Flask, app: Flask, provider: _Provider) -> None:
    """In prod, a token signed with the development key is a 401 even when it names the provider's ``kid``."""
    token = jwt.encode(_claims(), app.config["JWT_PRIVATE_KEY"], algorithm="RS256", headers={"kid": provider.kid})

    response = prod_app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    _assert_unauthorized(response)


def test_prod_rejects_token_with_unknown_kid(prod_app: Flask, provider: _Provider) -> None:
    """In prod, a token whose ``kid`` the provider does not publish is a 401."""
    token = provider.sign(_claims(), kid="not-a-provider-key")

    response = prod_app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    _assert_unauthorized(response)


def test_prod_app_starts_and_serves_public_endpoint_while_provider_is_down(
    make_prod_app: AppFactory, provider: _Provider
) -> None:
    """With the identity provider down, the prod app still starts and public GET /pets/ answers 200."""
    provider.stop()
    app = make_prod_app()

    response = app.test_client().get("/pets/")

    assert response.status_code == 200
    assert response.json == []


def test_prod_protected_endpoint_answers_503_while_provider_is_down(
    make_prod_app: AppFactory, provider: _Provider
) -> None:
    """With the identity provider down, a protected endpoint answers 503 JSON instead of failing."""
    token = provider.sign(_claims())
    provider.stop()
    app = make_prod_app()

    response = app.test_client().post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 503
    assert response.json["code"] == 503
    assert response.json["status"] == "Service Unavailable"
    assert response.json["message"]
