"""Bearer-token security through HTTP: token checks, ``jwt_role_required``'s 401/403/500, roles and the current user."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token

import example_petstore
import flask_ligand
import flask_ligand.extensions.jwt as jwt_extension
from flask_ligand.extensions.api import Blueprint
from flask_ligand.extensions.database import DB
from flask_ligand.extensions.jwt import JWT, User, get_current_user, jwt_role_required, jwt_roles_required
from flask_ligand.testing import created_app, json_body

HeadersFactory = Callable[..., dict[str, str]]
TokenFactory = Callable[..., str]
AppFactory = Callable[..., Flask]

MISSING_HEADER = "Missing Authorization Header"
ROLE_NOT_ALLOWED = "Endpoint required role is not an allowed role!"


def _missing_role(role: str) -> str:
    return f"This endpoint requires the user to have the '{role}' role!"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The petstore in ``testing`` on a SQLite file (token checks do not depend on the database)."""
    with created_app(
        example_petstore.create_app, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'testing.sqlite'}"
    ) as app:
        yield app


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """A SQLite file of this test's own."""
    return f"sqlite:///{tmp_path / 'roles.sqlite'}"


@pytest.fixture(scope="module")
def foreign_key() -> rsa.RSAPrivateKey:
    """An RSA key the service has never heard of."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _claims(sub: str = "tester", roles: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """The claims of a valid access token of the ``testing`` issuer for ``sub`` with ``roles`` (``["user"]``)."""
    now = int(time.time())
    return {
        "iss": "http://public.url",
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


def _error_body(response: Any) -> dict[str, Any]:
    """The standard fields of an error body, without the request id that logging may add."""
    return {key: response.json[key] for key in ("code", "status", "message") if key in response.json}


def _signed(app: Flask, claims: dict[str, Any], **headers: Any) -> str:
    """A token signed with the ``testing`` development key, with its ``kid`` unless ``headers`` say otherwise."""
    with app.app_context():
        kid = jwt.get_unverified_header(create_access_token("tester"))["kid"]
    return jwt.encode(claims, app.config["JWT_PRIVATE_KEY"], algorithm="RS256", headers={"kid": kid, **headers})


def _payload_tampered(app: Flask) -> str:
    """A valid ``user`` token whose payload was edited to claim ``admin`` as well."""
    header, _, signature = _signed(app, _claims()).split(".")
    payload = _b64(json.dumps(_claims(roles=["user", "admin"])).encode())
    return f"{header}.{payload}.{signature}"


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

#: Tokens refused with 401 ``invalid_token``, and a fragment of the message telling the developer why.
REFUSED_TOKENS: dict[str, tuple[Callable[[Flask], str], str]] = {
    "expired": (lambda app: _expired(app).removeprefix("Bearer "), "has expired"),
    "not-yet-valid": (lambda app: _signed(app, _claims(nbf=int(time.time()) + 3600)), "not yet valid"),
    "without-exp": (
        lambda app: _signed(app, {key: value for key, value in _claims().items() if key != "exp"}),
        '"exp"',
    ),
    "without-iat": (
        lambda app: _signed(app, {key: value for key, value in _claims().items() if key != "iat"}),
        '"iat"',
    ),
    "wrong-issuer": (lambda app: _signed(app, _claims(iss="https://evil.example.com")), "issuer (iss)"),
    "no-issuer": (
        lambda app: _signed(app, {key: value for key, value in _claims().items() if key != "iss"}),
        "issuer (iss)",
    ),
    "audience-nobody-configured": (lambda app: _signed(app, _claims(aud="another-service")), "JWT_DECODE_AUDIENCE"),
    "alg-none": (lambda app: _alg_none(app).removeprefix("Bearer "), "algorithm (alg) is not accepted"),
    "hs256-with-public-key": (
        lambda app: _hs256_with_public_key(app).removeprefix("Bearer "),
        "algorithm (alg) is not accepted",
    ),
    "unknown-kid": (lambda app: _signed(app, _claims(), kid="some-other-key"), "signing key (kid)"),
    "payload-tampered": (_payload_tampered, "Signature verification failed"),
    "garbage-header": (lambda app: "e30K!." + _signed(app, _claims()).split(".", 1)[1], "header"),
}


@pytest.mark.parametrize("case", list(REFUSED_TOKENS))
def test_refused_token_returns_401_invalid_token_saying_why(app: Flask, client: FlaskClient, case: str) -> None:
    """Each refused token answers 401 ``invalid_token`` whose message says what was wrong, without quoting it."""
    make, fragment = REFUSED_TOKENS[case]
    token = make(app)

    response = client.delete(f"/pets/{uuid.uuid4()}", headers={"Authorization": f"Bearer {token}"})

    _assert_unauthorized(response)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert fragment in json_body(response)["message"]
    assert all(segment not in response.get_data(as_text=True) for segment in token.split(".") if len(segment) > 8)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_bearer_scheme_is_case_insensitive(client: FlaskClient, make_token: TokenFactory, scheme: str) -> None:
    """The ``Bearer`` scheme is accepted in any case (RFC 6750 and RFC 7235)."""
    response = client.post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"{scheme} {make_token()}"})

    assert response.status_code == 201, response.json


def test_configured_audience_is_required(make_roles_app: AppFactory) -> None:
    """With ``JWT_DECODE_AUDIENCE``, a token for another audience is a 401 naming the accepted one."""
    app = make_roles_app(JWT_DECODE_AUDIENCE="petstore")
    token = _signed(app, _claims(aud=["another-service"]))

    response = app.test_client().get("/me", headers={"Authorization": f"Bearer {token}"})

    _assert_unauthorized(response)
    assert "audience (aud) is not 'petstore'" in json_body(response)["message"]


def test_configured_audience_is_accepted_and_put_into_development_tokens(make_roles_app: AppFactory) -> None:
    """With ``JWT_DECODE_AUDIENCE``, tokens the service mints carry that audience and are accepted."""
    app = make_roles_app(JWT_DECODE_AUDIENCE="petstore")
    headers = _token_for(app, realm_access={"roles": ["user"]})

    response = app.test_client().get("/me", headers=headers)

    assert response.status_code == 200, response.json
    assert json_body(response)["claims"]["aud"] == "petstore"


@pytest.mark.parametrize("algorithms", [["HS256"], ["RS256", "none"], []], ids=repr)
def test_symmetric_or_no_algorithm_is_a_configuration_error(tmp_path: Path, algorithms: list[str]) -> None:
    """``JWT_DECODE_ALGORITHMS`` naming ``none``, an HMAC algorithm or nothing refuses to start, naming the setting."""
    with pytest.raises(flask_ligand.ConfigurationError, match="JWT_DECODE_ALGORITHMS"):
        flask_ligand.create_app(__name__, "testing", "Algorithms", "1.0.0", JWT_DECODE_ALGORITHMS=algorithms)


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

    assert _error_body(response) == {"code": 401, "status": "Unauthorized", "message": MISSING_HEADER}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_write_without_token_returns_401_not_428(
    client: FlaskClient, auth_headers: HeadersFactory, method: str
) -> None:
    """PUT or DELETE without a token (and without If-Match) is a 401: authentication comes before preconditions."""
    location = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user")).headers["Location"]

    response = client.open(location, method=method, json={"name": "Max"})

    _assert_unauthorized(response)
    assert json_body(response)["message"] == MISSING_HEADER


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
    assert _error_body(response) == {"code": 403, "status": "Forbidden", "message": _missing_role(role)}


def test_token_without_roles_claim_returns_403(app: Flask, client: FlaskClient) -> None:
    """A valid token that carries no roles claim at all is a 403, not a 500."""
    with app.app_context():
        token = create_access_token("tester")

    response = client.post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert json_body(response)["message"] == _missing_role("user")


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
    assert json_body(response)["message"] == _missing_role("admin")


@pytest.fixture
def make_roles_app(database_uri: str) -> Iterator[AppFactory]:
    """Build a small ``testing`` app with ``/me`` (role ``user``), ``/superuser`` (a role outside ALLOWED_ROLES),
    ``/any`` (``user`` or ``admin``), ``/all`` (``user`` and ``admin``) and a public ``/whoami``."""
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

        @blp.route("/any")
        @jwt_roles_required(any_of=["user", "admin"])
        def any_role() -> dict[str, Any]:
            """Answer callers with one of the roles."""
            return {}

        @blp.route("/all")
        @jwt_roles_required(all_of=["user", "admin"])
        def all_roles() -> dict[str, Any]:
            """Answer callers with both roles."""
            return {}

        @blp.route("/whoami")
        def whoami() -> dict[str, Any]:
            user = get_current_user()
            return {"id": user.id, "roles": user.roles}

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


@pytest.mark.parametrize(
    ("path", "roles", "status", "message"),
    [
        ("/any", ["user"], 200, None),
        ("/any", ["admin"], 200, None),
        ("/any", ["guest"], 403, "This endpoint requires the user to have one of the roles 'user', 'admin'!"),
        ("/all", ["user", "admin"], 200, None),
        ("/all", ["admin"], 403, _missing_role("user")),
        ("/all", [], 403, "This endpoint requires the user to have the roles 'user', 'admin'!"),
    ],
)
def test_any_of_and_all_of_role_requirements(
    make_roles_app: AppFactory, path: str, roles: list[str], status: int, message: str | None
) -> None:
    """``any_of`` needs one of the roles and ``all_of`` every one; a 403 names what is missing."""
    app = make_roles_app()

    response = app.test_client().get(path, headers=_token_for(app, realm_access={"roles": roles}))

    assert response.status_code == status, response.json
    if message is not None:
        assert _error_body(response) == {"code": 403, "status": "Forbidden", "message": message}


def test_roles_required_without_roles_is_a_programming_error() -> None:
    """``jwt_roles_required()`` naming no role at all raises ``ValueError`` when the view is declared."""
    with pytest.raises(ValueError, match="at least one role"):
        jwt_roles_required()


def test_get_current_user_in_a_public_view_verifies_the_token(make_roles_app: AppFactory) -> None:
    """``get_current_user()`` in an undecorated view returns the caller of a valid token."""
    app = make_roles_app()

    response = app.test_client().get("/whoami", headers=_token_for(app, "bob", realm_access={"roles": ["admin"]}))

    assert response.json == {"id": "bob", "roles": ["admin"]}


def test_get_current_user_without_token_returns_401(make_roles_app: AppFactory) -> None:
    """``get_current_user()`` in an undecorated view without a token answers 401 ``Missing Authorization Header``."""
    response = make_roles_app().test_client().get("/whoami")

    _assert_unauthorized(response)
    assert json_body(response)["message"] == MISSING_HEADER


def test_openapi_shows_bearer_scheme_and_roles_per_operation(make_roles_app: AppFactory) -> None:
    """The spec declares the bearer scheme; each protected operation requires it and names its roles."""
    spec = json_body(make_roles_app().test_client().get("/openapi/api-spec.json"))

    any_role, public = spec["paths"]["/any"]["get"], spec["paths"]["/whoami"]["get"]

    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert any_role["security"] == [{"bearerAuth": []}]
    assert "`user`" in any_role["description"] and "`admin`" in any_role["description"]
    assert {"401", "403"} <= set(any_role["responses"])
    assert "security" not in public


@pytest.mark.parametrize(
    ("claim", "claims"),
    [
        ("realm_access.roles", {"realm_access": {"roles": ["user"]}}),
        ("resource_access.petstore.roles", {"resource_access": {"petstore": {"roles": ["user"]}}}),
        ("resource_access.pets.api.roles", {"resource_access": {"pets.api": {"roles": ["user"]}}}),
        ("roles", {"roles": ["user"]}),
        ("https://pets.example.com/roles", {"https://pets.example.com/roles": ["user"]}),
        ("groups", {"groups": "user"}),
    ],
    ids=["keycloak-realm", "keycloak-client", "keycloak-dotted-client", "flat", "namespaced", "single-string"],
)
def test_roles_come_from_the_configured_claim(make_roles_app: AppFactory, claim: str, claims: dict[str, Any]) -> None:
    """``OIDC_ROLES_CLAIM`` reads Keycloak realm or client roles, a flat claim or a namespaced (URL) claim."""
    app = make_roles_app(OIDC_ROLES_CLAIM=claim)

    response = app.test_client().get("/me", headers=_token_for(app, **claims))

    assert response.status_code == 200, response.json
    assert json_body(response)["roles"] == ["user"]


def test_role_outside_allowed_roles_returns_500(make_roles_app: AppFactory) -> None:
    """A view requiring a role that is not in ALLOWED_ROLES answers 500 with the exact upstream message."""
    app = make_roles_app()

    response = app.test_client().get("/superuser", headers=_token_for(app, realm_access={"roles": ["superuser"]}))

    assert response.status_code == 500
    assert _error_body(response) == {"code": 500, "status": "Internal Server Error", "message": ROLE_NOT_ALLOWED}


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

    body = json_body(app.test_client().get("/me", headers=headers))

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
    assert json_body(response)["roles"] == ["user"]


def test_default_roles_claim_is_ignored_when_another_is_configured(make_roles_app: AppFactory) -> None:
    """With ``OIDC_ROLES_CLAIM`` set elsewhere, roles under ``realm_access.roles`` grant nothing."""
    app = make_roles_app(OIDC_ROLES_CLAIM="resource_access.petstore.roles")

    response = app.test_client().get("/me", headers=_token_for(app, realm_access={"roles": ["user"]}))

    assert response.status_code == 403
    assert json_body(response)["message"] == _missing_role("user")


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
