"""Named environments and the settings they read: the only module that looks at ``os.environ``.

Precedence, lowest to highest: library defaults, the chosen environment, a ``.env`` file in the working directory,
environment variables, then keyword overrides passed to ``create_app``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask_ligand.devkeys import load_dev_signing_key
from flask_ligand.errors import ConfigurationError
from flask_ligand.logging import DEFAULT_REDACT_KEYS

_LOG = logging.getLogger(__name__)

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
#: Algorithms ``JWT_DECODE_ALGORITHMS`` may list: asymmetric ones only, so a public key never serves as an HMAC secret.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
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
    "OIDC_INSECURE_TRANSPORT": _as_bool,
    "JWT_DECODE_AUDIENCE": _as_str,
    "JWT_DECODE_ISSUER": _as_str,
    "JWT_DECODE_ALGORITHMS": _as_list,
    "JWT_DECODE_LEEWAY": _as_int,
    "JWT_ACCESS_TOKEN_EXPIRES": _as_seconds,
    "OIDC_JWKS_CACHE_SECONDS": _as_int,
    "OIDC_HTTP_TIMEOUT": _as_int,
    "OIDC_ISSUER": _as_str,
    "OIDC_JWKS_MIN_REFRESH_SECONDS": _as_int,
    "OPENAPI_VERSION": _as_str,
    "OPENAPI_JSON_PATH": _as_str,
    "OPENAPI_SWAGGER_UI_PATH": _as_str,
    "OPENAPI_REDOC_PATH": _as_str,
    "OPENAPI_GENERATOR_JAVA": _as_str,
    "OPENAPI_GENERATOR_TIMEOUT": _as_int,
    "OPENAPI_CLIENT_CACHE_DIR": _as_str,
    "MAX_CONTENT_LENGTH": _as_int,
    "ERRORS_PROBLEM_DETAILS": _as_bool,
    "PAGINATION_DEFAULT_PAGE_SIZE": _as_int,
    "PAGINATION_MAX_PAGE_SIZE": _as_int,
    "PAGINATION_COUNT": _as_str,
    "PAGINATION_COUNT_ESTIMATE_ABOVE": _as_int,
    "PAGINATION_CURSOR_SECRET": _as_str,
    "CORS_ORIGINS": _as_list,
    "CORS_METHODS": _as_list,
    "CORS_ALLOW_HEADERS": _as_list,
    "CORS_EXPOSE_HEADERS": _as_list,
    "CORS_SUPPORTS_CREDENTIALS": _as_bool,
    "LOG_FORMAT": _as_str,
    "LOG_LEVEL": _as_str,
    "LOG_REDACT_KEYS": _as_list,
    "LOG_BODY_MAX_BYTES": _as_int,
    "LOG_QUIET_PATHS": _as_list,
    "REQUEST_ID_TRUSTED_PROXIES": _as_list,
    "HEALTH_TIMEOUT": _as_int,
    "HEALTH_MIGRATIONS": _as_bool,
    "HEALTH_IN_OPENAPI": _as_bool,
    "METRICS_ENABLED": _as_bool,
    "METRICS_PATH": _as_str,
    "METRICS_TOKEN": _as_str,
    "PROMETHEUS_MULTIPROC_DIR": _as_str,
    "SECURITY_CSP": _as_str,
    "PROXY_FIX_X_FOR": _as_int,
    "PROXY_FIX_X_PROTO": _as_int,
    "PROXY_FIX_X_HOST": _as_int,
    "PROXY_FIX_X_PORT": _as_int,
    "PROXY_FIX_X_PREFIX": _as_int,
    "TRUSTED_HOSTS": _as_list,
}

# Pre-ping and recycle replace connections the database server (or a firewall) closed while they sat in the pool.
_ENGINE_OPTIONS: Mapping[str, Any] = {"pool_pre_ping": True, "pool_recycle": 1800}
# Production keeps the values of SQL statements out of error messages and their logged tracebacks: they are data.
_PRODUCTION_DEFAULTS: Mapping[str, Any] = {
    "METRICS_ENABLED": False,
    "SQLALCHEMY_ENGINE_OPTIONS": {**_ENGINE_OPTIONS, "hide_parameters": True},
}

_COMMON_DEFAULTS: Mapping[str, Any] = {
    "SERVICE_PUBLIC_URL": None,
    "SERVICE_PRIVATE_URL": None,
    "ALLOWED_ROLES": None,
    "OIDC_DISCOVERY_URL": None,
    "OIDC_ROLES_CLAIM": "realm_access.roles",
    "SQLALCHEMY_DATABASE_URI": None,
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "SQLALCHEMY_ENGINE_OPTIONS": _ENGINE_OPTIONS,
    "DB_AUTO_UPGRADE": False,
    "DB_MIGRATION_DIR": "migrations",
    "VERIFY_SSL_CERT": True,
    "OIDC_INSECURE_TRANSPORT": False,
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    # flask_ligand.errors: RFC 9457 problem details instead of the default error shape.
    "ERRORS_PROBLEM_DETAILS": False,
    "PAGINATION_DEFAULT_PAGE_SIZE": 10,
    "PAGINATION_MAX_PAGE_SIZE": 100,
    "PAGINATION_COUNT": "exact",
    "PAGINATION_COUNT_ESTIMATE_ABOVE": 10_000,
    "PAGINATION_CURSOR_SECRET": None,
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
    "OIDC_ISSUER": None,
    "OIDC_JWKS_MIN_REFRESH_SECONDS": 10,
    # flask-smorest
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi/api-spec.json",
    "OPENAPI_SWAGGER_UI_PATH": "/apidocs",
    # Swagger UI and ReDoc are served from files inside the package (flask_ligand.views.docs), not from a CDN.
    "OPENAPI_SWAGGER_UI_URL": None,
    "OPENAPI_REDOC_PATH": None,
    # flask_ligand.clientgen: the OpenAPI Generator runs locally, with this Java and time limit.
    "OPENAPI_GENERATOR_JAVA": None,
    "OPENAPI_GENERATOR_TIMEOUT": 120,
    "OPENAPI_CLIENT_CACHE_DIR": None,
    # flask-cors: any origin, no credentials; the headers our clients need are exposed and allowed.
    "CORS_ORIGINS": "*",
    "CORS_SEND_WILDCARD": True,
    "CORS_EXPOSE_HEADERS": ["ETag", "X-Pagination", "Link", "X-Total-Count", "X-Request-ID", "Location", "Retry-After"],
    "CORS_ALLOW_HEADERS": ["Authorization", "If-Match", "If-None-Match", "Content-Type"],
    "CORS_METHODS": ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"],
    "CORS_SUPPORTS_CREDENTIALS": False,
    # flask_ligand.logging, .views.health, .metrics and .security: what an operator needs on day one.
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "LOG_REDACT_KEYS": list(DEFAULT_REDACT_KEYS),
    "LOG_BODY_MAX_BYTES": 4096,
    "LOG_QUIET_PATHS": ["/health/", "/metrics"],
    "REQUEST_ID_TRUSTED_PROXIES": ["127.0.0.1", "::1"],
    "HEALTH_TIMEOUT": 2,
    "HEALTH_MIGRATIONS": True,
    "HEALTH_IN_OPENAPI": False,
    "METRICS_ENABLED": True,
    "METRICS_PATH": "/metrics",
    "METRICS_TOKEN": None,
    "PROMETHEUS_MULTIPROC_DIR": None,
    "SECURITY_HEADERS": {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    },
    "SECURITY_CSP": "default-src 'none'; frame-ancestors 'none'",
    "PROXY_FIX_X_FOR": 0,
    "PROXY_FIX_X_PROTO": 0,
    "PROXY_FIX_X_HOST": 0,
    "PROXY_FIX_X_PORT": 0,
    "PROXY_FIX_X_PREFIX": 0,
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
        pinned: Settings environment variables (and ``.env``) do not change here: only ``create_app``'s keywords do.
    """

    name: str
    title_prefix: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    init_extensions: bool = True
    production: bool = False
    dev_tokens: bool = False
    instance_database: bool = False
    pinned: tuple[str, ...] = ()


ENVIRONMENTS: Mapping[str, Environment] = {
    "prod": Environment("prod", defaults=_PRODUCTION_DEFAULTS, required=REQUIRED_IN_PRODUCTION, production=True),
    "stage": Environment(
        "stage", "DEV ", defaults=_PRODUCTION_DEFAULTS, required=REQUIRED_IN_PRODUCTION, production=True
    ),
    "local": Environment(
        "local",
        "FLASK LOCAL ",
        defaults={
            "SERVICE_PUBLIC_URL": "http://127.0.0.1:5000",
            "SERVICE_PRIVATE_URL": "http://127.0.0.1:5000",
            "ALLOWED_ROLES": ["user", "admin"],
            "DB_AUTO_UPGRADE": True,
            "LOG_FORMAT": "console",
        },
        dev_tokens=True,
        instance_database=True,
    ),
    "testing": Environment(
        "testing",
        "TESTING ",
        defaults={
            "TESTING": True,
            # As in upstream's testing: an unhandled error is the JSON 500 a client gets (its traceback logged),
            # not an exception raised into the test (TESTING alone would propagate it).
            "PROPAGATE_EXCEPTIONS": False,
            "SERVICE_PUBLIC_URL": "http://public.url",
            "SERVICE_PRIVATE_URL": "http://private.url",
            "ALLOWED_ROLES": ["user", "admin"],
            "SQLALCHEMY_DATABASE_URI": "sqlite:///:memory:",
            "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=5),
            # Test databases are usually made from the models (DB.create_all), which records no migration.
            "HEALTH_MIGRATIONS": False,
        },
        dev_tokens=True,
        # A test suite's database is the one it passes, never the one a shell or a .env names (it may be
        # production's, and test fixtures drop tables), as upstream's testing environment pinned it too. Its
        # identity provider likewise: a developer's .env naming one would make every token the tests mint invalid.
        pinned=("SQLALCHEMY_DATABASE_URI", "OIDC_DISCOVERY_URL"),
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
    _check_intended_environment(env)
    _check_override_names(settings)

    config: dict[str, Any] = {**_COMMON_DEFAULTS, **env.defaults}
    if env.instance_database:
        config["SQLALCHEMY_DATABASE_URI"] = _instance_sqlite_uri(app)
    environment_settings = read_environment_variables()
    for key in env.pinned:
        if environment_settings.pop(key, None) is not None:
            _LOG.warning("%s from the environment is ignored in '%s': pass it to create_app instead.", key, env.name)
    config.update(environment_settings)
    config.update(settings)
    engine_options = settings.get("SQLALCHEMY_ENGINE_OPTIONS")
    if isinstance(engine_options, Mapping):  # over the environment's: pre-ping, recycle, hidden values stay
        defaults = {**_COMMON_DEFAULTS, **env.defaults}.get("SQLALCHEMY_ENGINE_OPTIONS", {})
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {**defaults, **engine_options}
    config.update(
        LIGAND_ENV=env.name,
        API_TITLE=f"{env.title_prefix}{api_title}",
        API_VERSION=api_version,
        OPENAPI_CLIENT_NAME=openapi_client_name,
    )
    if "API_SPEC_OPTIONS" not in settings:
        config["API_SPEC_OPTIONS"] = _spec_options(config)

    _check_required(env, config)
    _check_operations(config)
    _check_algorithms(config)
    if env.production:
        _check_production(env, app, config)
    if env.dev_tokens and not config.get("OIDC_DISCOVERY_URL") and not config.get("JWT_PRIVATE_KEY"):
        key_file = Path(app.instance_path, "dev-signing-key.pem") if env.name == "local" else None
        config["JWT_PRIVATE_KEY"], config["JWT_PUBLIC_KEY"] = load_dev_signing_key(key_file)
    if env.dev_tokens and not config.get("OIDC_DISCOVERY_URL"):
        # The service is its own token issuer: the tokens it signs name it, and the audience it accepts.
        config.setdefault("JWT_ENCODE_ISSUER", str(config.get("SERVICE_PUBLIC_URL") or "").rstrip("/") or None)
        config.setdefault("JWT_ENCODE_AUDIENCE", config.get("JWT_DECODE_AUDIENCE"))

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
    source: dict[str, str | None] = {}
    if os.path.isfile(dotenv):
        from dotenv import dotenv_values  # here: services configured by their environment alone never need it

        source.update(dotenv_values(dotenv))
    source.update(os.environ if environ is None else environ)
    return {key: cast(key, raw) for key, cast in ENV_SETTINGS.items() if (raw := source.get(key)) is not None}


def derive_client_name(api_title: str) -> str:
    """Make a package name for generated clients from an API title: ``"Pet Store API"`` → ``"pet-store-api"``."""
    words = "".join(char.lower() if char.isalnum() else " " for char in api_title).split()
    return "-".join(words) or "openapi-client"


def _check_intended_environment(env: Environment) -> None:
    """Refuse ``local`` in a process whose ``FLASK_ENV`` names a production environment.

    An app factory with a ``"local"`` default, served with ``FLASK_ENV=prod``, would otherwise accept development
    tokens and skip every production check, with nothing in the log to say so. ``testing`` is left alone: test
    suites create it on purpose, also inside a production image.
    """
    intended = os.environ.get("FLASK_ENV", "").strip()
    serving = ENVIRONMENTS.get(intended)
    if env.name == "local" and serving is not None and serving.production and serving.init_extensions:
        raise ConfigurationError(
            f"FLASK_ENV is '{intended}', but the app is being created for 'local', which accepts development "
            "tokens. Have the app factory take the environment FLASK_ENV names (create_app(__name__, "
            "os.environ['FLASK_ENV'], ...)), or unset FLASK_ENV to run it locally."
        )


def _check_override_names(settings: Mapping[str, Any]) -> None:
    for key in settings:
        if not key.isupper():
            raise ConfigurationError(f"The setting name '{key}' must be uppercase!")
        if key in PROTECTED_SETTINGS:
            raise ConfigurationError(
                f"The '{key}' setting is not allowed to be overridden! It comes from create_app's arguments."
            )


def _check_algorithms(config: Mapping[str, Any]) -> None:
    refused = [alg for alg in config.get("JWT_DECODE_ALGORITHMS") or () if alg not in ASYMMETRIC_ALGORITHMS]
    if refused or not config.get("JWT_DECODE_ALGORITHMS"):
        raise ConfigurationError(
            f"Config 'JWT_DECODE_ALGORITHMS' has value {config.get('JWT_DECODE_ALGORITHMS')!r}. "
            f"List one or more of {', '.join(ASYMMETRIC_ALGORITHMS)}: tokens are verified with public keys, "
            "so 'none' and HMAC algorithms (HS256...) are refused."
        )


def _check_operations(config: Mapping[str, Any]) -> None:
    if config["LOG_FORMAT"] not in ("json", "console"):
        raise ConfigurationError(f"Config 'LOG_FORMAT' has value '{config['LOG_FORMAT']}'. Use 'json' or 'console'.")
    if not isinstance(logging.getLevelName(str(config["LOG_LEVEL"]).upper()), int):
        raise ConfigurationError(
            f"Config 'LOG_LEVEL' has value '{config['LOG_LEVEL']}'. Use DEBUG, INFO, WARNING, ERROR or CRITICAL."
        )
    for network in config["REQUEST_ID_TRUSTED_PROXIES"]:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigurationError(
                f"Config 'REQUEST_ID_TRUSTED_PROXIES' has item '{network}'. Not an IP address or network."
            ) from None


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
    if config.get("SQLALCHEMY_ECHO"):
        raise ConfigurationError(
            f"Config 'SQLALCHEMY_ECHO' is refused in the '{env.name}' environment: it prints every SQL statement with "
            "its values, which are your users' data, outside the redacted log."
        )
    _check_identity_provider_transport(config)


def _check_identity_provider_transport(config: Mapping[str, Any]) -> None:
    """Refuse keys fetched where anyone on the path could swap them, unless ``OIDC_INSECURE_TRANSPORT`` says so."""
    if config.get("OIDC_INSECURE_TRANSPORT"):
        return
    opt_in = "Set OIDC_INSECURE_TRANSPORT=true only for a provider on a network you trust."
    if not config.get("VERIFY_SSL_CERT", True):
        raise ConfigurationError(
            "Config 'VERIFY_SSL_CERT' is false: whoever sits between the service and the identity provider could "
            f"then hand it their own signing keys and sign tokens with any role. {opt_in}"
        )
    if interceptable(config.get("OIDC_DISCOVERY_URL") or ""):
        raise ConfigurationError(
            f"Config 'OIDC_DISCOVERY_URL' has value '{config['OIDC_DISCOVERY_URL']}': plain http lets whoever sits "
            f"on the way hand the service their own signing keys. Use https. {opt_in}"
        )


def interceptable(url: str) -> bool:
    """Whether what ``url`` answers could be changed on the way: plain http, other than on the loopback interface."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _spec_options(config: Mapping[str, Any]) -> dict[str, Any]:
    # The relative URL comes first, so Swagger UI's "Try it out" calls the service the page was loaded from.
    servers = [{"url": "/", "description": "This service"}]
    for key, description in (("SERVICE_PUBLIC_URL", "Public URL"), ("SERVICE_PRIVATE_URL", "Private URL")):
        url = config.get(key)
        if url and all(server["url"] != url for server in servers):
            servers.append({"url": url, "description": description})
    return {"servers": servers}


def _instance_sqlite_uri(app: Flask) -> str:
    os.makedirs(app.instance_path, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path, app.name.rsplit('.', 1)[-1] + '.sqlite')}"
