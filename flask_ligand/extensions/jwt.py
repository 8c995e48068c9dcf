"""Bearer-token security: ``JWT`` (flask-jwt-extended), the current ``User`` and the role decorators.

Every token is checked by :func:`flask_ligand.extensions.oidc.check_token` against the trusted issuer (the OpenID
Connect provider, or the service itself in ``local`` and ``testing``). Every failure answers with the standard JSON
error body: 401 with a ``WWW-Authenticate: Bearer`` challenge for a missing or bad token, 403 for a missing role.
The callbacks are registered on ``JWT`` itself, so an app's tests that bind ``JWT.init_app`` directly get the same
behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar, cast

import flask_jwt_extended
from flask import Response, current_app, g, request
from flask_jwt_extended import JWTManager, verify_jwt_in_request

from flask_ligand.devkeys import key_id
from flask_ligand.errors import abort as abort
from flask_ligand.errors import error_response
from flask_ligand.extensions import oidc
from flask_ligand.spec import AUTHORIZE_ATTRIBUTE, ROLES_ATTRIBUTE
from flask_ligand.views import issuer as issuer_views

if TYPE_CHECKING:
    import jwt as pyjwt
    from flask import Flask

_LOG = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])

JWT = JWTManager()

ROLE_NOT_ALLOWED = "Endpoint required role is not an allowed role!"
MISSING_ROLE = "This endpoint requires the user to have the '{role}' role!"
MISSING_ROLES = "This endpoint requires the user to have the roles {roles}!"
MISSING_ANY_ROLE = "This endpoint requires the user to have one of the roles {roles}!"


@dataclass
class User:
    """The authenticated caller, as :func:`get_current_user` returns it.

    Attributes:
        id: The token's subject (``sub``).
        roles: The caller's roles, read from ``OIDC_ROLES_CLAIM``.
        claims: Every claim of the verified token.
    """

    id: str
    roles: list[str]
    claims: Mapping[str, Any] = field(default_factory=dict)

    def has_roles(self, all_of: Iterable[str] = (), any_of: Collection[str] = ()) -> bool:
        """Whether the user has every role of ``all_of`` and, when ``any_of`` is not empty, one of ``any_of``."""
        held = set(self.roles)
        return held.issuperset(all_of) and (not any_of or not held.isdisjoint(any_of))


def get_current_user() -> User:
    """The caller of the current request; verifies the bearer token first when no decorator has.

    Raises:
        flask_jwt_extended.exceptions.NoAuthorizationError: No token (answered 401, like every bad token).
    """
    try:
        user = flask_jwt_extended.get_current_user()
    except RuntimeError:  # flask-jwt-extended's way of saying that no token was verified in this request
        user = None
    if user is None:
        _normalise_bearer_scheme()
        verify_jwt_in_request()
        user = flask_jwt_extended.get_current_user()
    return cast(User, user)


def jwt_role_required(role: str) -> Callable[[_F], _F]:
    """Restrict a view to callers whose token carries ``role``.

    Answers 401 without a valid token, 403 when the role is missing, and 500 when ``role`` is not one of
    ``ALLOWED_ROLES`` (a programming error, logged). OpenAPI shows the operation's bearer scheme and role.
    """
    return jwt_roles_required(all_of=[role])


def jwt_roles_required(*, all_of: Iterable[str] = (), any_of: Iterable[str] = ()) -> Callable[[_F], _F]:
    """Restrict a view to callers having every role of ``all_of`` and at least one of ``any_of``.

    Behaves as :func:`jwt_role_required` otherwise; the 403 message names the missing roles.

    Raises:
        ValueError: Neither ``all_of`` nor ``any_of`` names a role.
    """
    required_all, required_any = _roles(all_of), _roles(any_of)
    if not required_all and not required_any:
        raise ValueError("jwt_roles_required needs at least one role in all_of or any_of.")
    requirement = (required_all, required_any)

    def authorize() -> None:
        authorized: set[tuple[tuple[str, ...], tuple[str, ...]]] = g.setdefault("_ligand_authorized", set())
        if requirement in authorized:
            return
        _normalise_bearer_scheme()
        verify_jwt_in_request()
        allowed = current_app.config["ALLOWED_ROLES"] or ()
        unknown = [role for role in (*required_all, *required_any) if role not in allowed]
        if unknown:
            _LOG.error("View requires role '%s', which is not in ALLOWED_ROLES.", "', '".join(unknown))
            abort(HTTPStatus.INTERNAL_SERVER_ERROR, ROLE_NOT_ALLOWED)
        user = get_current_user()
        missing = [role for role in required_all if role not in user.roles]
        if len(missing) == 1:
            abort(HTTPStatus.FORBIDDEN, MISSING_ROLE.format(role=missing[0]))
        if missing:
            abort(HTTPStatus.FORBIDDEN, MISSING_ROLES.format(roles=_quoted(missing)))
        if not user.has_roles(any_of=required_any):
            abort(HTTPStatus.FORBIDDEN, MISSING_ANY_ROLE.format(roles=_quoted(required_any)))
        authorized.add(requirement)

    # What OpenAPI shaping (flask_ligand.spec) reads to document the operation's roles.
    setattr(authorize, ROLES_ATTRIBUTE, (*required_all, *required_any))
    authorize.all_of = required_all  # type: ignore[attr-defined]
    authorize.any_of = required_any  # type: ignore[attr-defined]

    def decorator(fn: _F) -> _F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize()
            return fn(*args, **kwargs)

        setattr(wrapper, AUTHORIZE_ATTRIBUTE, authorize)
        return cast(_F, wrapper)

    return decorator


def roles_from_claims(claims: Mapping[str, Any], path: str = "realm_access.roles") -> list[str]:
    """Read the roles at a claim ``path``; anything but a list of strings (or one string) is no roles.

    The path is a claim name or dot-separated names into nested objects (``resource_access.petstore.roles``). A
    name may itself contain dots: at each level the longest name present is taken, so a namespaced claim such as
    Auth0's ``https://example.com/roles`` or a Keycloak client id such as ``pets.api`` works as it is. Roles are
    compared exactly afterwards, so a string claim is never searched for substrings.
    """
    value = _lookup(claims, path.split("."))
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def init_app(app: Flask) -> None:
    """Bind ``JWT`` to ``app`` and attach its trusted issuer; a service that is its own issuer publishes its keys."""
    oidc.init_app(app)
    if not app.config.get("OIDC_DISCOVERY_URL") and app.config.get("JWT_PUBLIC_KEY"):
        app.register_blueprint(issuer_views.BLP)
    JWT.init_app(app)


def _lookup(value: Any, parts: list[str]) -> Any:
    if not parts:
        return value
    if not isinstance(value, Mapping):
        return None
    for length in range(len(parts), 0, -1):
        name = ".".join(parts[:length])
        if name in value:
            found = _lookup(value[name], parts[length:])
            if found is not None:
                return found
    return None


def _roles(roles: Iterable[str]) -> tuple[str, ...]:
    return (roles,) if isinstance(roles, str) else tuple(roles)


def _quoted(roles: Iterable[str]) -> str:
    return ", ".join(f"'{role}'" for role in roles)


def _normalise_bearer_scheme() -> None:
    """Accept the scheme in any case (RFC 7235 §2.1); flask-jwt-extended compares it case-sensitively."""
    header_type = current_app.config.get("JWT_HEADER_TYPE")
    environ_key = "HTTP_" + str(current_app.config.get("JWT_HEADER_NAME", "Authorization")).upper().replace("-", "_")
    scheme, _, credentials = request.environ.get(environ_key, "").strip().partition(" ")
    if header_type and scheme != header_type and scheme.lower() == str(header_type).lower():
        request.environ[environ_key] = f"{header_type} {credentials.strip()}"


@JWT.user_lookup_loader
def _load_user(_header: dict[str, Any], claims: dict[str, Any]) -> User:
    path = current_app.config.get("OIDC_ROLES_CLAIM") or "realm_access.roles"
    return User(id=str(claims.get("sub", "")), roles=roles_from_claims(claims, path), claims=claims)


@JWT.decode_key_loader
def _decode_key(header: dict[str, Any], claims: dict[str, Any]) -> pyjwt.PyJWK:
    return oidc.check_token(header, claims)


@JWT.additional_headers_loader
def _signing_key_id(_identity: Any) -> dict[str, str]:
    config = current_app.config
    public_pem = config.get("JWT_PUBLIC_KEY")
    return {"kid": key_id(public_pem, config.get("JWT_ALGORITHM", "RS256"))} if public_pem else {}


def _unauthorized(message: str, error: str | None = None) -> Response:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return error_response(HTTPStatus.UNAUTHORIZED, message, {"WWW-Authenticate": challenge})


@JWT.unauthorized_loader
def _missing_token(reason: str) -> Response:
    return _unauthorized(reason)


@JWT.invalid_token_loader
def _invalid_token(reason: str) -> Response:
    return _unauthorized(f"The bearer token is invalid: {reason.rstrip('.')}.", "invalid_token")


@JWT.expired_token_loader
def _expired_token(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return _unauthorized("The bearer token has expired; get a new one.", "invalid_token")


@JWT.revoked_token_loader
def _revoked_token(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return _unauthorized("The bearer token has been revoked.", "invalid_token")


@JWT.needs_fresh_token_loader
def _stale_token(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return _unauthorized("This endpoint needs a fresh token.", "invalid_token")


@JWT.token_verification_failed_loader
def _failed_verification(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return _unauthorized("The bearer token's claims were rejected.", "invalid_token")


@JWT.user_lookup_error_loader
def _unknown_user(_header: dict[str, Any], _claims: dict[str, Any]) -> Response:
    return _unauthorized("The bearer token's subject is unknown.", "invalid_token")
