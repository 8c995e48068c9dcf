"""A database outage while the service runs: quick 503 JSON answers, then recovery without a restart."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from psycopg import sql

import example_petstore
from flask_ligand.extensions.database import DB
from tests import pg
from tests.servers import serve


def get(url: str) -> tuple[int, dict[str, str], Any]:
    """GET ``url``; return the status, the headers and the JSON body, for errors too."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def test_requests_answer_503_while_the_database_is_down_and_succeed_once_it_is_back(
    postgresql_cluster: pg.Cluster,
) -> None:
    """With the database refusing connections, requests answer 503 JSON; once it accepts again, 200, same process."""
    with postgresql_cluster.database() as uri:
        name = sql.Identifier(uri.rsplit("/", 1)[1])
        app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=uri)
        with app.app_context():
            DB.create_all()
        try:
            with serve(app) as url:
                assert get(f"{url}/pets/")[0] == 200

                # The server drops every connection of the service and refuses new ones, as when it is down.
                postgresql_cluster.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
                postgresql_cluster.execute(
                    sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {}").format(
                        sql.Literal(uri.rsplit("/", 1)[1])
                    )
                )
                status, headers, body = get(f"{url}/pets/")
                ready_status, _, ready = get(f"{url}/health/ready")

                postgresql_cluster.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
                recovered_status, _, _ = get(f"{url}/pets/")
                recovered_ready, _, _ = get(f"{url}/health/ready")
        finally:
            with app.app_context():
                DB.engine.dispose()

    assert status == 503
    assert body == {
        "code": 503,
        "status": "Service Unavailable",
        "message": "The database is unavailable; try again shortly.",
        "request_id": headers["X-Request-ID"],
    }
    assert headers["Retry-After"] == "5"
    assert ready_status == 503 and ready["checks"]["database"]["status"] == "fail"
    assert recovered_status == 200
    assert recovered_ready == 200
