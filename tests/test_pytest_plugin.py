"""The testing kit: the plugin's fixtures and the helpers of ``flask_ligand.testing``, through the petstore."""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

import example_petstore
from flask_ligand import testing
from flask_ligand.errors import ConfigurationError
from tests.conftest import REPO_ROOT, HeadersFactory, TokenFactory

#: A service's test suite as a user writes it: the plugin comes from the entry point, the factory from pyproject.
SERVICE_PYPROJECT = """\
[tool.pytest.ini_options]
pythonpath = ["."]
addopts = ["-p", "no:cacheprovider"]
ligand_app_factory = "example_petstore:create_app"
"""
SERVICE_TEST = '''\
from flask_ligand.testing import assert_error


def test_writing_needs_a_token(client):
    """A pet posted without a token is refused."""
    assert_error(client.post("/pets/", json={"name": "Rex"}), 401)


def test_a_user_creates_a_pet(client, auth_headers):
    """A pet posted with the user role is stored."""
    assert client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user")).status_code == 201
'''


def _create(client: FlaskClient, auth_headers: HeadersFactory, name: str = "Rex") -> Any:
    response = client.post("/pets/", json={"name": name}, headers=auth_headers("user"))
    assert response.status_code == 201
    return response


def _run_pytest(project: Path, *args: str, ci: bool | str = False) -> subprocess.CompletedProcess[str]:
    """Run pytest in ``project``, outside CI unless ``ci`` (the plugin fails instead of skipping in CI); a text
    ``ci`` is the value of ``CI``."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "COV_")) and key != "CI"
    }
    if ci:
        environment["CI"] = ci if isinstance(ci, str) else "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def service(tmp_path: Path) -> Path:
    """A service's project folder with a pyproject.toml naming its factory and one test file."""
    project = tmp_path / "service"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(SERVICE_PYPROJECT)
    (project / "tests" / "test_service.py").write_text(SERVICE_TEST)
    return project


def test_plugin_is_registered_under_a_name_of_its_own() -> None:
    """The pytest11 entry point loads flask_ligand.pytest_plugin and is not called flask_ligand (a foreign plugin)."""
    plugins = {point.name: point.value for point in entry_points(group="pytest11")}
    assert plugins["flask-ligand-testing"] == "flask_ligand.pytest_plugin"
    assert plugins.get("flask_ligand") != "flask_ligand.pytest_plugin"


def test_service_suite_gets_the_fixtures_from_the_entry_point(service: Path) -> None:
    """A service's tests get ``client`` and ``auth_headers`` with nothing but the ini option, on SQLite by default."""
    result = _run_pytest(service, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_a_user_creates_a_pet[sqlite] PASSED" in result.stdout
    assert "2 passed" in result.stdout


def test_service_suite_runs_on_postgresql_given_a_server_url(service: Path, ligand_postgresql_url: str) -> None:
    """``--ligand-postgresql-url`` adds a ``[postgresql]`` run of each test, on that server."""
    result = _run_pytest(service, "-v", f"--ligand-postgresql-url={ligand_postgresql_url}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_a_user_creates_a_pet[postgresql] PASSED" in result.stdout
    assert "4 passed" in result.stdout


def test_factory_and_settings_can_come_from_conftest_fixtures(tmp_path: Path) -> None:
    """The quickstart's suite passes with docs/examples/testing/conftest.py instead of the ini option."""
    project = tmp_path / "quickstart"
    shutil.copytree(REPO_ROOT / "docs" / "examples" / "quickstart", project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace("ligand_app_factory", "# ligand_app_factory"))
    shutil.copyfile(REPO_ROOT / "docs" / "examples" / "testing" / "conftest.py", project / "tests" / "conftest.py")
    (project / "tests" / "test_settings.py").write_text(
        "def test_settings_reach_the_app(app):\n    assert app.config['PAGINATION_DEFAULT_PAGE_SIZE'] == 2\n"
    )
    result = _run_pytest(project, "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout


def test_testing_page_examples_run() -> None:
    """The doctest examples of docs/testing.md give the output shown."""
    outcome = doctest.testfile(str(REPO_ROOT / "docs" / "testing.md"), module_relative=False, report=True)
    assert outcome.attempted > 0
    assert outcome.failed == 0


def test_missing_factory_is_reported_with_the_way_to_set_it(service: Path) -> None:
    """Without ``ligand_app_factory`` the tests fail, and the message names the ini option and the fixture."""
    (service / "pyproject.toml").write_text(SERVICE_PYPROJECT.replace("ligand_app_factory", "# ligand_app_factory"))
    result = _run_pytest(service)
    assert result.returncode == 1
    assert "set the ini option ligand_app_factory = 'package.module:create_app'" in result.stdout
    assert "ligand_app_factory fixture" in result.stdout


def test_postgresql_variant_without_a_server_is_skipped_saying_why(service: Path) -> None:
    """``ligand_databases`` with ``postgresql`` but no server URL skips that variant with the way to give one."""
    (service / "pyproject.toml").write_text(SERVICE_PYPROJECT + 'ligand_databases = ["sqlite", "postgresql"]\n')
    result = _run_pytest(service, "-rs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 2 skipped" in result.stdout
    assert "no PostgreSQL server: pass --ligand-postgresql-url or set the ligand_postgresql_url ini option" in (
        result.stdout
    )


def test_postgresql_variant_without_a_server_fails_in_ci(service: Path) -> None:
    """In CI (``CI`` set) a ``postgresql`` variant without a server fails, so a broken pipeline cannot pass green."""
    (service / "pyproject.toml").write_text(SERVICE_PYPROJECT + 'ligand_databases = ["sqlite", "postgresql"]\n')
    result = _run_pytest(service, ci=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 passed, 2 errors" in result.stdout
    assert "no PostgreSQL server: pass --ligand-postgresql-url" in result.stdout
    assert "CI is set" in result.stdout


@pytest.mark.parametrize("value", ["false", "0"])
def test_ci_set_to_false_is_not_ci(service: Path, value: str) -> None:
    """``CI=false`` (or ``0``), as some shells and runners export it, skips the variant as on a developer machine."""
    (service / "pyproject.toml").write_text(SERVICE_PYPROJECT + 'ligand_databases = ["sqlite", "postgresql"]\n')
    result = _run_pytest(service, ci=value)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 2 skipped" in result.stdout


def test_a_missing_import_inside_the_service_shows_its_traceback(service: Path) -> None:
    """An import the service's own code gets wrong is reported where it is, not as a wrong ``ligand_app_factory``."""
    package = service / "library"
    package.mkdir()
    (package / "__init__.py").write_text("from library.helpers import create_app\n")
    (package / "helpers.py").write_text("from library.modles import Book  # misspelt\n\ncreate_app = None\n")
    (service / "pyproject.toml").write_text(SERVICE_PYPROJECT.replace("example_petstore:create_app", "library"))
    result = _run_pytest(service)
    assert result.returncode == 1
    assert "library/helpers.py:1" in result.stdout
    assert "No module named 'library.modles'" in result.stdout
    assert "cannot be loaded" not in result.stdout


def test_database_url_in_ligand_settings_says_to_override_database_uri(service: Path) -> None:
    """The database comes from ``database_uri``; setting it in ``ligand_settings`` says so instead of a TypeError."""
    (service / "tests" / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture\ndef ligand_settings():\n"
        "    return {'SQLALCHEMY_DATABASE_URI': 'sqlite://'}\n"
    )
    result = _run_pytest(service)
    assert result.returncode == 1
    assert "ligand_settings sets SQLALCHEMY_DATABASE_URI: override the database_uri fixture instead" in result.stdout
    assert "TypeError" not in result.stdout


def test_unknown_database_in_the_ini_option_is_a_usage_error(service: Path) -> None:
    """``ligand_databases = mysql`` stops the run, naming the databases there are."""
    (service / "pyproject.toml").write_text(SERVICE_PYPROJECT + 'ligand_databases = ["mysql"]\n')
    result = _run_pytest(service)
    assert result.returncode == 4
    assert "ligand_databases lists mysql; use sqlite and/or postgresql." in result.stderr


@pytest.mark.parametrize("run", [1, 2])
def test_every_test_starts_on_an_empty_database(client: FlaskClient, auth_headers: HeadersFactory, run: int) -> None:
    """Each run sees no pet from the other: the database is new for every test (on SQLite and PostgreSQL)."""
    assert client.get("/pets/").get_json() == []
    _create(client, auth_headers)


def test_app_is_the_service_in_testing(app: Flask, database_uri: str) -> None:
    """``app`` is the factory's app in ``testing``, on the test's ``database_uri``."""
    assert app.config["LIGAND_ENV"] == "testing"
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_uri


class TestSettings:
    @pytest.fixture
    def ligand_settings(self) -> dict[str, Any]:
        return {"PAGINATION_DEFAULT_PAGE_SIZE": 2}

    def test_ligand_settings_reach_the_factory(self, app: Flask) -> None:
        """Overriding ``ligand_settings`` passes extra settings to the service's factory."""
        assert app.config["PAGINATION_DEFAULT_PAGE_SIZE"] == 2


class TestRolesClaim:
    @pytest.fixture(params=["permissions", "resource_access.pets.api.roles", "https://example.com/roles"])
    def ligand_settings(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        return {"OIDC_ROLES_CLAIM": request.param}

    def test_tokens_carry_roles_where_the_service_reads_them(
        self, client: FlaskClient, auth_headers: HeadersFactory
    ) -> None:
        """With another ``OIDC_ROLES_CLAIM``, a token for the user role still creates a pet."""
        _create(client, auth_headers)


def test_token_without_the_role_is_refused(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A token for other roles than the view needs answers 403 naming the role."""
    response = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("admin"))
    testing.assert_error(response, 403, "This endpoint requires the user to have the 'user' role!")


@pytest.mark.parametrize("expires_in", [-60, -1, 0, -0.5])
def test_expired_token_is_refused(client: FlaskClient, make_token: TokenFactory, expires_in: float) -> None:
    """``make_token(expires_in=...)`` with zero or less makes a token the service rejects as expired, even within the
    clock-skew leeway it allows real tokens."""
    headers = {"Authorization": f"Bearer {make_token(expires_in=expires_in)}"}
    response = client.post("/pets/", json={"name": "Rex"}, headers=headers)
    testing.assert_error(response, 401, "The bearer token has expired; get a new one.")


def test_token_claims_reach_the_view(app: Flask, make_token: TokenFactory) -> None:
    """The subject and extra claims of a made token are the verified user's."""
    from flask_ligand import get_current_user

    token = make_token(roles=["admin"], sub="alice", email="alice@example.com")
    with app.test_request_context(headers={"Authorization": f"Bearer {token}"}):
        user = get_current_user()
    assert (user.id, user.roles, user.claims["email"]) == ("alice", ["admin"], "alice@example.com")


def test_make_token_refuses_an_app_with_an_identity_provider(tmp_path: Path) -> None:
    """An app that trusts an identity provider cannot be handed self-made tokens: the error says why."""
    with testing.created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'db.sqlite'}",
        OIDC_DISCOVERY_URL="http://127.0.0.1:9/.well-known/openid-configuration",
    ) as app:
        with pytest.raises(ConfigurationError, match="make_token needs an app that signs its own tokens"):
            testing.make_token(app)


def test_assert_error_returns_the_body_of_a_standard_error(client: FlaskClient) -> None:
    """A 404 of the service passes, and the body, with its request id, is returned."""
    response = client.get("/pets/6b1a6a56-4e0c-4cc7-b7c4-2a4b9c6b0d51")
    body = testing.assert_error(response, 404, re.compile("does not exist"))
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_assert_error_checks_the_validation_errors(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """``errors=`` compares the per-field messages of a 422."""
    response = client.post("/pets/", json={}, headers=auth_headers("user"))
    testing.assert_error(response, 422, errors={"json": {"name": ["Missing data for required field."]}})


@pytest.mark.parametrize(
    ("response", "status", "message", "problem"),
    [
        (Response("<h1>Oops</h1>", 500, mimetype="text/html"), 500, None, "must be JSON, not 'text/html'"),
        (Response('{"code": 404}', 404, mimetype="application/json"), 404, None, "lacks status, message"),
        (
            Response(
                '{"code": 404, "status": "Not Found", "message": "No.", "detail": "x"}',
                404,
                mimetype="application/json",
            ),
            404,
            None,
            "unexpected members detail",
        ),
        (
            Response('{"code": 404, "status": "NOT_FOUND", "message": "No."}', 404, mimetype="application/json"),
            404,
            None,
            "expected 'Not Found'",
        ),
        (
            Response('{"code": 404, "status": "Not Found", "message": "No."}', 404, mimetype="application/json"),
            410,
            None,
            "status 404, expected 410",
        ),
        (
            Response('{"code": 404, "status": "Not Found", "message": "No."}', 404, mimetype="application/json"),
            404,
            "Gone.",
            "'message' is not 'Gone.'",
        ),
        (
            Response(
                '{"code": 404, "status": "Not Found", "message": "No.", "request_id": "a"}',
                404,
                mimetype="application/json",
                headers={"X-Request-ID": "b"},
            ),
            404,
            None,
            "'request_id' is 'a'",
        ),
    ],
    ids=["html", "incomplete", "extra-member", "status-name", "other-status", "other-message", "other-request-id"],
)
def test_assert_error_rejects_a_non_standard_error(
    response: Response, status: int, message: str | None, problem: str
) -> None:
    """Each way a body can differ from the standard error is an ``AssertionError`` saying what and showing it."""
    with pytest.raises(AssertionError, match=re.escape(problem)) as raised:
        testing.assert_error(response, status, message)
    assert response.get_data(as_text=True) in str(raised.value)


def test_json_body_returns_the_parsed_body(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """The body of a created pet comes back as the dict a client reads."""
    assert testing.json_body(_create(client, auth_headers))["name"] == "Rex"


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (Response("<p>Rex</p>", mimetype="text/html"), "the body must be JSON, not 'text/html'"),
        (Response('{"name": "Rex"', mimetype="application/json"), "the body is not valid JSON"),
    ],
    ids=["not-json", "invalid-json"],
)
def test_json_body_fails_showing_a_body_that_is_not_json(response: Response, problem: str) -> None:
    """A body that is not JSON, by its type or its content, is an ``AssertionError`` showing the response."""
    with pytest.raises(AssertionError, match=re.escape(problem)) as raised:
        testing.json_body(response)
    assert response.get_data(as_text=True) in str(raised.value)


def test_assert_pagination_reads_x_pagination(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """Three pets in pages of two: the first page's ``X-Pagination`` has the totals and a next page only."""
    for name in ("Rex", "Max", "Bob"):
        _create(client, auth_headers, name)
    response = client.get("/pets/?page_size=2")
    metadata = testing.assert_pagination(response, total=3, total_pages=2, page=1, next_page=2, previous_page=None)
    assert metadata["first_page"] == 1


def test_assert_pagination_reports_a_difference(client: FlaskClient) -> None:
    """A member with another value fails, naming it."""
    with pytest.raises(AssertionError, match=r"in \['total'\]"):
        testing.assert_pagination(client.get("/pets/"), total=1)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Pagination": "not json"}, {"X-Pagination": "[1, 2]"}],
    ids=["missing", "not-json", "not-an-object"],
)
def test_pagination_requires_a_json_object(headers: dict[str, str]) -> None:
    """A response without a JSON object in ``X-Pagination`` fails."""
    with pytest.raises(AssertionError, match="X-Pagination"):
        testing.pagination(Response("[]", mimetype="application/json", headers=headers))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('</pets/?cursor=a>; rel="next", </pets/>; rel="first"', {"next": "/pets/?cursor=a", "first": "/pets/"}),
        ("<https://x.test/p?a=1,2>;rel=prev", {"prev": "https://x.test/p?a=1,2"}),
        ('</p/2>; title="two"; rel="next last"', {"next": "/p/2", "last": "/p/2"}),
        ("", {}),
    ],
    ids=["two-links", "bare-rel", "two-rels", "empty"],
)
def test_links_parses_the_link_header(header: str, expected: dict[str, str]) -> None:
    """``links`` maps each relation of an RFC 8288 ``Link`` header to its URL."""
    response = Response("[]", headers={"Link": header} if header else {})
    assert testing.links(response) == expected


def test_links_follows_the_petstores_keyset_pages(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """The ``next`` link of the first page leads to the remaining pet, whose page has no ``next``."""
    for name in ("Rex", "Max", "Bob"):
        _create(client, auth_headers, name)
    first = client.get("/pets/?page_size=2")
    second = client.get(testing.links(first)["next"])
    assert len(second.get_json()) == 1
    assert "next" not in testing.links(second)


def test_assert_etag_round_trip_gives_the_current_etag(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A pet's ETag turns its GET into a 304; the returned ETag is the one a write then needs."""
    created = _create(client, auth_headers)
    location = created.headers["Location"]
    etag = testing.assert_etag_round_trip(client, location)
    replaced = client.put(location, json={"name": "Max"}, headers=auth_headers("user", **{"If-Match": etag}))
    assert replaced.status_code == 200


def test_assert_etag_round_trip_fails_without_an_etag(client: FlaskClient) -> None:
    """An endpoint without ETags fails the round trip."""
    with pytest.raises(AssertionError, match="has no ETag header"):
        testing.assert_etag_round_trip(client, "/health/live")


def test_assert_if_match_required_leaves_the_item_unchanged(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A PUT needs ``If-Match`` (428) and the current ETag (412); afterwards the pet is as it was."""
    created = _create(client, auth_headers)
    location = created.headers["Location"]
    testing.assert_if_match_required(client, "PUT", location, auth_headers("user"), json={"name": "Max"})
    assert client.get(location).get_json()["name"] == "Rex"


def test_assert_if_match_required_fails_for_an_unconditional_write(
    client: FlaskClient, auth_headers: HeadersFactory
) -> None:
    """A POST, which needs no ``If-Match``, fails the check."""
    with pytest.raises(AssertionError, match="status 201, expected 428"):
        testing.assert_if_match_required(client, "POST", "/pets/", auth_headers("user"), json={"name": "Rex"})


def test_assert_iso8601_reads_the_petstores_datetimes(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """``created_at`` of a new pet is an ISO 8601 UTC datetime of about now."""
    created_at = testing.assert_iso8601(_create(client, auth_headers).get_json()["created_at"])
    assert abs((datetime.now(UTC) - created_at).total_seconds()) < 300


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2026-11-21T12:56:30Z", True),
        ("2026-11-21T12:56:30.250+00:00", True),
        ("2026-11-21T13:56:30+01:00", False),
    ],
)
def test_assert_iso8601_accepts_datetimes_with_a_zone(value: str, utc: bool) -> None:
    """RFC 3339 datetimes pass and come back aware."""
    assert testing.assert_iso8601(value, utc=utc).utcoffset() is not None


@pytest.mark.parametrize(
    "value",
    ["2026-11-21", "2026-11-21T12:56:30", "2026-11-21 12:56:30Z", "2026-11-21T13:56:30+01:00", 1763729790, None],
)
def test_assert_iso8601_rejects_other_values(value: object) -> None:
    """A date, a naive or non-UTC datetime, a space separator or a number fails."""
    with pytest.raises(AssertionError):
        testing.assert_iso8601(value)


def test_docs_show_how_to_disable_the_entry_point() -> None:
    """docs/testing.md names the entry point as pyproject.toml registers it, for ``-p no:`` to disable it."""
    assert "-p no:flask-ligand-testing" in (REPO_ROOT / "docs" / "testing.md").read_text()
    assert 'flask-ligand-testing = "flask_ligand.pytest_plugin"' in (REPO_ROOT / "pyproject.toml").read_text()
