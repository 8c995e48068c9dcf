"""No lost updates: the petstore under gunicorn, in ``prod``, hit by concurrent ``PUT``\\ s carrying the same ETag.

Each round sends 20 ``PUT``\\ s with one ``If-Match`` and 20 different bodies at once; exactly one may win (200), the
others must get 412, and the stored row must be the winner's body. This runs on PostgreSQL and on a SQLite file, with
one gunicorn of 4 workers and with two separate instances on two ports sharing the database.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.datastructures import Headers

import example_petstore
from example_petstore.models import Pet
from flask_ligand.extensions.database import DB
from tests.servers import Answer, request, sign_token

ROUNDS = 10
CLIENTS = 20
#: Upper bound of every wait on a server: start-up on a busy machine, and each request.
TIMEOUT = 60

Gunicorn = Callable[..., str]


@pytest.fixture
def token(signing_key: rsa.RSAPrivateKey, provider: str) -> str:
    """A bearer token with the ``user`` role, issued by the provider."""
    return sign_token(signing_key, provider, sub="racer")


@pytest.fixture
def schema(database_uri: str) -> None:
    """The petstore's tables in the test's database, as a release step would create them before the servers start."""
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri)
    with app.app_context():
        DB.create_all()
        DB.engine.dispose()


@pytest.fixture
def gunicorn(database_uri: str, provider: str, schema: None, tmp_path: Path) -> Iterator[Gunicorn]:
    """Start ``gunicorn example_petstore.app:app`` in ``prod`` on a free port: ``gunicorn(workers=4)`` -> base URL.

    Every server started is terminated at teardown.
    """
    processes: list[subprocess.Popen[bytes]] = []
    environment = {key: value for key, value in os.environ.items() if key != "GUNICORN_CMD_ARGS"}
    environment.update(
        FLASK_ENV="prod",
        SERVICE_PUBLIC_URL="https://pets.example.com",
        SERVICE_PRIVATE_URL="http://pets.internal",
        ALLOWED_ROLES="user,admin",
        OIDC_DISCOVERY_URL=f"{provider}/.well-known/openid-configuration",
        SQLALCHEMY_DATABASE_URI=database_uri,
        PAGINATION_CURSOR_SECRET=secrets.token_hex(32),
    )

    def start(workers: int) -> str:
        log = tmp_path / f"gunicorn-{len(processes)}.log"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--bind",
            "127.0.0.1:0",
            "--timeout",
            str(TIMEOUT),
            "--graceful-timeout",
            "1",
            "--no-control-socket",
            "--preload",
            "example_petstore.app:app",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=tmp_path, env=environment, stdout=output, stderr=output, start_new_session=True
            )
        processes.append(process)
        return _wait_until_serving(process, log)

    yield start
    for process in processes:
        # SIGINT is gunicorn's quick shutdown; SIGTERM would let requests finish first.
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the session of this master and its workers only
            process.wait(timeout=5)


def _wait_until_serving(process: subprocess.Popen[bytes], log: Path) -> str:
    """Read the bound port from gunicorn's log, then wait until the petstore answers there."""
    deadline = time.monotonic() + TIMEOUT
    url = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        if url is None and (match := re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())):
            url = match.group(1)
        if url is not None and _request(url, "GET", "/pets/", timeout=5).status == 200:
            return url
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not serve the petstore within {TIMEOUT} s:\n{log.read_text(errors='replace')}")


def _request(
    base_url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 60
) -> Answer:
    """One HTTP request on a connection of its own; connection failures are status 0."""
    try:
        return request(base_url, method, path, body, headers, timeout)
    except (ConnectionError, TimeoutError):
        return Answer(0, Headers(), None)


def _race(
    base_urls: list[str], path: str, etag: str, token: str, round_number: int
) -> list[tuple[dict[str, Any], Answer]]:
    """Send ``CLIENTS`` PUTs with the same ``If-Match`` and different bodies at once, spread over ``base_urls``."""
    bodies = [
        {"name": f"Round {round_number} client {client}", "description": f"Written by client {client}."}
        for client in range(CLIENTS)
    ]
    answers: list[Answer | None] = [None] * CLIENTS
    start = threading.Barrier(CLIENTS, timeout=TIMEOUT)
    headers = {"Authorization": f"Bearer {token}", "If-Match": etag}

    def put(client: int) -> None:
        start.wait()
        answers[client] = _request(base_urls[client % len(base_urls)], "PUT", path, bodies[client], headers)

    threads = [threading.Thread(target=put, args=(client,), name=f"racer-{client}") for client in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT + 10)
    assert all(answer is not None for answer in answers), "a client got no answer in time"
    return [(body, answer) for body, answer in zip(bodies, answers, strict=True) if answer is not None]


def _stored(database_uri: str, pet_id: str) -> dict[str, str]:
    """The pet's row as the database has it, read on a connection of the test's own."""
    engine = sa.create_engine(database_uri)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                sa.select(Pet.name, Pet.description, Pet.version_id).where(Pet.id == uuid.UUID(pet_id))
            ).one()
        return {"name": row.name, "description": row.description, "version_id": row.version_id}
    finally:
        engine.dispose()


def _assert_one_winner_per_round(base_urls: list[str], database_uri: str, token: str) -> None:
    created = _request(base_urls[0], "POST", "/pets/", {"name": "Contested"}, {"Authorization": f"Bearer {token}"})
    assert created.status == 201, created.body
    path = f"/pets/{created.body['id']}"
    for round_number in range(ROUNDS):
        read = _request(base_urls[round_number % len(base_urls)], "GET", path)
        assert read.status == 200 and read.etag, read.body

        results = _race(base_urls, path, read.etag, token, round_number)

        statuses = sorted(answer.status for _, answer in results)
        assert statuses == [200] + [412] * (CLIENTS - 1), f"round {round_number}: {statuses}"
        winner_body, winner = next((body, answer) for body, answer in results if answer.status == 200)
        stored = _stored(database_uri, created.body["id"])
        assert {"name": stored["name"], "description": stored["description"]} == winner_body, f"round {round_number}"
        assert winner.etag == f'"{stored["version_id"]}"'
        for _, loser in results:
            if loser.status == 412:
                assert loser.body["status"] == "Precondition Failed"


def test_concurrent_puts_with_one_etag_have_exactly_one_winner_under_gunicorn(
    gunicorn: Gunicorn, database_uri: str, token: str
) -> None:
    """Under one gunicorn with 4 workers, each round of 20 same-ETag PUTs has one 200, nineteen 412s, and the
    winner's body is what is stored."""
    base_url = gunicorn(workers=4)

    _assert_one_winner_per_round([base_url], database_uri, token)


def test_concurrent_puts_across_two_instances_have_exactly_one_winner(
    gunicorn: Gunicorn, database_uri: str, token: str
) -> None:
    """With two separate instances on two ports sharing the database, each round still has exactly one winner."""
    base_urls = [gunicorn(workers=2), gunicorn(workers=2)]
    assert base_urls[0] != base_urls[1]

    _assert_one_winner_per_round(base_urls, database_uri, token)
