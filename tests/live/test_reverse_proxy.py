"""The petstore behind a real nginx, configured with the blocks ``docs/deployment.md`` shows, terminating TLS.

Each test runs twice: with the service at the root (``docs/examples/nginx-location.conf``) and mounted under
``/petstore/`` (``docs/examples/nginx-prefix.conf``). The client connects from 127.0.0.2 and nginx from 127.0.0.1, so
the address the service logs tells which one it believed. The service runs with ``PROXY_FIX_X_FOR``,
``PROXY_FIX_X_PROTO`` and ``PROXY_FIX_X_HOST`` at 1, and ``PROXY_FIX_X_PREFIX`` at 1 under the prefix, as the page
says, and trusts request ids from 127.0.0.1 (the default ``REQUEST_ID_TRUSTED_PROXIES``).
"""

from __future__ import annotations

import datetime
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask

import example_petstore
from flask_ligand.extensions.database import DB
from flask_ligand.testing import make_token
from tests.conftest import REPO_ROOT
from tests.servers import Answer, exchange, free_port, require, serve

EXAMPLES = REPO_ROOT / "docs" / "examples"
PUBLIC_HOST = "pets.example.test"
CLIENT_ADDRESS = "127.0.0.2"
#: What a client may write in the headers the proxy is trusted for.
FORGED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http", "X-Request-ID": "forged-by-the-client"}
TIMEOUT = 30


@dataclass(frozen=True)
class Mount:
    """A location block of ``docs/examples`` and the path it serves the service at (``""``: the root)."""

    block: str
    prefix: str


@dataclass(frozen=True)
class Proxy:
    """nginx in front of the service: ``request()`` goes through it over TLS, from ``CLIENT_ADDRESS``.

    Paths are the public ones: the service's own, after ``prefix``.
    """

    port: int
    certificate: Path
    prefix: str

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Answer:
        context = ssl.create_default_context(cafile=str(self.certificate))
        context.check_hostname = False  # the certificate names PUBLIC_HOST; the socket goes to 127.0.0.1
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, timeout=TIMEOUT, context=context, source_address=(CLIENT_ADDRESS, 0)
        )
        return exchange(connection, method, path, body, {"Host": PUBLIC_HOST, **FORGED, **headers})


@pytest.fixture(
    params=[Mount("nginx-location.conf", ""), Mount("nginx-prefix.conf", "/petstore")], ids=["root", "prefix"]
)
def mount(request: pytest.FixtureRequest) -> Mount:
    mount: Mount = request.param
    return mount


@pytest.fixture
def service(mount: Mount, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The petstore as configured behind one proxy; it shares the session's client cache (tests/test_clientgen.py)."""
    cache = tmp_path_factory.getbasetemp() / "openapi-clients"
    cache.mkdir(exist_ok=True)
    app = example_petstore.create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'proxied.sqlite'}",
        OPENAPI_CLIENT_CACHE_DIR=str(cache),
        PROXY_FIX_X_FOR=1,
        PROXY_FIX_X_PROTO=1,
        PROXY_FIX_X_HOST=1,
        PROXY_FIX_X_PREFIX=1 if mount.prefix else 0,
    )
    with app.app_context():
        DB.create_all()
    return app


@pytest.fixture
def proxy(mount: Mount, service: Flask, tmp_path: Path) -> Iterator[Proxy]:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    require(nginx is not None, "nginx is not installed, so the reverse proxy cannot be tried")
    assert nginx is not None
    certificate, key = _self_signed(tmp_path)
    location = (EXAMPLES / mount.block).read_text()
    with serve(service) as upstream, _nginx(nginx, tmp_path, location, upstream, certificate, key) as port:
        yield Proxy(port, certificate, mount.prefix)


def test_the_service_believes_the_proxy_not_the_client(proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    """The log has the client's address, the response nginx's request id; the client's forged values are ignored."""
    with caplog.at_level(logging.INFO, logger="flask_ligand.request"):
        answer = proxy.request("GET", f"{proxy.prefix}/pets/")

    request_id = answer.headers["X-Request-ID"]
    (started,) = [line for line in _request_lines(caplog) if line["event"] == "request started"]
    assert answer.status == 200
    assert re.fullmatch(r"[0-9a-f]{32}", request_id), request_id  # nginx's $request_id
    assert (started["remote_addr"], started["request_id"]) == (CLIENT_ADDRESS, request_id)


def test_a_new_pets_location_is_its_public_path(proxy: Proxy, service: Flask) -> None:
    """A write with a token passes through; the 201's ``Location`` is relative to the host and works through nginx."""
    created = _create_pet(proxy, service, "Proxied")

    location = created.headers["Location"]
    assert location.startswith(f"{proxy.prefix}/pets/"), location
    assert proxy.request("GET", location).body["name"] == "Proxied"


def test_the_next_link_is_a_public_path(proxy: Proxy, service: Flask) -> None:
    """The ``Link`` header's ``next`` page is relative to the host and works through nginx."""
    for name in ("First", "Second"):
        _create_pet(proxy, service, name)

    first = proxy.request("GET", f"{proxy.prefix}/pets/?page_size=1")
    (next_url,) = re.findall(r'<([^>]*)>; rel="next"', first.headers["Link"])
    second = proxy.request("GET", next_url)

    assert next_url.startswith(f"{proxy.prefix}/pets/?"), next_url
    assert second.status == 200, second.body
    assert sorted(pet["name"] for pet in first.body + second.body) == ["First", "Second"]


def test_a_missing_slash_redirects_to_the_public_url(proxy: Proxy) -> None:
    """Routing's redirect (``/pets`` to ``/pets/``), an absolute URL, names the public scheme, host and path."""
    answer = proxy.request("GET", f"{proxy.prefix}/pets")

    assert answer.status == 308
    assert answer.headers["Location"] == f"https://{PUBLIC_HOST}{proxy.prefix}/pets/"


def test_swagger_ui_loads_its_files_and_the_spec_through_the_proxy(proxy: Proxy) -> None:
    """Every script, stylesheet and icon of the page, and the spec it starts from, are public paths that answer 200;
    the spec's relative server is the public path too, so "Try it out" goes through nginx."""
    page = proxy.request("GET", f"{proxy.prefix}/apidocs")
    html = page.body.decode()
    (settings,) = re.findall(r'<script id="flask-ligand-docs-config" type="application/json">(.*?)</script>', html)
    spec_url = json.loads(settings)["specUrl"]
    urls = [*re.findall(r'(?:src|href)="([^"]*)"', html), spec_url]

    assert page.status == 200
    assert len(urls) == 5, urls  # icon, stylesheet, Swagger UI, its start script, the spec
    assert all(url.startswith(f"{proxy.prefix}/") for url in urls), urls
    assert {url: proxy.request("GET", url).status for url in urls} == dict.fromkeys(urls, 200)
    assert proxy.request("GET", spec_url).body["servers"][0]["url"] == f"{proxy.prefix}/"


def test_links_the_service_makes_are_https_on_the_public_host(proxy: Proxy) -> None:
    """A generated client's download link, an absolute URL, is the public one and works."""
    require(shutil.which("java") is not None, "Java is not installed, so the OpenAPI Generator cannot run")

    link = proxy.request("GET", f"{proxy.prefix}/openapi/python/").body["link"]
    download = proxy.request("GET", link.removeprefix(f"https://{PUBLIC_HOST}"))

    assert link.startswith(f"https://{PUBLIC_HOST}{proxy.prefix}/openapi/")
    assert download.status == 200
    assert download.headers["Content-Type"] == "application/zip"


def test_a_body_over_the_limit_gets_the_services_json_413(proxy: Proxy, service: Flask) -> None:
    """nginx lets bodies up to twice MAX_CONTENT_LENGTH through, so the service answers its own JSON error."""
    body = b'{"name": "' + b"x" * service.config["MAX_CONTENT_LENGTH"] + b'"}'
    token = make_token(service, ["user"])

    answer = proxy.request("POST", f"{proxy.prefix}/pets/", body, Authorization=f"Bearer {token}", **_JSON)

    assert answer.status == 413
    assert isinstance(answer.body, dict), answer.body  # not nginx's HTML page
    assert answer.body["code"] == 413
    assert answer.body["request_id"] == answer.headers["X-Request-ID"]


_JSON = {"Content-Type": "application/json"}


def _create_pet(proxy: Proxy, service: Flask, name: str) -> Answer:
    token = make_token(service, ["user"])
    created = proxy.request(
        "POST", f"{proxy.prefix}/pets/", json.dumps({"name": name}).encode(), Authorization=f"Bearer {token}", **_JSON
    )
    assert created.status == 201, created.body
    return created


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(record.getMessage()) for record in caplog.records if record.name == "flask_ligand.request"]


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for ``PUBLIC_HOST`` and its key, as files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC_HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PUBLIC_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = folder / "proxy.crt", folder / "proxy.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certificate_path, key_path


@contextmanager
def _nginx(nginx: str, folder: Path, location: str, upstream: str, certificate: Path, key: Path) -> Iterator[int]:
    """Run nginx in the foreground with the ``location`` block, proxying to ``upstream``; yield its TLS port."""
    port = free_port()
    location = location.replace("http://127.0.0.1:8000", upstream)
    # As root, nginx's workers would switch to an unprivileged user that cannot enter the test's folder.
    user = "user root;" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"""
{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx-error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {folder}/nginx-access.log;
    client_body_temp_path {folder}/nginx-body;
    proxy_temp_path {folder}/nginx-proxy;
    fastcgi_temp_path {folder}/nginx-fastcgi;
    uwsgi_temp_path {folder}/nginx-uwsgi;
    scgi_temp_path {folder}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name {PUBLIC_HOST};
        ssl_certificate {certificate};
        ssl_certificate_key {key};
        {location}
    }}
}}
"""
    )
    log = folder / "nginx-error.log"
    process = subprocess.Popen(
        [nginx, "-c", str(config), "-p", str(folder), "-e", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            assert process.poll() is None, f"nginx exited with {process.returncode}:\n{_read(log)}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nginx did not listen within {TIMEOUT} s:\n{_read(log)}"
                time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish requests in progress, then exit
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
