"""Bearer-token security: ``JWT`` (flask-jwt-extended), the current ``User`` and ``jwt_role_required``.

Every failure answers with the standard JSON error body: 401 with ``WWW-Authenticate: Bearer`` for a missing or
bad token, 403 for a missing role. The callbacks are registered on ``JWT`` itself, so an app's tests that bind
``JWT.init_app`` directly get the same behaviour.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Response, current_app, g
from flask_jwt_extended import JWTManager, get_current_user, verify_jwt_in_request
from flask_jwt_extended.config import config as jwt_config

from flask_ligand.errors import abort as abort
from flask_ligand.errors import error_response
from flask_ligand.extensions import oidc
from flask_ligand.extensions.api import AUTHORIZE_ATTRIBUTE

if TYPE_CHECKING:
    from flask import Flask

_LOG = logging.getLogger(__name__)
_F = TypeVar("_F", bound=Callable[..., Any])

JWT = JWTManager()

ROLE_NOT_ALLOWED = "Endpoint required role is not an allowed role!"
MISSING_ROLE = "This endpoint requires the user to have the '{role}' role!"


@dataclass
class User:
    """The authenticated caller, as ``get_current_user()`` returns it.

    Attributes:
        id: The token's subject (``sub``).
        roles: The caller's roles, from ``OIDC_ROLES_CLAIM``.
        claims: Every claim of the verified token.
    """

    id: str
    roles: list[str]
    claims: Mapping[str, Any] = field(default_factory=dict)


def jwt_role_required(role: str) -> Callable[[_F], _F]:
    """Restrict a view to callers whose token carries ``role``.

    Answers 401 without a valid token, 403 when the role is missing, and 500 when ``role`` is not one of
    ``ALLOWED_ROLES`` (a programming error, logged).
    """

    def authorize() -> None:
        authorized: set[str] = g.setdefault("_ligand_authorized_roles", set())
        if role in authorized:
            return
        verify_jwt_in_request()
        if role not in current_app.config["ALLOWED_ROLES"]:
            _LOG.error("View requires role '%s', which is not in ALLOWED_ROLES.", role)
            abort(HTTPStatus.INTERNAL_SERVER_ERROR, ROLE_NOT_ALLOWED)
        user: User = get_current_user()
        if role not in user.roles:
            abort(HTTPStatus.FORBIDDEN, MISSING_ROLE.format(role=role))
        authorized.add(role)

    def decorator(fn: _F) -> _F:
        @wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authorize()
            return fn(*args, **kwargs)

        setattr(wrapper, AUTHORIZE_ATTRIBUTE, authorize)
        return cast(_F, wrapper)

    return decorator


def roles_from_claims(claims: Mapping[str, Any], path: str = "realm_access.roles") -> list[str]:
    """Read the roles at a dotted claim ``path``; anything but a list of strings (or one string) is no roles.

    Roles are compared exactly afterwards, so a string claim is never searched for substrings.
    """
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def init_app(app: Flask) -> None:
    """Bind ``JWT`` to ``app``; with ``OIDC_DISCOVERY_URL`` set, keys come from the provider, fetched lazily."""
    oidc.init_app(app)
    JWT.init_app(app)


@JWT.user_lookup_loader
def _load_user(_header: dict[str, Any], claims: dict[str, Any]) -> User:
    path = current_app.config.get("OIDC_ROLES_CLAIM", "realm_access.roles")
    return User(id=str(claims.get("sub", "")), roles=roles_from_claims(claims, path), claims=claims)


@JWT.decode_key_loader
def _decode_key(header: dict[str, Any], _claims: dict[str, Any]) -> Any:
    keys = oidc.current_keys()
    if keys is None:
        return jwt_config.decode_key
    return keys.signing_key(header)


def _unauthorized(message: str, error: str | None = None) -> Response:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return error_response(HTTPStatus.UNAUTHORIZED, message, {"WWW-Authenticate": challenge})


@JWT.unauthorized_loader
def _missing_token(reason: str) -> Response:
    return _unauthorized(reason)


@JWT.invalid_token_loader
def _invalid_token(reason: str) -> Response:
    return _unauthorized(f"The bearer token is invalid: {reason}.", "invalid_token")


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
