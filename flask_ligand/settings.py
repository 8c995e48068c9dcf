"""Named environments and the settings they read: the only module that looks at ``os.environ``.

Precedence, lowest to highest: library defaults, the chosen environment, a ``.env`` file in the working directory,
environment variables, then keyword overrides passed to ``create_app``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from dotenv import dotenv_values

from flask_ligand.devkeys import load_dev_signing_key
from flask_ligand.errors import ConfigurationError

if TYPE_CHECKING:
    from flask import Flask

#: Settings fixed by ``create_app``'s arguments.
PROTECTED_SETTINGS = ("API_TITLE", "API_VERSION", "OPENAPI_CLIENT_NAME")
#: Settings without which a production-like environment refuses to start.
REQUIRED_IN_PRODUCTION = (
    "SERVICE_PUBLIC_URL",
    "SERVICE_PRIVATE_URL",
    "ALLOWED_ROLES",
    "OIDC_DISCOVERY_URL",
    "SQLALCHEMY_DATABASE_URI",
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _as_str(key: str, raw: str) -> str:
    return raw


def _as_bool(key: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"Config '{key}' has value '{raw}'. Not a valid bool: use true or false.")


def _as_int(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"Config '{key}' has value '{raw}'. Not a valid integer.") from None


def _as_list(key: str, raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _as_seconds(key: str, raw: str) -> timedelta:
    return timedelta(seconds=_as_int(key, raw))


#: Every setting that can come from an environment variable of the same name, with how its text is read.
ENV_SETTINGS: Mapping[str, Callable[[str, str], Any]] = {
    "SERVICE_PUBLIC_URL": _as_str,
    "SERVICE_PRIVATE_URL": _as_str,
    "ALLOWED_ROLES": _as_list,
    "OIDC_DISCOVERY_URL": _as_str,
    "OIDC_ROLES_CLAIM": _as_str,
    "SQLALCHEMY_DATABASE_URI": _as_str,
    "SQLALCHEMY_ECHO": _as_bool,
    "DB_AUTO_UPGRADE": _as_bool,
    "DB_MIGRATION_DIR": _as_str,
    "VERIFY_SSL_CERT": _as_bool,
    "JWT_DECODE_AUDIENCE": _as_str,
    "JWT_DECODE_ISSUER": _as_str,
    "JWT_DECODE_ALGORITHMS": _as_list,
    "JWT_DECODE_LEEWAY": _as_int,
    "JWT_ACCESS_TOKEN_EXPIRES": _as_seconds,
    "OIDC_JWKS_CACHE_SECONDS": _as_int,
    "OIDC_HTTP_TIMEOUT": _as_int,
    "OPENAPI_VERSION": _as_str,
    "OPENAPI_JSON_PATH": _as_str,
    "OPENAPI_SWAGGER_UI_PATH": _as_str,
    "MAX_CONTENT_LENGTH": _as_int,
    "PAGINATION_DEFAULT_PAGE_SIZE": _as_int,
    "PAGINATION_MAX_PAGE_SIZE": _as_int,
    "CORS_ORIGINS": _as_list,
}

_COMMON_DEFAULTS: Mapping[str, Any] = {
    "SERVICE_PUBLIC_URL": None,
    "SERVICE_PRIVATE_URL": None,
    "ALLOWED_ROLES": None,
    "OIDC_DISCOVERY_URL": None,
    "OIDC_ROLES_CLAIM": "realm_access.roles",
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "DB_AUTO_UPGRADE": False,
    "DB_MIGRATION_DIR": "migrations",
    "VERIFY_SSL_CERT": True,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "PAGINATION_DEFAULT_PAGE_SIZE": 10,
    "PAGINATION_MAX_PAGE_SIZE": 100,
    # flask-jwt-extended: bearer tokens in the Authorization header, verified with RS256 only.
    "JWT_TOKEN_LOCATION": ["headers"],
    "JWT_HEADER_NAME": "Authorization",
    "JWT_HEADER_TYPE": "Bearer",
    "JWT_ERROR_MESSAGE_KEY": "message",
    "JWT_ALGORITHM": "RS256",
    "JWT_DECODE_ALGORITHMS": ["RS256"],
    "JWT_DECODE_AUDIENCE": None,
    "JWT_DECODE_ISSUER": None,
    "JWT_DECODE_LEEWAY": 30,
    "JWT_PUBLIC_KEY": "",
    "OIDC_JWKS_CACHE_SECONDS": 300,
    "OIDC_HTTP_TIMEOUT": 5,
    # flask-smorest
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi/api-spec.json",
    "OPENAPI_SWAGGER_UI_PATH": "/apidocs",
    "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
    # flask-cors: any origin, no credentials; the headers our clients need are exposed and allowed.
    "CORS_ORIGINS": "*",
    "CORS_SEND_WILDCARD": True,
    "CORS_EXPOSE_HEADERS": ["ETag", "X-Pagination"],
    "CORS_ALLOW_HEADERS": ["Authorization", "If-Match", "If-None-Match", "Content-Type"],
}


@dataclass(frozen=True)
class Environment:
    """A named set of defaults and requirements a service runs under.

    Attributes:
        name: The name passed to ``create_app``.
        title_prefix: Prepended to the API title, so nobody mistakes a test service for production.
        defaults: Settings of this environment, over the library defaults.
        required: Settings that must have a value, or the app refuses to start.
        init_extensions: False for ``cli``: the database and JWT are not initialised.
        production: Refuses debug mode and never trusts development tokens.
        dev_tokens: Without an identity provider, tokens signed with a local development key are accepted.
        instance_database: Without a database URI, use a SQLite file in the instance folder.
    """

    name: str
    title_prefix: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    init_extensions: bool = True
    production: bool = False
    dev_tokens: bool = False
    instance_database: bool = False


ENVIRONMENTS: Mapping[str, Environment] = {
    "prod": Environment("prod", required=REQUIRED_IN_PRODUCTION, production=True),
    "stage": Environment("stage", "DEV ", required=REQUIRED_IN_PRODUCTION, production=True),
    "local": Environment(
        "local",
        "FLASK LOCAL ",
        defaults={
            "SERVICE_PUBLIC_URL": "http://127.0.0.1:5000",
            "SERVICE_PRIVATE_URL": "http://127.0.0.1:5000",
            "ALLOWED_ROLES": ["user", "admin"],
            "DB_AUTO_UPGRADE": True,
        },
        dev_tokens=True,
        instance_database=True,
    ),
    "testing": Environment(
        "testing",
        "TESTING ",
        defaults={
            "TESTING": True,
            "SERVICE_PUBLIC_URL": "http://public.url",
            "SERVICE_PRIVATE_URL": "http://private.url",
            "ALLOWED_ROLES": ["user", "admin"],
            "SQLALCHEMY_DATABASE_URI": "sqlite:///:memory:",
            "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=5),
        },
        dev_tokens=True,
    ),
    "cli": Environment("cli", init_extensions=False, production=True),
}


def flask_environment_configurator(
    app: Flask,
    environment: str,
    api_title: str,
    api_version: str,
    openapi_client_name: str,
    **settings: Any,
) -> None:
    """Configure ``app`` for a named environment, then apply environment variables and ``settings`` overrides.

    Args:
        app: The application to configure.
        environment: One of :data:`ENVIRONMENTS`: ``prod``, ``stage``, ``local``, ``testing`` or ``cli``.
        api_title: The API's title in OpenAPI (prefixed outside ``prod``).
        api_version: The API's version, also the version of generated clients.
        openapi_client_name: The package name of generated clients.
        settings: Extra upper-case settings, highest precedence.

    Raises:
        ConfigurationError: (a ``RuntimeError``) the environment is unknown, a setting name is not upper-case or is
            protected, a value cannot be read, or a required setting is missing.
    """
    env = get_environment(environment)
    _check_override_names(settings)

    config: dict[str, Any] = {**_COMMON_DEFAULTS, **env.defaults}
    if env.instance_database:
        config["SQLALCHEMY_DATABASE_URI"] = _instance_sqlite_uri(app)
    config.update(read_environment_variables())
    config.update(settings)
    config.update(
        LIGAND_ENV=env.name,
        API_TITLE=f"{env.title_prefix}{api_title}",
        API_VERSION=api_version,
        OPENAPI_CLIENT_NAME=openapi_client_name,
    )
    if "API_SPEC_OPTIONS" not in settings:
        config["API_SPEC_OPTIONS"] = _spec_options(config)

    _check_required(env, config)
    if env.production:
        _check_production(env, app, config)
    if env.dev_tokens and not config.get("OIDC_DISCOVERY_URL") and not config.get("JWT_PRIVATE_KEY"):
        key_file = Path(app.instance_path, "dev-signing-key.pem") if env.name == "local" else None
        config["JWT_PRIVATE_KEY"], config["JWT_PUBLIC_KEY"] = load_dev_signing_key(key_file)

    app.config.from_mapping(config)


def get_environment(name: str) -> Environment:
    """Return the environment called ``name``.

    Raises:
        ConfigurationError: No environment has that name.
    """
    try:
        return ENVIRONMENTS[name]
    except KeyError:
        valid = ", ".join(ENVIRONMENTS)
        raise ConfigurationError(f"The specified '{name}' environment is invalid! Use one of: {valid}.") from None


def read_environment_variables(environ: Mapping[str, str] | None = None, dotenv: str = ".env") -> dict[str, Any]:
    """Read the known settings from a ``.env`` file and the process environment, the latter winning.

    Raises:
        ConfigurationError: A value cannot be read as its setting's type.
    """
    source: dict[str, str | None] = dict(dotenv_values(dotenv)) if os.path.isfile(dotenv) else {}
    source.update(os.environ if environ is None else environ)
    return {key: cast(key, raw) for key, cast in ENV_SETTINGS.items() if (raw := source.get(key)) is not None}


def derive_client_name(api_title: str) -> str:
    """Make a package name for generated clients from an API title: ``"Pet Store API"`` → ``"pet-store-api"``."""
    words = "".join(char.lower() if char.isalnum() else " " for char in api_title).split()
    return "-".join(words) or "openapi-client"


def _check_override_names(settings: Mapping[str, Any]) -> None:
    for key in settings:
        if not key.isupper():
            raise ConfigurationError(f"The setting name '{key}' must be uppercase!")
        if key in PROTECTED_SETTINGS:
            raise ConfigurationError(
                f"The '{key}' setting is not allowed to be overridden! It comes from create_app's arguments."
            )


def _check_required(env: Environment, config: Mapping[str, Any]) -> None:
    missing = [key for key in env.required if not config.get(key)]
    if missing:
        names = ", ".join(missing)
        raise ConfigurationError(
            f"The '{env.name}' environment requires these settings, missing or empty: {names}. "
            "Set them as environment variables (or in a .env file)."
        )


def _check_production(env: Environment, app: Flask, config: Mapping[str, Any]) -> None:
    if config.get("DEBUG", app.debug):
        raise ConfigurationError(
            f"Debug mode is refused in the '{env.name}' environment: unset FLASK_DEBUG and do not pass --debug."
        )
    for key in ("SERVICE_PUBLIC_URL", "SERVICE_PRIVATE_URL", "OIDC_DISCOVERY_URL"):
        value = config.get(key)
        if value and urlsplit(value).scheme not in ("http", "https"):
            raise ConfigurationError(f"Config '{key}' has value '{value}'. Not an http(s) URL.")


def _spec_options(config: Mapping[str, Any]) -> dict[str, Any]:
    public_url = config.get("SERVICE_PUBLIC_URL")
    if not public_url:
        return {}
    return {"servers": [{"url": public_url, "description": "Public URL"}]}


def _instance_sqlite_uri(app: Flask) -> str:
    os.makedirs(app.instance_path, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path, app.name.rsplit('.', 1)[-1] + '.sqlite')}"
