"""docs/quickstart.md runs as written: every shell block in order, in a new virtual environment, on its files.

The page's files are ``docs/examples/quickstart/`` (pulled in with ``literalinclude``); each ``sh`` block runs in
bash in the service's folder, ``flask run`` in the background on a free port (the page's ``127.0.0.1:5000`` is
rewritten to it), and each ``json`` block is the output of the block before it, compared up to ids and times.
``pip install flask-ligand`` installs this working tree's wheel (``PIP_CONSTRAINT`` pins it) and its dependencies
from the package index, as a newcomer's would.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flask_ligand.settings import ENV_SETTINGS
from tests.conftest import REPO_ROOT
from tests.servers import free_port

PAGE = REPO_ROOT / "docs" / "quickstart.md"
EXAMPLE = REPO_ROOT / "docs" / "examples" / "quickstart"
_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
_VARIABLE = [
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    re.compile(r"[0-9a-f]{32}"),
    re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"),
]
_TIMEOUT = 300


@dataclass
class Block:
    info: str
    body: str


def blocks(page: str) -> list[Block]:
    return [Block(match["info"].strip(), match["body"]) for match in _FENCE.finditer(page)]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this working tree, and a pip constraint that makes ``pip install flask-ligand`` choose it."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder), str(REPO_ROOT)],
        check=True,
        timeout=_TIMEOUT,
        capture_output=True,
    )
    import flask_ligand

    (folder / "constraints.txt").write_text(f"flask-ligand=={flask_ligand.__version__}\n")
    return folder


class Session:
    """The reader's terminal: runs blocks in the service's folder, with the virtual environment active."""

    def __init__(self, root: Path, wheelhouse: Path) -> None:
        self.cwd = root
        self.port = free_port()
        self.server: subprocess.Popen[bytes] | None = None
        self.log_path = root / "server.log"
        self.log = self.log_path.open("wb")
        self.variables: dict[str, str] = {}
        self.environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ENV_SETTINGS and not key.startswith(("FLASK_", "VIRTUAL_ENV", "PYTEST_", "COV_"))
        }
        self.environment.update(
            PIP_FIND_LINKS=" ".join(filter(None, [str(wheelhouse), os.environ.get("PIP_FIND_LINKS", "")])),
            PIP_CONSTRAINT=str(wheelhouse / "constraints.txt"),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )

    def run(self, script: str) -> str:
        script = script.replace("127.0.0.1:5000", f"127.0.0.1:{self.port}")
        if script.strip() == "flask run":
            self._start_server()
            return ""
        # Variables a block sets (TOKEN=...) stay set for the next blocks, as in one terminal.
        exports = "".join(f"{name}={shlex.quote(value)}\n" for name, value in self.variables.items())
        marker = "__quickstart_state__"
        report = "".join(f'printf "%s=%s\\n" {name} "${name}"\n' for name in _assigned_names(script))
        wrapped = f"set -euo pipefail\n{exports}{script}\necho {marker}\npwd\n{report}"
        result = subprocess.run(
            ["bash", "-c", wrapped],
            cwd=self.cwd,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"{script}\nexited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        output, _, state = result.stdout.partition(f"{marker}\n")
        cwd, _, variables = state.partition("\n")
        self.cwd = Path(cwd)
        for line in variables.splitlines():
            name, _, value = line.partition("=")
            self.variables[name] = value
        venv = self.cwd / ".venv"
        if venv.is_dir():  # the block made the virtual environment: activate it for the next blocks
            self.environment["VIRTUAL_ENV"] = str(venv)
            self.environment["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"
        return output

    def _start_server(self) -> None:
        self.server = subprocess.Popen(
            ["flask", "run", "--port", str(self.port)],
            cwd=self.cwd,
            env=self.environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.server.poll() is None, f"flask run exited:\n{self.log_path.read_text()}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/live", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("flask run did not answer within 60 seconds")

    def get(self, path: str) -> tuple[int, str, bytes]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read()

    def close(self) -> None:
        self.log.close()
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait(timeout=10)


@pytest.fixture
def session(tmp_path: Path, wheelhouse: Path) -> Iterator[Session]:
    terminal = Session(tmp_path, wheelhouse)
    try:
        yield terminal
    finally:
        terminal.close()


def test_every_block_of_the_quickstart_is_a_file_a_command_or_its_output() -> None:
    """The page has only blocks this test runs: example files, shell commands, and JSON outputs after a command."""
    found = blocks(PAGE.read_text())
    assert found
    for previous, block in zip([None, *found], found, strict=False):
        if block.info.startswith("{literalinclude}"):
            assert (PAGE.parent / block.info.split()[1]).is_file(), block.info
            assert block.info.split()[1].startswith("examples/quickstart/"), block.info
        elif block.info == "json":
            assert previous is not None and previous.info == "sh", "a json block shows the output of a sh block"
        else:
            assert block.info == "sh", f"a block this test does not run: {block.info!r}"


def test_every_example_file_is_shown_in_the_quickstart() -> None:
    """Each file of docs/examples/quickstart is on the page, so the reader creates all the files the test uses."""
    shown = {block.info.split()[1] for block in blocks(PAGE.read_text()) if block.info.startswith("{literalinclude}")}
    files = {
        f"examples/quickstart/{path.relative_to(EXAMPLE).as_posix()}"
        for path in EXAMPLE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shown == files


def test_quickstart_runs_as_written(session: Session) -> None:
    """From an empty folder: install, the files, migrations, the server, Swagger UI, a token, a pet, the tests."""
    output = ""
    for block in blocks(PAGE.read_text()):
        if block.info.startswith("{literalinclude}"):
            continue
        if block.info == "json":
            _assert_same_json(json.loads(block.body), json.loads(output))
            continue
        if "flask db init" in block.body:  # the reader has created the files by now
            _copy_example(session.cwd)
        output = session.run(block.body)
        if block.body.strip() == "flask run":
            status, content_type, _ = session.get("/apidocs")
            assert (status, content_type) == (200, "text/html")
            status, _, spec = session.get("/openapi/api-spec.json")
            assert "/pets/{pet_id}" in json.loads(spec)["paths"]
    assert session.server is not None, "the page starts the service"
    assert re.search(r"\b3 passed\b", output), output


def _copy_example(destination: Path) -> None:
    for path in EXAMPLE.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = destination / path.relative_to(EXAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _assert_same_json(expected: Any, actual: Any) -> None:
    """Equal, except that ids, request ids and times in ``expected`` stand for any value of their form."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and list(actual) == list(expected), f"{actual} is not like {expected}"
        for key, value in expected.items():
            _assert_same_json(value, actual[key])
        return
    for pattern in _VARIABLE:
        if isinstance(expected, str) and pattern.fullmatch(expected):
            assert isinstance(actual, str) and pattern.fullmatch(actual), f"{actual!r} is not like {expected!r}"
            return
    assert actual == expected


def _assigned_names(script: str) -> set[str]:
    return set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", script, re.MULTILINE))
