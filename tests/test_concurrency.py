"""No lost updates: the petstore under gunicorn, in ``prod``, hit by concurrent ``PUT``\\ s carrying the same ETag.

Each round sends 20 ``PUT``\\ s with one ``If-Match`` and 20 different bodies at once; exactly one may win (200), the
others must get 412, and the stored row must be the winner's body. This runs on PostgreSQL and on a SQLite file, with
one gunicorn of 4 workers and with two separate instances on two ports sharing the database. Writes that repeat the
stored values race the same way, and ``If-Match: *`` writes, which write over whatever is stored, all succeed.
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
    headers = {"Authorization": f"Bearer {token}", "If-Match": etag}
    answers = _at_once(base_urls, path, [("PUT", body, headers) for body in bodies])
    return list(zip(bodies, answers, strict=True))


def _at_once(base_urls: list[str], path: str, calls: list[tuple[str, Any, dict[str, str]]]) -> list[Answer]:
    """Send each ``(method, body, headers)`` of ``calls`` to ``path`` at the same moment, spread over ``base_urls``."""
    answers: list[Answer | None] = [None] * len(calls)
    start = threading.Barrier(len(calls), timeout=TIMEOUT)

    def send(client: int) -> None:
        start.wait()
        method, body, headers = calls[client]
        answers[client] = _request(base_urls[client % len(base_urls)], method, path, body, headers)

    threads = [threading.Thread(target=send, args=(client,), name=f"racer-{client}") for client in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT + 10)
    assert all(answer is not None for answer in answers), "a client got no answer in time"
    return [answer for answer in answers if answer is not None]


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


def test_concurrent_writes_repeating_the_stored_values_do_not_win_beside_the_real_one(
    gunicorn: Gunicorn, database_uri: str, token: str
) -> None:
    """A write that changes no value is still checked against the ETag: of five such PATCHes and one changing the
    description, all with the same ETag, exactly one wins, and what is stored is the winner's."""
    base_url = gunicorn(workers=4)
    auth = {"Authorization": f"Bearer {token}"}
    created = _request(base_url, "POST", "/pets/", {"name": "Rex", "description": "orig"}, auth)
    assert created.status == 201, created.body
    path = f"/pets/{created.body['id']}"
    for round_number in range(ROUNDS):
        read = _request(base_url, "GET", path)
        assert read.status == 200 and read.etag, read.body
        description = read.body["description"]
        headers = {**auth, "If-Match": read.etag, "Content-Type": "application/merge-patch+json"}
        calls = [("PATCH", {"description": description}, headers)] * 5
        calls.append(("PATCH", {"description": f"changed in round {round_number}"}, headers))

        answers = _at_once([base_url], path, calls)

        assert sorted(answer.status for answer in answers) == [200] + [412] * 5, f"round {round_number}"
        winner = next(answer for answer in answers if answer.status == 200)
        stored = _stored(database_uri, created.body["id"])
        assert stored["description"] == winner.body["description"], f"round {round_number}"
        assert winner.etag == f'"{stored["version_id"]}"'


def test_concurrent_puts_with_if_match_star_all_write(gunicorn: Gunicorn, database_uri: str, token: str) -> None:
    """``If-Match: *`` writes over whatever is stored: twenty at once all succeed, one after the other, and the
    stored row is the body and version of one of them."""
    base_url = gunicorn(workers=4)
    auth = {"Authorization": f"Bearer {token}"}
    created = _request(base_url, "POST", "/pets/", {"name": "Contested"}, auth)
    assert created.status == 201, created.body
    path = f"/pets/{created.body['id']}"
    bodies = [{"name": f"Star {client}", "description": f"Written by client {client}."} for client in range(CLIENTS)]

    answers = _at_once([base_url], path, [("PUT", body, {**auth, "If-Match": "*"}) for body in bodies])

    assert [answer.status for answer in answers] == [200] * CLIENTS, [answer.body for answer in answers]
    assert len({answer.etag for answer in answers}) == CLIENTS  # each write made a version of its own
    stored = _stored(database_uri, created.body["id"])
    last = next(answer for answer in answers if answer.etag == f'"{stored["version_id"]}"')
    assert {"name": stored["name"], "description": stored["description"]} == {
        key: last.body[key] for key in ("name", "description")
    }
