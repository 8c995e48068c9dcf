"""Real servers on 127.0.0.1 for tests that must go through a socket, not the test client, and real processes of the
repository's commands (gunicorn, ``flask``)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from jwt.algorithms import RSAAlgorithm
from werkzeug.datastructures import Headers
from werkzeug.serving import make_server

#: The key id of the tokens :func:`sign_token` makes and :func:`oidc_provider` publishes.
KID = "test-provider-key"
_REPO_ROOT = Path(__file__).resolve().parent.parent


def require(available: bool, reason: str) -> None:
    """Skip when a neighbour (PostgreSQL, Node, Chromium, Java...) is missing on a developer machine; fail in CI.

    CI installs every neighbour, so a missing one there is a broken pipeline, not a reason to skip.
    """
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` with werkzeug's threaded server on a free port of 127.0.0.1; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A TCP port of 127.0.0.1 free a moment ago, for servers that must be told their port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str, timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``; return the status, the headers and the body, for error statuses too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@contextmanager
def oidc_provider(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """An OpenID Connect provider on 127.0.0.1 publishing ``signing_key`` (discovery and JWKS); yield its issuer."""
    jwk = {**RSAAlgorithm.to_jwk(signing_key.public_key(), as_dict=True), "kid": KID, "use": "sig", "alg": "RS256"}
    app = Flask("provider")
    base: dict[str, str] = {}

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {"issuer": base["url"], "jwks_uri": f"{base['url']}/jwks"}

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [jwk]}

    with serve(app) as url:
        base["url"] = url
        yield url


def sign_token(
    signing_key: rsa.RSAPrivateKey, issuer: str, roles: Sequence[str] = ("user",), sub: str = "tester"
) -> str:
    """A bearer token from :func:`oidc_provider`'s ``issuer``, valid for ten minutes, with realm ``roles``."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": sub,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "realm_access": {"roles": list(roles)},
    }
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": KID})


@dataclass(frozen=True)
class Answer:
    """A response read whole: status, headers (looked up in any case) and body (parsed when JSON)."""

    status: int
    headers: Headers
    body: Any

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


def request(
    base_url: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 60
) -> Answer:
    """One HTTP request on a connection of its own to ``base_url`` (``http://HOST:PORT``); ``body`` is sent as JSON."""
    host, port = base_url.removeprefix("http://").split(":")
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(headers or {})}
    return exchange(http.client.HTTPConnection(host, int(port), timeout=timeout), method, path, payload, headers)


def exchange(
    connection: http.client.HTTPConnection, method: str, path: str, payload: bytes | None, headers: dict[str, str]
) -> Answer:
    """Send one request on ``connection`` (plain or TLS), read the whole response, and close the connection."""
    try:
        connection.request(method, path, payload, headers)
        response = connection.getresponse()
        data = response.read()
        is_json = (response.getheader("Content-Type") or "").startswith("application/json")
        return Answer(response.status, Headers(response.getheaders()), json.loads(data) if is_json and data else data)
    finally:
        connection.close()


@dataclass(frozen=True)
class Gunicorn:
    """A gunicorn server :func:`gunicorn` started: its process, port and log file."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines of its log so far, parsed."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]


@contextmanager
def gunicorn(
    app: str, workdir: Path, environ: Mapping[str, str], *, workers: int = 1, start_timeout: float = 60
) -> Iterator[Gunicorn]:
    """Serve ``app`` (``module:variable``) with gunicorn and the repository's ``gunicorn.conf.py`` on a free port of
    127.0.0.1, its log in ``workdir``, once ``/health/live`` answers; stop it with SIGTERM on exit (unless stopped).

    ``environ`` is added to this process' environment, with the repository on ``PYTHONPATH``.
    """
    port = free_port()
    log = workdir / "gunicorn.log"
    env = _process_environment(environ)
    command = [sys.executable, "-m", "gunicorn", "-c", str(_REPO_ROOT / "gunicorn.conf.py")]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", str(workers), app]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=output
        )
    server = Gunicorn(process, port, log)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            assert process.poll() is None, f"gunicorn exited:\n{log.read_text()}"
            try:
                if get(f"{server.url}/health/live", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"gunicorn did not start:\n{log.read_text()}"
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run_flask(
    *args: str, environ: Mapping[str, str], cwd: Path, program: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``flask <args>`` (or ``program <args>``, a service's own script) in a process of its own, as an operator
    would, ``environ`` added to this process' environment with the repository on ``PYTHONPATH``; its output captured.
    """
    command = [*(program or (sys.executable, "-m", "flask")), *args]
    return subprocess.run(
        command, cwd=cwd, env=_process_environment(environ), capture_output=True, text=True, timeout=120, check=False
    )


def _process_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(_REPO_ROOT), **environ}
