"""The service under gunicorn with ``gunicorn.conf.py``: shared metrics, graceful SIGTERM, structured access log."""

from __future__ import annotations

import gzip
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

import example_petstore
from flask_ligand.extensions.database import DB
from tests.servers import Gunicorn, get, request
from tests.servers import gunicorn as serve_with_gunicorn

WORKERS = 2
_START_TIMEOUT = 60


def request_counts(url: str) -> dict[tuple[str, str, str], float]:
    """Scrape ``/metrics``; return ``http_requests_total`` by method, endpoint and status."""
    status, _, body = get(f"{url}/metrics")
    assert status == 200
    return {
        (sample.labels["method"], sample.labels["endpoint"], sample.labels["status"]): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "http_requests_total"
    }


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    """The petstore under gunicorn, ``gunicorn.conf.py`` and two workers, on a free port of 127.0.0.1."""
    database_uri = f"sqlite:///{tmp_path / 'petstore.sqlite'}"
    setup = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=database_uri)
    with setup.app_context():
        DB.create_all()
        DB.engine.dispose()
    environ = {
        "FLASK_ENV": "testing",  # what tests.live.gunicorn_app creates, so gunicorn's own lines are JSON too
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with serve_with_gunicorn(
        "tests.live.gunicorn_app:app", tmp_path, environ, workers=WORKERS, start_timeout=_START_TIMEOUT
    ) as server:
        yield server


def test_metrics_count_the_requests_of_every_worker(gunicorn: Gunicorn) -> None:
    """Whichever worker answers a scrape, ``/metrics`` counts the requests all workers answered."""
    for _ in range(8):
        assert get(f"{gunicorn.url}/pets/")[0] == 200
    get(f"{gunicorn.url}/nowhere")

    scrapes = [request_counts(gunicorn.url) for _ in range(6)]

    for counts in scrapes:
        assert counts[("GET", "/pets/", "200")] == 8
        assert counts[("GET", "<unmatched>", "404")] == 1


def test_responses_carry_a_request_id_and_no_server_version(gunicorn: Gunicorn) -> None:
    """Under gunicorn, every response has an X-Request-ID and a Server header without a version."""
    _, headers, _ = get(f"{gunicorn.url}/pets/")

    assert headers["X-Request-ID"]
    assert headers["Server"] == "gunicorn"


def test_request_lines_as_long_as_nginx_takes_are_served(gunicorn: Gunicorn) -> None:
    """A list filtered by many values, its request line near 8 KiB (nginx's default), is answered by the service."""
    names = "&".join(f"name__in=pet-name-{number:05d}" for number in range(300))
    assert 7000 < len(f"GET /pets/?{names} HTTP/1.1") < 8190

    status, headers, body = get(f"{gunicorn.url}/pets/?{names}")

    assert (status, headers["Content-Type"], json.loads(body)) == (200, "application/json", [])


def test_sigterm_lets_a_request_in_progress_finish(gunicorn: Gunicorn) -> None:
    """SIGTERM during a slow request: the request completes with 200, then gunicorn exits cleanly."""
    outcome: dict[str, Any] = {}

    def slow_request() -> None:
        outcome["status"], _, outcome["body"] = get(f"{gunicorn.url}/slow?seconds=3")

    client = threading.Thread(target=slow_request)
    client.start()
    deadline = time.monotonic() + 20
    while request_counts(gunicorn.url).get(("GET", "/slow", "200")) is None and not _slow_in_progress(gunicorn):
        assert time.monotonic() < deadline, "the slow request never started"
        time.sleep(0.1)

    gunicorn.process.send_signal(signal.SIGTERM)
    client.join(timeout=30)

    assert not client.is_alive()
    assert outcome["status"] == 200
    assert json.loads(outcome["body"]) == {"slept": 3.0}
    assert gunicorn.process.wait(timeout=40) == 0


def test_access_log_is_structured_without_the_query_string(gunicorn: Gunicorn) -> None:
    """gunicorn's access lines are JSON with method, path, status and request id, and leave the query out."""
    _, headers, _ = get(f"{gunicorn.url}/slow?seconds=0&token=query-secret-123")
    gunicorn.process.terminate()
    gunicorn.process.wait(timeout=40)

    lines = gunicorn.log_lines()
    access = [line for line in lines if line.get("logger") == "gunicorn.access" and line.get("path") == "/slow"]
    assert len(access) == 1
    assert access[0]["method"] == "GET"
    assert access[0]["status"] == 200
    assert access[0]["request_id"] == headers["X-Request-ID"]
    assert "query-secret-123" not in gunicorn.log.read_text()
    assert any(line.get("logger") == "gunicorn.error" for line in lines)


def _slow_in_progress(gunicorn: Gunicorn) -> bool:
    """Whether the slow request is being answered: more requests in flight than the scrape asking."""
    _, _, body = get(f"{gunicorn.url}/metrics")
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "http_requests_in_progress":
                return sample.value >= 2
    return False


def test_the_scheme_is_the_apps_to_read_not_gunicorns(gunicorn: Gunicorn) -> None:
    """Scheme headers from a peer gunicorn trusts (127.0.0.1, a proxy on the same host) are left to the app, which
    ignores them without ``PROXY_FIX_X_PROTO``: a client sending two that disagree gets the service's answer, not
    gunicorn's HTML 400, and one claiming https does not make the service's URLs https."""
    contradictory = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off", "X-Forwarded-Protocol": "http"}

    listed = request(gunicorn.url, "GET", "/pets/", headers=contradictory)
    redirected = request(gunicorn.url, "GET", "/pets", headers={"X-Forwarded-Proto": "https"})

    assert listed.status == 200
    assert listed.body == []
    assert redirected.status == 308
    assert redirected.headers["Location"].startswith("http://127.0.0.1:")


def test_a_large_access_token_reaches_the_service(gunicorn: Gunicorn) -> None:
    """A 20 KB bearer token (a provider listing many groups) gets the service's JSON answer, not gunicorn's HTML 431."""
    token = "eyJhbGciOiJSUzI1NiJ9." + "a" * 20_000 + ".signature"

    answer = request(gunicorn.url, "POST", "/pets/", {"name": "Rex"}, headers={"Authorization": f"Bearer {token}"})

    assert answer.status == 401
    assert answer.body["code"] == 401


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /pets/ HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", 400),
        (b"GET /pets/ HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n", 414),
        (b"POST /pets/ HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 501),
    ],
    ids=["malformed-header", "header-too-large", "request-line-too-long", "unknown-transfer-coding"],
)
def test_requests_gunicorn_refuses_get_the_json_error_shape(gunicorn: Gunicorn, raw: bytes, status: int) -> None:
    """What gunicorn answers itself, before the app sees the request, is JSON in the service's error shape too, with a
    request id, and its status line has the status' own reason (gunicorn gives a 501 the reason "Bad Request")."""
    answer = _exchange(gunicorn, raw)

    status_line, headers, document = _parsed(answer)
    assert status_line == f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"
    assert headers["content-type"] == "application/json"
    assert document["code"] == status
    assert document["status"] == HTTPStatus(status).phrase and document["message"]
    assert document["request_id"] == headers["x-request-id"]


def _exchange(gunicorn: Gunicorn, raw: bytes, *, half_close: bool = False) -> bytes:
    """Send ``raw`` on a connection of its own (then stop sending, if ``half_close``); return all it answers."""
    host, port = gunicorn.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(raw)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def _parsed(answer: bytes) -> tuple[str, dict[str, str], Any]:
    """The status line, the headers (lower-case names) and the JSON body of one HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return status_line, headers, json.loads(body)


_POST = b"POST /body-length HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n"


@pytest.mark.parametrize(
    "framing",
    [b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"],
    ids=["bad-chunk-size", "chunk-without-line-end"],
)
def test_a_body_whose_chunks_are_malformed_is_a_400(gunicorn: Gunicorn, framing: bytes) -> None:
    """A chunked body gunicorn cannot read (its reader raises while the view reads) is a JSON 400, not a 500."""
    answer = _exchange(gunicorn, _POST + b"Transfer-Encoding: chunked\r\n\r\n" + framing)

    status_line, _, document = _parsed(answer)
    assert status_line.startswith("HTTP/1.1 400 ")
    assert document["code"] == 400
    assert "could not be read" in document["message"]


def test_a_body_ending_before_its_content_length_is_a_400(gunicorn: Gunicorn) -> None:
    """A client that announces 54 bytes, sends 34 of valid JSON and closes its side gets a 400 naming both counts:
    the view never reads the part as if it were the whole body."""
    body = b'{"name": "Half", "description": ""}'[:34]

    answer = _exchange(gunicorn, _POST + b"Content-Length: 54\r\n\r\n" + body, half_close=True)

    status_line, _, document = _parsed(answer)
    assert status_line.startswith("HTTP/1.1 400 ")
    assert "ended after 34 of the 54 bytes" in document["message"]
    started = [line for line in gunicorn.log_lines() if line.get("event") == "request started"]
    assert started[-1]["body_omitted"] == "54 bytes announced, not read whole"
    assert not [line for line in gunicorn.log_lines() if "could not be logged" in line.get("event", "")]


def test_a_body_in_a_transfer_coding_other_than_chunked_is_a_501(gunicorn: Gunicorn) -> None:
    """``Transfer-Encoding: gzip, chunked``, which gunicorn passes on undecoded, is refused naming the coding
    (RFC 9112: 501) rather than read as a body that is not JSON."""
    compressed = gzip.compress(b'{"name": "Zip"}')
    chunked = b"%x\r\n" % len(compressed) + compressed + b"\r\n0\r\n\r\n"

    answer = _exchange(gunicorn, _POST + b"Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked)

    status_line, _, document = _parsed(answer)
    assert status_line.startswith("HTTP/1.1 501 ")
    assert "gzip" in document["message"]


def test_a_whole_chunked_body_is_read(gunicorn: Gunicorn) -> None:
    """The same view reads a well-formed chunked body whole."""
    answer = _exchange(gunicorn, _POST + b"Transfer-Encoding: chunked\r\n\r\n" + b"2\r\n{}\r\n0\r\n\r\n")

    assert _parsed(answer)[2] == {"length": 2}
