"""Prometheus metrics: requests per endpoint and status, latency, in-flight requests and database connections."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

import example_petstore
from tests.conftest import REPO_ROOT, HeadersFactory
from tests.servers import run_flask


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """SQLite only: what is counted does not depend on the database."""
    return f"sqlite:///{tmp_path / 'petstore.sqlite'}"


def samples(client: FlaskClient, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Scrape ``/metrics`` and return every sample by name and labels."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


def test_requests_are_counted_per_endpoint_and_status(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """Each answered request is counted under its route template, method and status, and its latency observed."""
    client.get("/pets/")
    client.get("/pets/")
    client.get("/pets/00000000-0000-0000-0000-000000000001")
    client.post("/pets/", json={}, headers=auth_headers("user"))

    scraped = samples(client)

    assert scraped[("http_requests_total", labels(method="GET", endpoint="/pets/", status="200"))] == 2
    item = labels(method="GET", endpoint="/pets/<uuid:item_id>", status="404")
    assert scraped[("http_requests_total", item)] == 1
    assert scraped[("http_requests_total", labels(method="POST", endpoint="/pets/", status="422"))] == 1
    assert scraped[("http_request_duration_seconds_count", item)] == 1
    assert scraped[("http_request_duration_seconds_bucket", item | {("le", "+Inf")})] == 1


def test_unknown_paths_share_one_label(client: FlaskClient) -> None:
    """Requests to paths no route matches are counted together, so scanners cannot multiply the series."""
    for path in ("/a", "/b", "/c/d"):
        client.get(path)

    scraped = samples(client)

    assert scraped[("http_requests_total", labels(method="GET", endpoint="<unmatched>", status="404"))] == 3


def test_made_up_methods_share_one_label(client: FlaskClient) -> None:
    """Any token is a valid HTTP method: made-up ones are counted together, so clients cannot multiply the series."""
    client.get("/pets/")
    for method in ("BREW", "X1", "X2", "PROPFIND"):
        assert client.open("/pets/", method=method).status_code == 405

    scraped = samples(client)

    assert scraped[("http_requests_total", labels(method="<other>", endpoint="<unmatched>", status="405"))] == 4
    methods = {dict(sample_labels).get("method") for _name, sample_labels in scraped}
    assert methods == {None, "GET", "<other>"}


def test_scrape_sees_itself_in_flight_and_no_connection_left_checked_out(client: FlaskClient) -> None:
    """During a scrape one request is in flight; after requests that used the database, no connection is held."""
    client.get("/pets/")
    client.get("/pets/00000000-0000-0000-0000-000000000001")

    scraped = samples(client)

    assert scraped[("http_requests_in_progress", labels())] == 1
    assert scraped[("db_pool_connections_in_use", labels(database="default"))] == 0


def test_metrics_are_off_in_production(monkeypatch: pytest.MonkeyPatch, database_uri: str) -> None:
    """In ``prod``, ``/metrics`` does not exist unless METRICS_ENABLED is set."""
    for key, value in {
        "SERVICE_PUBLIC_URL": "https://api.example.org",
        "SERVICE_PRIVATE_URL": "http://petstore.internal",
        "ALLOWED_ROLES": "user,admin",
        "OIDC_DISCOVERY_URL": "https://idp.example.org/.well-known/openid-configuration",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "PAGINATION_CURSOR_SECRET": "0123456789abcdef",
    }.items():
        monkeypatch.setenv(key, value)

    response = example_petstore.create_app("prod").test_client().get("/metrics")

    assert response.status_code == 404
    assert response.mimetype == "application/json"


def test_metrics_token_protects_the_endpoint(database_uri: str) -> None:
    """With METRICS_TOKEN, a scrape without that bearer token answers 401 JSON, and with it the metrics."""
    client = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=database_uri, METRICS_TOKEN="scrape-secret"
    ).test_client()

    refused = client.get("/metrics", headers={"Authorization": "Bearer wrong"})

    assert refused.status_code == 401
    assert refused.json is not None and refused.json["code"] == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert ("http_requests_total", labels(method="GET", endpoint="/metrics", status="401")) in samples(
        client, Authorization="Bearer scrape-secret"
    )


def test_a_command_outside_gunicorn_makes_the_shared_metrics_directory(database_uri: str, tmp_path: Path) -> None:
    """``flask db upgrade`` as a release step, where no gunicorn made ``PROMETHEUS_MULTIPROC_DIR``, still runs."""
    shared = tmp_path / "not-made-yet" / "prometheus"
    environment = {
        "PROMETHEUS_MULTIPROC_DIR": str(shared),  # read by prometheus_client when imported: a process of its own
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "FLASK_APP": "example_petstore.app",
        "FLASK_ENV": "local",
        "DB_AUTO_UPGRADE": "false",
        "LOG_LEVEL": "WARNING",
    }

    result = run_flask("db", "upgrade", environ=environment, cwd=REPO_ROOT)

    assert result.returncode == 0, result.stderr
    assert shared.is_dir()
    assert any(shared.glob("gauge_livesum_*.db"))
