"""Settings: environments, required production settings, precedence and the defaults upstream apps rely on."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_jwt_extended import create_access_token
from werkzeug.test import TestResponse

import example_petstore
import flask_ligand
from flask_ligand.default_settings import ENVIRONMENTS, flask_environment_configurator
from flask_ligand.errors import ConfigurationError
from flask_ligand.extensions.database import DB
from flask_ligand.testing import created_app, make_token

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SPEC_PATH = "/openapi/api-spec.json"
PUBLIC_URL = "https://pets.example.com"

AppFactory = Callable[..., Flask]


@pytest.fixture
def production_variables(tmp_path: Path) -> dict[str, str]:
    """A value for every setting ``prod`` and ``stage`` require."""
    return {
        "SERVICE_PUBLIC_URL": PUBLIC_URL,
        "SERVICE_PRIVATE_URL": "http://pets.internal:8080",
        "ALLOWED_ROLES": "user,admin",
        "OIDC_DISCOVERY_URL": "https://idp.example.com/realms/pets/.well-known/openid-configuration",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite'}",
    }


@pytest.fixture
def production_environment(monkeypatch: pytest.MonkeyPatch, production_variables: dict[str, str]) -> None:
    """Set every required production setting as an environment variable."""
    for key, value in production_variables.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def service_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable, empty service package under ``tmp_path``, so its instance folder is ``tmp_path/instance``."""
    package = tmp_path / "ligand_settings_service"
    package.mkdir()
    (package / "__init__.py").write_text('"""A throwaway service."""\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    return package.name


@pytest.fixture
def make_app(service_name: str, monkeypatch: pytest.MonkeyPatch, production_variables: dict[str, str]) -> AppFactory:
    """Start the throwaway service in an environment; ``prod`` and ``stage`` get their required variables."""

    def make(environment: str, **settings: Any) -> Flask:
        if ENVIRONMENTS[environment].required:
            for key, value in production_variables.items():
                monkeypatch.setenv(key, value)
        app, _api = flask_ligand.create_app(service_name, environment, "Settings Test", "1.0.0", **settings)
        return app

    return make


def _json(response: TestResponse) -> Any:
    return json.loads(response.text)


@pytest.mark.parametrize("key", ["debug", "Max_Content_Length", "sqlalchemy_database_uri"])
def test_lower_case_setting_name_is_refused(key: str) -> None:
    """A keyword setting that is not upper-case is a RuntimeError naming it."""
    settings: dict[str, Any] = {key: True}
    with pytest.raises(RuntimeError, match=re.escape(f"'{key}'")):
        example_petstore.create_app("testing", **settings)


@pytest.mark.parametrize("key", ["API_TITLE", "API_VERSION", "OPENAPI_CLIENT_NAME"])
def test_protected_setting_cannot_be_overridden(key: str) -> None:
    """The title, version and client name come from create_app's arguments; overriding one is a RuntimeError."""
    with pytest.raises(RuntimeError, match=re.escape(f"'{key}'")):
        example_petstore.create_app("testing", **{key: "other"})


def test_unknown_environment_is_a_configuration_error_listing_valid_ones() -> None:
    """An unknown environment name is a ConfigurationError (a RuntimeError) that lists every valid environment."""
    with pytest.raises(ConfigurationError) as caught:
        flask_ligand.create_app(__name__, "production", "T", "1")
    assert isinstance(caught.value, RuntimeError)
    assert "'production'" in str(caught.value)
    for name in ("prod", "stage", "local", "testing", "cli"):
        assert re.search(rf"\b{name}\b", str(caught.value))


def test_configurator_refuses_unknown_environment(tmp_path: Path) -> None:
    """``flask_environment_configurator`` itself refuses an unknown environment with a RuntimeError."""
    app = Flask("ligand_settings_unknown", instance_path=str(tmp_path / "instance"))
    with pytest.raises(RuntimeError, match="'qa'"):
        flask_environment_configurator(app, "qa", "T", "1", "t")


@pytest.mark.parametrize("environment", ["prod", "stage"])
@pytest.mark.parametrize(
    "missing",
    [
        pytest.param(
            (
                "SERVICE_PUBLIC_URL",
                "SERVICE_PRIVATE_URL",
                "ALLOWED_ROLES",
                "OIDC_DISCOVERY_URL",
                "SQLALCHEMY_DATABASE_URI",
            ),
            id="all",
        ),
        *(
            pytest.param((key,), id=key)
            for key in (
                "SERVICE_PUBLIC_URL",
                "SERVICE_PRIVATE_URL",
                "ALLOWED_ROLES",
                "OIDC_DISCOVERY_URL",
                "SQLALCHEMY_DATABASE_URI",
            )
        ),
    ],
)
def test_production_environment_refuses_to_start_naming_every_missing_setting(
    environment: str,
    missing: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    production_variables: dict[str, str],
) -> None:
    """``prod``/``stage`` without some required settings fail with an error naming exactly the missing ones."""
    for key, value in production_variables.items():
        if key not in missing:
            monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError) as caught:
        example_petstore.create_app(environment)
    message = str(caught.value)
    for key in production_variables:
        assert bool(re.search(rf"\b{key}\b", message)) == (key in missing), (key, message)


@pytest.mark.parametrize("environment", ["prod", "stage"])
@pytest.mark.usefixtures("production_environment")
def test_production_environment_starts_with_required_settings_from_environment_variables(environment: str) -> None:
    """With every required setting in environment variables, ``prod``/``stage`` start and serve the spec."""
    app = example_petstore.create_app(environment)
    assert app.config["SERVICE_PUBLIC_URL"] == PUBLIC_URL
    response = app.test_client().get(SPEC_PATH)
    assert response.status_code == 200
    assert "/pets/" in _json(response)["paths"]


def test_allowed_roles_comma_list_is_parsed_to_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """ALLOWED_ROLES from the environment is a comma list: items stripped, empty items dropped."""
    monkeypatch.setenv("ALLOWED_ROLES", " user, admin,,auditor ")
    app = example_petstore.create_app("testing")
    assert app.config["ALLOWED_ROLES"] == ["user", "admin", "auditor"]


@pytest.mark.parametrize("flask_env", ["prod", "stage"])
def test_local_app_is_refused_where_flask_env_names_production(monkeypatch: pytest.MonkeyPatch, flask_env: str) -> None:
    """A factory defaulting to ``local``, run with ``FLASK_ENV=prod``, stops instead of accepting development tokens."""
    monkeypatch.setenv("FLASK_ENV", flask_env)

    with pytest.raises(
        ConfigurationError, match=f"FLASK_ENV is '{flask_env}', but the app is being created for 'local'"
    ):
        example_petstore.create_app("local")


@pytest.mark.parametrize(
    ("flask_env", "created_for"),
    [("local", "testing"), ("testing", "local"), ("cli", "local"), ("prod", "testing"), ("stage", "testing")],
)
def test_app_is_created_where_flask_env_names_no_production_or_for_tests(
    monkeypatch: pytest.MonkeyPatch, flask_env: str, created_for: str
) -> None:
    """Only a production FLASK_ENV stops a ``local`` app; tests create ``testing`` anywhere, a production image too."""
    monkeypatch.setenv("FLASK_ENV", flask_env)

    assert example_petstore.create_app(created_for).config["LIGAND_ENV"] == created_for


@pytest.mark.parametrize("source", ["variable", "dotenv"])
def test_testing_takes_its_database_only_from_create_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture, source: str
) -> None:
    """A database URI in the shell or a ``.env`` (maybe production's) never reaches a test app, as in upstream."""
    production = "postgresql+psycopg://app@db.example.com/production"
    monkeypatch.chdir(tmp_path)
    if source == "variable":
        monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", production)
    else:
        (tmp_path / ".env").write_text(f"SQLALCHEMY_DATABASE_URI={production}\n")

    default = example_petstore.create_app("testing")
    given = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'given.sqlite'}")

    assert default.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///:memory:"
    assert given.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'given.sqlite'}"
    assert "SQLALCHEMY_DATABASE_URI from the environment is ignored in 'testing'" in caplog.text
    assert "production" not in caplog.text


def test_testing_takes_its_identity_provider_only_from_create_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A developer's ``.env`` naming the provider they log in with does not turn the tests' own tokens away."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("OIDC_DISCOVERY_URL=https://sso.example.com/.well-known/openid-configuration\n")

    with created_app(example_petstore.create_app, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}") as app:
        token = make_token(app, ["user"])
        headers = {"Authorization": f"Bearer {token}"}
        response = app.test_client().post("/pets/", json={"name": "Rex"}, headers=headers)

    assert app.config["OIDC_DISCOVERY_URL"] is None
    assert "OIDC_DISCOVERY_URL from the environment is ignored in 'testing'" in caplog.text
    assert response.status_code == 201, response.json


def test_unhandled_error_in_testing_is_the_json_500_a_client_gets() -> None:
    """In ``testing``, as upstream's, a view's bug answers the JSON 500 rather than raising into the test."""
    app = example_petstore.create_app("testing")

    @app.get("/boom")
    def boom() -> str:
        return str(1 // 0)

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    assert response.json is not None and response.json["code"] == 500


def test_trusted_hosts_from_the_environment_refuse_other_hosts_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """TRUSTED_HOSTS is a comma list; a request naming another host is a JSON 400, a listed one (any port) is served."""
    monkeypatch.setenv("TRUSTED_HOSTS", "pets.example.com, .example.org")
    client = example_petstore.create_app("testing").test_client()

    refused = client.get("/openapi/api-spec.json", headers={"Host": "evil.example.net"})
    served = [
        client.get("/openapi/api-spec.json", headers={"Host": host}).status_code
        for host in ("pets.example.com:8443", "api.example.org")
    ]

    assert refused.status_code == 400
    assert refused.json is not None and "evil.example.net" in refused.json["message"]
    assert served == [200, 200]


@pytest.mark.usefixtures("production_environment")
def test_debug_from_flask_debug_is_refused_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    """FLASK_DEBUG=1 makes ``prod`` refuse to start."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    with pytest.raises(RuntimeError, match="Debug mode is refused"):
        example_petstore.create_app("prod")


@pytest.mark.usefixtures("production_environment")
def test_debug_keyword_is_refused_in_prod() -> None:
    """DEBUG=True passed to create_app makes ``prod`` refuse to start."""
    with pytest.raises(RuntimeError, match="Debug mode is refused"):
        example_petstore.create_app("prod", DEBUG=True)


@pytest.mark.parametrize("key", ["SERVICE_PUBLIC_URL", "SERVICE_PRIVATE_URL", "OIDC_DISCOVERY_URL"])
@pytest.mark.parametrize("value", ["ftp://pets.example.com", "pets.example.com"])
@pytest.mark.usefixtures("production_environment")
def test_non_http_url_is_refused_in_prod(key: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service or discovery URL that is not http(s) makes ``prod`` refuse to start, naming key and value."""
    monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError) as caught:
        example_petstore.create_app("prod")
    assert f"'{key}'" in str(caught.value)
    assert f"'{value}'" in str(caught.value)


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        pytest.param(
            {"OIDC_DISCOVERY_URL": "http://keycloak.internal/realms/x/.well-known/openid-configuration"},
            "'OIDC_DISCOVERY_URL'",
            id="plain-http-provider",
        ),
        pytest.param({"VERIFY_SSL_CERT": "false"}, "'VERIFY_SSL_CERT' is false", id="tls-unverified"),
    ],
)
@pytest.mark.parametrize("environment", ["prod", "stage"])
@pytest.mark.usefixtures("production_environment")
def test_identity_provider_keys_over_an_unsafe_transport_are_refused_unless_opted_in(
    environment: str, settings: dict[str, str], refused: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys fetched over plain http (beyond loopback) or unverified TLS could be swapped on the way: refused, unless
    ``OIDC_INSECURE_TRANSPORT`` says the network is trusted."""
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(RuntimeError, match="OIDC_INSECURE_TRANSPORT") as caught:
        example_petstore.create_app(environment)
    assert refused in str(caught.value)

    monkeypatch.setenv("OIDC_INSECURE_TRANSPORT", "true")
    assert example_petstore.create_app(environment).config["OIDC_INSECURE_TRANSPORT"] is True


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:8443"])
@pytest.mark.usefixtures("production_environment")
def test_identity_provider_over_http_on_loopback_is_accepted(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider on the loopback interface (a sidecar, a test) cannot be intercepted: plain http is accepted."""
    monkeypatch.setenv("OIDC_DISCOVERY_URL", f"http://{host}/realms/x/.well-known/openid-configuration")
    assert example_petstore.create_app("prod").config["OIDC_INSECURE_TRANSPORT"] is False


@pytest.mark.parametrize("environment", ["prod", "stage", "cli"])
@pytest.mark.usefixtures("production_environment")
def test_sql_echo_is_refused_in_production(environment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SQLALCHEMY_ECHO`` prints statements with their values (users' data) outside the redacted log: refused."""
    monkeypatch.setenv("SQLALCHEMY_ECHO", "true")
    with pytest.raises(RuntimeError, match="'SQLALCHEMY_ECHO' is refused"):
        example_petstore.create_app(environment)


@pytest.mark.parametrize("engine_options", [None, {"pool_size": 3}], ids=["defaults", "with-engine-options"])
@pytest.mark.usefixtures("production_environment")
def test_production_keeps_statement_values_out_of_error_messages(
    monkeypatch: pytest.MonkeyPatch, engine_options: dict[str, Any] | None
) -> None:
    """In ``prod`` a failing statement's error (and its logged traceback) does not show the values it was given,
    also when the service passes engine options of its own (they are merged over the environment's)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from flask_ligand.extensions.database import DB

    extra: dict[str, Any] = {} if engine_options is None else {"SQLALCHEMY_ENGINE_OPTIONS": engine_options}
    app = example_petstore.create_app("prod", **extra)
    if engine_options is not None:
        assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 3
        assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_pre_ping"] is True
    with app.app_context(), pytest.raises(DBAPIError) as caught:
        DB.session.execute(text("SELECT * FROM no_such_table WHERE name = :name"), {"name": "s3cret-value"})
    assert "no_such_table" in str(caught.value)
    assert "s3cret-value" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        pytest.param((), "http://public.url", id="environment-over-library-default"),
        pytest.param(("dotenv",), "http://dotenv.example", id="dotenv-over-environment"),
        pytest.param(("dotenv", "variable"), "http://variable.example", id="variable-over-dotenv"),
        pytest.param(("dotenv", "variable", "keyword"), "http://keyword.example", id="keyword-over-variable"),
    ],
)
def test_setting_precedence(
    layers: tuple[str, ...], expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Default < environment < ``.env`` in the working directory < environment variable < keyword override."""
    settings: dict[str, Any] = {}
    if "dotenv" in layers:
        (tmp_path / ".env").write_text("SERVICE_PUBLIC_URL=http://dotenv.example\n")
    if "variable" in layers:
        monkeypatch.setenv("SERVICE_PUBLIC_URL", "http://variable.example")
    if "keyword" in layers:
        settings["SERVICE_PUBLIC_URL"] = "http://keyword.example"
    app = example_petstore.create_app("testing", **settings)
    assert app.config["SERVICE_PUBLIC_URL"] == expected


@pytest.mark.parametrize("source", ["variable", "dotenv"])
def test_malformed_bool_is_refused_naming_key_and_value(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DB_AUTO_UPGRADE=maybe, from the environment or ``.env``, is a RuntimeError naming the key and the value."""
    if source == "variable":
        monkeypatch.setenv("DB_AUTO_UPGRADE", "maybe")
    else:
        (tmp_path / ".env").write_text("DB_AUTO_UPGRADE=maybe\n")
    with pytest.raises(RuntimeError) as caught:
        example_petstore.create_app("testing")
    assert "'DB_AUTO_UPGRADE'" in str(caught.value)
    assert "'maybe'" in str(caught.value)


def test_testing_environment_needs_nothing_set() -> None:
    """``testing`` starts with no settings: in-memory SQLite, roles user and admin, placeholder http URLs."""
    app, _api = flask_ligand.create_app(__name__, "testing", "T", "1")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:///:memory:"
    assert app.config["ALLOWED_ROLES"] == ["user", "admin"]
    assert app.config["SERVICE_PUBLIC_URL"].startswith("http://")
    assert app.config["SERVICE_PRIVATE_URL"].startswith("http://")


def test_local_environment_defaults_to_sqlite_file_in_instance_folder(make_app: AppFactory, tmp_path: Path) -> None:
    """``local`` needs nothing set; its database is a SQLite file in the app's instance folder."""
    app = make_app("local")
    instance = Path(app.instance_path)
    assert instance == tmp_path / "instance"
    assert instance.is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'ligand_settings_service.sqlite'}"


def test_local_database_uri_from_environment_wins(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """In ``local``, SQLALCHEMY_DATABASE_URI from the environment replaces the instance-folder default."""
    uri = f"sqlite:///{tmp_path / 'mine.sqlite'}"
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", uri)
    app = make_app("local")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == uri


def test_configurator_local_uses_the_given_instance_folder(tmp_path: Path) -> None:
    """``flask_environment_configurator`` puts ``local``'s SQLite file in the Flask app's instance folder."""
    instance = tmp_path / "elsewhere"
    app = Flask("ligand_settings_configured", instance_path=str(instance))
    flask_environment_configurator(app, "local", "T", "1", "t")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'ligand_settings_configured.sqlite'}"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [("prod", False), ("stage", False), ("testing", False), ("cli", False), ("local", True)],
)
def test_db_auto_upgrade_default_is_false_except_local(environment: str, expected: bool, make_app: AppFactory) -> None:
    """DB_AUTO_UPGRADE defaults to false in every environment but ``local``."""
    assert make_app(environment).config["DB_AUTO_UPGRADE"] is expected


@pytest.mark.parametrize("environment", list(ENVIRONMENTS))
def test_verify_ssl_cert_defaults_to_true(environment: str, make_app: AppFactory) -> None:
    """VERIFY_SSL_CERT is true by default in every environment."""
    assert make_app(environment).config["VERIFY_SSL_CERT"] is True


def test_db_migration_dir_defaults_to_migrations() -> None:
    """DB_MIGRATION_DIR defaults to ``migrations``."""
    assert example_petstore.create_app("testing").config["DB_MIGRATION_DIR"] == "migrations"


def test_swagger_ui_is_served_at_apidocs() -> None:
    """OPENAPI_SWAGGER_UI_PATH defaults to /apidocs, where Swagger UI is served."""
    app = example_petstore.create_app("testing")
    assert app.config["OPENAPI_SWAGGER_UI_PATH"] == "/apidocs"
    response = app.test_client().get("/apidocs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "swagger" in response.text.lower()


def test_openapi_spec_is_served_as_json() -> None:
    """The OpenAPI document is served at /openapi/api-spec.json with the app's title and version."""
    response = example_petstore.create_app("testing").test_client().get(SPEC_PATH)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert _json(response)["openapi"] == "3.0.3"
    assert _json(response)["info"] == {"title": "TESTING Pet Store", "version": "1.0.0"}


@pytest.mark.usefixtures("production_environment")
def test_spec_servers_are_relative_then_service_urls() -> None:
    """The served spec's ``servers`` is the relative URL first, then SERVICE_PUBLIC_URL and SERVICE_PRIVATE_URL."""
    response = example_petstore.create_app("prod").test_client().get(SPEC_PATH)
    assert _json(response)["servers"] == [
        {"url": "/", "description": "This service"},
        {"url": PUBLIC_URL, "description": "Public URL"},
        {"url": "http://pets.internal:8080", "description": "Private URL"},
    ]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("JWT_ACCESS_TOKEN_EXPIRES", timedelta(minutes=1)),
        ("JWT_DECODE_AUDIENCE", "pets"),
        ("SQLALCHEMY_ECHO", True),
        ("JSON_SORT_KEYS", True),
        ("PROPAGATE_EXCEPTIONS", True),
    ],
)
def test_library_setting_passed_as_keyword_lands_in_config(key: str, value: Any) -> None:
    """A Flask, Flask-SQLAlchemy or flask-jwt-extended key passed as a keyword is in ``app.config``."""
    app = example_petstore.create_app("testing", **{key: value})
    assert app.config[key] == value


@pytest.mark.parametrize(
    ("title", "client_name"),
    [("Pet Store", "pet-store"), ("Pet  Store API v2!", "pet-store-api-v2")],
)
def test_client_name_is_derived_from_title_when_omitted(title: str, client_name: str) -> None:
    """Without ``openapi_client_name``, the client package name is derived from the API title."""
    app = example_petstore.create_app("testing", title)
    assert app.config["OPENAPI_CLIENT_NAME"] == client_name


def test_explicit_client_name_is_kept() -> None:
    """An explicit ``openapi_client_name`` is used as given."""
    app, _api = flask_ligand.create_app(__name__, "testing", "Pet Store", "1", "petstore-client")
    assert app.config["OPENAPI_CLIENT_NAME"] == "petstore-client"


def test_cli_environment_needs_nothing_and_skips_extensions() -> None:
    """``cli`` needs no settings and initialises neither the database nor JWT."""
    app = example_petstore.create_app("cli")
    assert "sqlalchemy" not in app.extensions
    assert "flask-jwt-extended" not in app.extensions


def test_cli_environment_uses_production_settings() -> None:
    """``cli`` has production settings: no title prefix, no auto-upgrade, debug refused."""
    app = example_petstore.create_app("cli")
    assert app.config["API_TITLE"] == "Pet Store"
    assert app.config["DB_AUTO_UPGRADE"] is False
    with pytest.raises(RuntimeError, match="Debug mode is refused"):
        example_petstore.create_app("cli", DEBUG=True)


def test_cli_environment_serves_the_spec() -> None:
    """``cli`` still serves the full OpenAPI document, for generating clients in CI."""
    response = example_petstore.create_app("cli").test_client().get(SPEC_PATH)
    assert response.status_code == 200
    assert "/pets/{item_id}" in _json(response)["paths"]


@pytest.fixture
def upgraded_petstore(database_uri: str) -> Iterator[Flask]:
    """The petstore on a fresh SQLite file, its schema made only by DB_AUTO_UPGRADE from the repo's migrations."""
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=database_uri, DB_AUTO_UPGRADE=True, DB_MIGRATION_DIR=str(MIGRATIONS_DIR)
    )
    yield app
    with app.app_context():
        DB.session.remove()
        DB.engine.dispose()


def test_db_auto_upgrade_creates_tables_at_start(upgraded_petstore: Flask) -> None:
    """With DB_AUTO_UPGRADE, the migrations run at start, so pets can be created and read without create_all."""
    with upgraded_petstore.app_context():
        token = create_access_token("tester", additional_claims={"realm_access": {"roles": ["user"]}})
    client = upgraded_petstore.test_client()
    created = client.post("/pets/", json={"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.json
    listed = client.get("/pets/")
    assert listed.status_code == 200
    assert [pet["name"] for pet in _json(listed)] == ["Rex"]
