"""The repository's ``Dockerfile``, built and run: the release step, an unprivileged service on a read-only root file
system, its health check, and a ``docker stop`` (SIGTERM) that lets a request in progress finish.

The image is built and run with podman, which needs no daemon; ``docker build`` and ``docker run`` read the same
Dockerfile. Its base is ``python:3.11-slim`` when that image is present or can be pulled. Where Docker Hub is out of
reach (as in CI here), the base is a stand-in of the same family: Debian bookworm with its CPython 3.11, made once with
debootstrap from Debian's mirror and kept as ``localhost/flask-ligand-test/python:bookworm``. The environment variable
``CONTAINER_TEST_PYTHON_IMAGE`` names another base (a mirror's copy of ``python:3.11-slim``, say).
"""

from __future__ import annotations

import json
import os
import resource
import secrets
import shutil
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import rsa
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO_ROOT
from tests.servers import Answer, free_port, require, sign_token
from tests.servers import request as _request

OFFICIAL_PYTHON_IMAGE = "docker.io/library/python:3.11-slim"
STAND_IN_PYTHON_IMAGE = "localhost/flask-ligand-test/python:bookworm"
IMAGE = "localhost/flask-ligand-test/petstore:latest"
#: Upper bound of a wait on the container: start-up and each request, on a busy machine.
TIMEOUT = 60
METRICS_TOKEN = secrets.token_hex(16)
#: The petstore's newest migration, which the release step must reach.
HEAD_REVISION = "97c69761fce0"


@dataclass(frozen=True)
class Podman:
    """``podman`` with the options this machine needs; calling it runs a podman command and fails the test on error."""

    global_options: tuple[str, ...]
    run_options: tuple[str, ...]

    def __call__(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *self.global_options, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(f"podman {' '.join(args)} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["podman", *self.global_options, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )


@pytest.fixture(scope="module")
def podman() -> Podman:
    require(shutil.which("podman") is not None, "podman is needed to build and run the Dockerfile")
    # crun, podman's default runtime, refuses hosts with hybrid cgroups (v1 controllers); runc runs there too.
    global_options = ("--runtime", "runc") if shutil.which("runc") else ()
    # A container asks for podman's default limits, which a host may not grant (as in CI here): ask for what this
    # process has open files for, and for processes enough for gunicorn's workers (this host refuses its own limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    run_options = (f"--ulimit=nofile={soft}:{hard}", "--ulimit=nproc=4096:4096")
    tool = Podman(global_options, run_options)
    info = tool("info", check=False, timeout=120)
    require(info.returncode == 0, f"podman cannot run containers here: {info.stderr.strip()}")
    return tool


@pytest.fixture(scope="module")
def python_image(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The base image: as configured, ``python:3.11-slim``, or the Debian stand-in (made once)."""
    configured = os.environ.get("CONTAINER_TEST_PYTHON_IMAGE")
    if configured:
        return configured
    for image in (OFFICIAL_PYTHON_IMAGE, STAND_IN_PYTHON_IMAGE):
        if podman("image", "exists", image, check=False).returncode == 0:
            return image
    if podman("pull", "--quiet", OFFICIAL_PYTHON_IMAGE, check=False, timeout=300).returncode == 0:
        return OFFICIAL_PYTHON_IMAGE
    require(shutil.which("debootstrap") is not None, "debootstrap is needed for a base image without Docker Hub")
    root = tmp_path_factory.mktemp("python-image") / "rootfs"
    packages = "python3,python3-venv,python-is-python3,ca-certificates"
    bootstrap = subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={packages}", "bookworm", str(root)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if bootstrap.returncode != 0:
        pytest.fail(f"debootstrap exited with {bootstrap.returncode}:\n{bootstrap.stdout[-3000:]}{bootstrap.stderr}")
    archive = root.with_suffix(".tar")
    subprocess.run(["tar", "-C", str(root), "-cf", str(archive), "."], check=True, timeout=300)
    podman("import", "--quiet", str(archive), STAND_IN_PYTHON_IMAGE)
    return STAND_IN_PYTHON_IMAGE


@pytest.fixture(scope="module")
def image(podman: Podman, python_image: str) -> str:
    """The repository's Dockerfile, built unchanged but for its base; the image of an earlier run is removed."""
    earlier = podman("image", "inspect", "--format", "{{.Id}}", IMAGE, check=False).stdout.strip()
    podman(
        "build",
        "--pull=never",
        "--layers=false",  # no cached stage images left behind for each change of the code
        "--format=docker",  # HEALTHCHECK is a Docker image setting; OCI images have none
        "--network=host",
        # The machine's trusted certificates, for pip to trust a TLS-inspecting proxy when there is one; mounted
        # during the build only, they are not part of the image.
        "--volume=/etc/ssl/certs:/etc/ssl/certs:ro",
        f"--build-arg=PYTHON_IMAGE={python_image}",
        *podman.run_options,
        "--tag",
        IMAGE,
        str(REPO_ROOT),
    )
    if earlier and earlier != podman("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout.strip():
        podman("rmi", earlier, check=False)
    return IMAGE


def test_the_image_declares_its_user_stop_signal_health_check_and_port(podman: Podman, image: str) -> None:
    config = json.loads(podman("image", "inspect", "--format", "{{json .Config}}", image).stdout)
    health = json.loads(podman("image", "inspect", "--format", "{{json .HealthCheck}}", image).stdout)

    assert config["User"] == "app"
    assert config["StopSignal"] == "SIGTERM"
    assert "PORT=8000" in config["Env"]
    assert "FLASK_ENV=prod" in config["Env"]
    assert "/health/live" in " ".join(health["Test"])
    assert config["Cmd"] == ["gunicorn", "-c", "gunicorn.conf.py", "example_petstore.app:app"]


def test_the_service_cannot_change_its_code_configuration_or_migrations(podman: Podman, image: str) -> None:
    """The service runs as uid 10001, which may write its temporary files but nothing it runs."""
    script = (
        "id -u; touch /tmp/ok && echo tmp-writable; "
        "for path in /app/gunicorn.conf.py /app/migrations/env.py /venv/bin/gunicorn; do "
        '  if echo >> "$path" 2>/dev/null; then echo "$path writable"; fi; done'
    )

    result = podman("run", "--rm", *podman.run_options, image, "sh", "-c", script)

    assert result.stdout.split() == ["10001", "tmp-writable"]


@dataclass
class Service:
    """A petstore container, on the host's network, listening on 127.0.0.1 only."""

    name: str
    url: str
    podman: Podman

    def logs(self) -> str:
        result = self.podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def exit_code(self) -> int:
        return int(self.podman("inspect", "--format", "{{.State.ExitCode}}", self.name).stdout)


Deploy = Callable[[], tuple[subprocess.CompletedProcess[str], Service]]


@pytest.fixture
def container_uri(database_uri: str, tmp_path: Path) -> str:
    """The test's database as the container reaches it; a SQLite file's folder is opened to the image's user."""
    if database_uri.startswith("sqlite"):
        tmp_path.chmod(0o777)
        return f"{database_uri}?timeout=30"  # a writer waits this long for a lock, instead of sqlite3's 5 s
    return database_uri


@pytest.fixture
def deploy(
    podman: Podman, image: str, container_uri: str, provider: str, tmp_path: Path
) -> Iterator[Callable[..., Any]]:
    """``deploy()`` runs the release step then starts the service, as the Dockerfile's header says; yields both."""
    environment = tmp_path / "prod.env"
    port = free_port()
    environment.write_text(
        "\n".join(
            [
                "SERVICE_PUBLIC_URL=https://pets.example.com",
                "SERVICE_PRIVATE_URL=http://pets.internal",
                "ALLOWED_ROLES=user,admin",
                f"OIDC_DISCOVERY_URL={provider}/.well-known/openid-configuration",
                f"SQLALCHEMY_DATABASE_URI={container_uri}",
                f"PAGINATION_CURSOR_SECRET={secrets.token_hex(32)}",
                "METRICS_ENABLED=true",
                f"METRICS_TOKEN={METRICS_TOKEN}",
                "WEB_CONCURRENCY=2",
                # gunicorn binds 0.0.0.0:$PORT by default; on the host's network the test keeps it to loopback.
                f"GUNICORN_CMD_ARGS=--bind 127.0.0.1:{port}",
                f"PORT={port}",
            ]
        )
    )
    # A read-only root file system with a writable /tmp, as `docker run --read-only --tmpfs /tmp` or Kubernetes'
    # readOnlyRootFilesystem with an emptyDir there: the service writes nothing else.
    read_only = ["--read-only", "--read-only-tmpfs=false", "--tmpfs=/tmp"]
    options = ["--network=host", f"--env-file={environment}", *read_only, *podman.run_options]
    if container_uri.startswith("sqlite"):
        options.append(f"--volume={tmp_path}:{tmp_path}")
    names: list[str] = []

    def start() -> tuple[subprocess.CompletedProcess[str], Service]:
        release = podman("run", "--rm", *options, image, "flask", "db", "upgrade", check=False, timeout=TIMEOUT * 2)
        name = f"flask-ligand-test-{uuid.uuid4().hex[:12]}"
        names.append(name)
        podman("run", "--detach", f"--name={name}", *options, image)
        service = Service(name, f"http://127.0.0.1:{port}", podman)
        deadline = time.monotonic() + TIMEOUT
        while True:
            state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            assert state == "running", f"the container is {state}:\n{service.logs()}"
            try:
                if _request(service.url, "GET", "/health/ready").status == 200:
                    return release, service
            except OSError:
                pass
            assert time.monotonic() < deadline, f"the service was not ready within {TIMEOUT} s:\n{service.logs()}"
            time.sleep(0.3)

    yield start
    for name in names:
        podman("rm", "--force", "--time=0", name, check=False)


def test_release_step_then_service_then_stop_finishing_the_request_in_progress(
    deploy: Deploy, podman: Podman, database_uri: str, signing_key: rsa.RSAPrivateKey, provider: str
) -> None:
    release, service = deploy()
    token = {"Authorization": f"Bearer {sign_token(signing_key, provider)}"}

    assert release.returncode == 0, release.stderr
    assert "Running upgrade" in release.stdout + release.stderr
    engine = sa.create_engine(database_uri)
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == HEAD_REVISION
        assert podman("healthcheck", "run", service.name, check=False).returncode == 0
        generation = _request(service.url, "GET", "/openapi/python/")
        assert generation.status == 503, generation.body  # the image has no Java: a JSON 503 saying so
        assert "No Java runtime" in generation.body["message"]
        created = _request(service.url, "POST", "/pets/", {"name": "Boxed"}, token)
        assert created.status == 201, created.body
        path = f"/pets/{created.body['id']}"

        # A request in progress when the container is stopped: a PUT waiting for a lock the test holds.
        answer: dict[str, Answer] = {}
        with _row_locked(database_uri, engine, created.body["id"]) as release_lock:
            writer = threading.Thread(
                target=lambda: answer.setdefault(
                    "put",
                    _request(
                        service.url,
                        "PUT",
                        path,
                        {"name": "Finished while stopping", "description": ""},
                        {**token, "If-Match": created.headers["ETag"]},
                    ),
                )
            )
            writer.start()
            _wait_for(lambda: _requests_in_progress(service.url) >= 2, "the PUT never reached the service", service)
            stopping = podman.popen("stop", "--time=30", service.name)
            _wait_for(lambda: "Handling signal: term" in service.logs(), "gunicorn never got SIGTERM", service)
            assert writer.is_alive(), "the PUT ended before the lock was released"
            release_lock()
            writer.join(timeout=TIMEOUT)
        stop_output, _ = stopping.communicate(timeout=TIMEOUT)

        assert answer["put"].status == 200, answer["put"].body
        assert answer["put"].body["name"] == "Finished while stopping"
        assert stopping.returncode == 0, stop_output
        assert service.exit_code() == 0, service.logs()  # 137 had the engine killed it at the stop timeout
        with engine.connect() as connection:
            stored = connection.execute(
                sa.text("SELECT name FROM pet WHERE id = :id"), {"id": _stored_id(database_uri, created.body["id"])}
            ).scalar_one()
        assert stored == "Finished while stopping"
    finally:
        engine.dispose()


def _stored_id(database_uri: str, pet_id: str) -> Any:
    """A pet id as its column stores it: sqlalchemy-utils' UUIDType keeps 32 hex digits in SQLite."""
    return uuid.UUID(pet_id).hex if database_uri.startswith("sqlite") else uuid.UUID(pet_id)


@contextmanager
def _row_locked(database_uri: str, engine: sa.Engine, pet_id: str) -> Iterator[Callable[[], None]]:
    """Hold a lock that makes a write to the pet wait; yield the function releasing it."""
    if database_uri.startswith("sqlite"):
        database = sqlite3.connect(database_uri.removeprefix("sqlite:///"), isolation_level=None)
        database.execute("BEGIN IMMEDIATE")  # the one writer's lock: other writers wait for it
        try:
            yield database.rollback
        finally:
            database.close()
        return
    with engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(
            sa.text("SELECT id FROM pet WHERE id = :id FOR UPDATE"), {"id": _stored_id(database_uri, pet_id)}
        )
        try:
            yield transaction.rollback
        finally:
            if transaction.is_active:
                transaction.rollback()


def _requests_in_progress(url: str) -> float:
    answer = _request(url, "GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert answer.status == 200, answer.body
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            if sample.name == "http_requests_in_progress":
                return float(sample.value)
    return 0.0


def _wait_for(condition: Callable[[], bool], failure: str, service: Service) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"{failure}:\n{service.logs()}"
        time.sleep(0.1)
