"""``flask ligand token``: development tokens in ``testing`` and ``local``, refused where a provider issues them."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import Result
from flask import Flask

import example_petstore
import flask_ligand
from example_petstore import views
from flask_ligand.extensions.database import DB
from flask_ligand.testing import json_body
from tests.servers import run_flask

#: A package with no code of its own, so that Flask puts its instance folder in the test's ``tmp_path``.
LOCAL_PACKAGE = "ligand_local_service"
BARE_JWT_LINE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n")
UNREACHABLE_PROVIDER = "http://127.0.0.1:9/realms/x/.well-known/openid-configuration"

AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(database_uri: str) -> Iterator[AppFactory]:
    """Create petstore apps with their tables; ``local`` ones get their instance folder under ``tmp_path``."""
    apps: list[Flask] = []

    def make(environment: str = "testing", **settings: Any) -> Flask:
        if environment == "local":
            app, api = flask_ligand.create_app(LOCAL_PACKAGE, "local", "Pet Store", "1.0.0", DB_AUTO_UPGRADE=False)
            api.register_blueprint(views.BLP)
        else:
            app = example_petstore.create_app(environment, SQLALCHEMY_DATABASE_URI=database_uri, **settings)
        if "sqlalchemy" in app.extensions:
            with app.app_context():
                DB.create_all()
        apps.append(app)
        return app

    yield make
    for app in apps:
        if "sqlalchemy" in app.extensions:
            with app.app_context():
                DB.session.remove()
                DB.engine.dispose()


@pytest.fixture(autouse=True)
def _local_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``LOCAL_PACKAGE`` importable from ``tmp_path/src``; Flask then uses ``tmp_path/src/instance``."""
    source = tmp_path / "src"
    (source / LOCAL_PACKAGE).mkdir(parents=True)
    (source / LOCAL_PACKAGE / "__init__.py").write_text('"""A service package living in a test\'s tmp_path."""\n')
    monkeypatch.syspath_prepend(str(source))
    return source / "instance"


@pytest.fixture(params=["testing", "local"])
def dev_app(request: pytest.FixtureRequest, make_app: AppFactory) -> Flask:
    """A petstore in each environment that accepts development tokens."""
    return make_app(request.param)


def ligand_token(app: Flask, *args: str) -> str:
    """Run ``flask ligand token <args>`` and return the token, checking it is all the command printed."""
    result: Result = app.test_cli_runner().invoke(args=["ligand", "token", *args])
    assert result.exit_code == 0, f"flask ligand token exited {result.exit_code}:\n{result.output}"
    assert BARE_JWT_LINE.fullmatch(result.stdout), f"not one bare JWT line: {result.stdout!r}"
    assert result.stderr == ""
    return result.stdout.rstrip("\n")


def bearer(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


def test_token_prints_exactly_one_line_holding_a_bare_jwt(dev_app: Flask) -> None:
    """The command's whole output is the token and a newline: no label, no "Bearer", nothing on stderr."""
    ligand_token(dev_app, "--roles", "user,admin")


def test_token_is_rs256_signed_with_the_app_key_and_carries_the_roles(dev_app: Flask) -> None:
    """The token verifies with the app's public key under RS256 and holds the requested roles."""
    token = ligand_token(dev_app, "--roles", "user, admin")

    claims = jwt.decode(token, dev_app.config["JWT_PUBLIC_KEY"], algorithms=["RS256"])

    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert claims["realm_access"] == {"roles": ["user", "admin"]}
    assert claims["sub"] == "local-developer"


def test_token_sub_option_sets_the_subject(dev_app: Flask) -> None:
    """``--sub`` becomes the token's ``sub`` claim."""
    token = ligand_token(dev_app, "--sub", "alice")

    assert jwt.decode(token, dev_app.config["JWT_PUBLIC_KEY"], algorithms=["RS256"])["sub"] == "alice"


def test_user_token_creates_and_replaces_a_pet_but_cannot_delete_it(dev_app: Flask) -> None:
    """A ``user`` token is accepted for POST and PUT; DELETE answers 403 naming the missing ``admin`` role."""
    token = ligand_token(dev_app, "--roles", "user")
    client = dev_app.test_client()

    created = client.post("/pets/", json={"name": "Rex"}, headers=bearer(token))
    assert created.status_code == 201, created.json
    location = created.headers["Location"]

    etag = client.get(location).headers["ETag"]
    replaced = client.put(location, json={"name": "Max"}, headers=bearer(token, **{"If-Match": etag}))
    assert replaced.status_code == 200, replaced.json
    assert json_body(replaced)["name"] == "Max"

    etag = client.get(location).headers["ETag"]
    refused = client.delete(location, headers=bearer(token, **{"If-Match": etag}))
    assert refused.status_code == 403
    assert refused.json == {
        "code": 403,
        "status": "Forbidden",
        "message": "This endpoint requires the user to have the 'admin' role!",
        "request_id": refused.headers["X-Request-ID"],
    }
    assert client.get(location).status_code == 200


def test_user_and_admin_token_deletes_a_pet(dev_app: Flask) -> None:
    """A token made with ``--roles user,admin`` creates a pet and deletes it."""
    token = ligand_token(dev_app, "--roles", "user,admin")
    client = dev_app.test_client()
    location = client.post("/pets/", json={"name": "Rex"}, headers=bearer(token)).headers["Location"]
    etag = client.get(location).headers["ETag"]

    deleted = client.delete(location, headers=bearer(token, **{"If-Match": etag}))

    assert deleted.status_code == 204
    assert client.get(location).status_code == 404


def test_admin_only_token_cannot_create_a_pet(dev_app: Flask) -> None:
    """Roles are what the token says: an ``admin``-only token lacks ``user`` and is refused with 403."""
    token = ligand_token(dev_app, "--roles", "admin")

    response = dev_app.test_client().post("/pets/", json={"name": "Rex"}, headers=bearer(token))

    assert response.status_code == 403
    assert json_body(response)["message"] == "This endpoint requires the user to have the 'user' role!"


@pytest.mark.parametrize(
    ("environment", "settings"),
    [
        pytest.param("testing", {"OIDC_DISCOVERY_URL": UNREACHABLE_PROVIDER}, id="testing-with-oidc"),
        pytest.param(
            "prod",
            {
                "SERVICE_PUBLIC_URL": "https://pets.example.com",
                "SERVICE_PRIVATE_URL": "http://pets.internal",
                "ALLOWED_ROLES": ["user", "admin"],
                "OIDC_DISCOVERY_URL": UNREACHABLE_PROVIDER,
            },
            id="prod",
        ),
        pytest.param("cli", {}, id="cli"),
    ],
)
def test_token_is_refused_where_an_identity_provider_issues_tokens(
    make_app: AppFactory, environment: str, settings: dict[str, Any]
) -> None:
    """Without a development key (OIDC configured, ``prod``, ``cli``) the command fails and prints no token."""
    app = make_app(environment, **settings)

    result = app.test_cli_runner().invoke(args=["ligand", "token", "--roles", "user,admin"])

    assert result.exit_code != 0
    assert result.stdout == ""
    assert "Development tokens exist only in the 'local' and 'testing' environments" in result.stderr
    assert "OIDC_DISCOVERY_URL" in result.stderr


def test_local_keeps_its_signing_key_in_the_instance_folder_readable_by_the_owner_only(
    make_app: AppFactory, _local_package: Path
) -> None:
    """``local`` writes the development key to ``dev-signing-key.pem`` in the instance folder with mode 0600."""
    app = make_app("local")

    key_file = Path(app.instance_path, "dev-signing-key.pem")

    assert Path(app.instance_path) == _local_package
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_local_apps_of_one_instance_folder_accept_each_others_tokens(make_app: AppFactory) -> None:
    """The key survives a restart: a second ``local`` app accepts the first one's token, and the other way round."""
    first, second = make_app("local"), make_app("local")
    first_token, second_token = ligand_token(first, "--roles", "user"), ligand_token(second, "--roles", "user")

    from_first = second.test_client().post("/pets/", json={"name": "Rex"}, headers=bearer(first_token))
    from_second = first.test_client().post("/pets/", json={"name": "Max"}, headers=bearer(second_token))

    assert from_first.status_code == 201, from_first.json
    assert from_second.status_code == 201, from_second.json


def test_local_app_rejects_a_token_signed_with_another_key(make_app: AppFactory) -> None:
    """Verification is real: a token from the ``testing`` key is a 401 for a ``local`` app, which has its own key."""
    foreign_token = ligand_token(make_app("testing"), "--roles", "user")

    response = make_app("local").test_client().post("/pets/", json={"name": "Rex"}, headers=bearer(foreign_token))

    assert response.status_code == 401
    assert json_body(response)["code"] == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_token_puts_roles_where_the_app_reads_them(make_app: AppFactory) -> None:
    """With OIDC_ROLES_CLAIM naming Keycloak client roles, the printed token carries them there and is accepted."""
    app = make_app(OIDC_ROLES_CLAIM="resource_access.petstore.roles")
    token = ligand_token(app, "--roles", "user")

    claims = jwt.decode(token, options={"verify_signature": False})
    created = app.test_client().post("/pets/", json={"name": "Rex"}, headers=bearer(token))

    assert claims["resource_access"] == {"petstore": {"roles": ["user"]}}
    assert "realm_access" not in claims
    assert created.status_code == 201, created.json


@pytest.mark.parametrize("arguments", [["db", "upgrade"], ["db", "current", "--verbose"], ["db", "--help"]])
def test_db_in_the_cli_environment_says_where_it_runs(make_app: AppFactory, arguments: list[str]) -> None:
    """``cli`` sets up no database: ``flask db ...`` fails naming where to run it, not with "No such command"."""
    app = make_app("cli")

    result = app.test_cli_runner().invoke(args=arguments)

    assert result.exit_code == 1
    assert "'flask db' needs the database, which the cli environment does not set up" in result.stderr
    assert "FLASK_ENV=prod" in result.stderr


def test_flask_command_whose_app_is_misconfigured_prints_the_reason_alone(tmp_path: Path) -> None:
    """The release step on a misconfigured ``prod`` fails with the settings to fix, exit status 1, and no traceback."""
    environment = {"FLASK_APP": "example_petstore.app", "FLASK_ENV": "prod"}

    result = run_flask("db", "upgrade", environ=environment, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("Error: The 'prod' environment requires these settings, missing or empty:")
    assert "SERVICE_PUBLIC_URL" in result.stderr
    assert "Traceback" not in result.stderr
