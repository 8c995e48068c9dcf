"""The benchmark script runs: petstore and floor under gunicorn, measured by wrk, in its seconds-long quick mode."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests import pg
from tests.conftest import REPO_ROOT
from tests.servers import require


def test_quick_benchmark_measures_petstore_and_floor(postgresql_cluster: pg.Cluster) -> None:
    """``benchmarks/run.py --quick`` prints a row per measurement with both apps' figures, and the cold start."""
    require(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")

    result = _run("--quick", "--database-url", postgresql_cluster.uri("postgres"), "--set", "PAGINATION_COUNT=none")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "# petstore settings: PAGINATION_COUNT=none" in result.stdout
    table = [line for line in result.stdout.splitlines() if line.startswith("| ") and "1,000" in line]
    names = {line.split("|")[1].strip() for line in table}
    assert {"list page 1", "get by id", "keyset page 2", "create with a token"} <= names
    assert "ERRORS" not in result.stdout
    assert "Cold start (import + create_app)" in result.stdout
    per_request = re.findall(r"^  (this version[^:]*): ([\d.]+) ms / ([\d.]+) ms$", result.stdout, re.MULTILINE)
    assert [label for label, _, _ in per_request] == ["this version", "this version, request log lines off"]
    assert all(float(list_ms) > 0 and float(get_ms) > 0 for _, list_ms, get_ms in per_request)


def test_benchmark_settings_reach_the_petstore(postgresql_cluster: pg.Cluster) -> None:
    """``--set`` configures the petstore under test: a setting it refuses stops the run before any measurement."""
    require(shutil.which("wrk") is not None, "wrk is not installed (apt-get install wrk)")

    result = _run("--quick", "--database-url", postgresql_cluster.uri("postgres"), "--set", "PAGINATION_COUNT=guess")

    assert result.returncode != 0
    assert "gunicorn exited" in result.stderr
    assert "| list page 1" not in result.stdout


def test_floor_writes_the_petstores_request_lines_when_asked(
    postgresql_cluster: pg.Cluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``FLOOR_REQUEST_LOGS=1`` (``--floor-logs``): a started and a finished JSON line per request, token redacted."""
    from benchmarks import run

    url = run._create_database(postgresql_cluster.uri("postgres"), "bench_floor_logs")
    run._prepare(url, 3)
    monkeypatch.setenv("SQLALCHEMY_DATABASE_URI", url)
    monkeypatch.setenv("FLOOR_REQUEST_LOGS", "1")
    monkeypatch.delitem(sys.modules, "benchmarks.floor", raising=False)  # it reads its environment when imported
    floor = importlib.import_module("benchmarks.floor")
    try:
        response = floor.app.test_client().get("/pets/?page=1&page_size=2", headers={"Authorization": "Bearer t0k3n"})
    finally:
        floor.engine.dispose()
        floor._LOG.handlers.clear()
        del sys.modules["benchmarks.floor"]  # the floor of other tests does not log
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    assert response.status_code == 200
    assert [line["event"] for line in lines] == ["request started", "request finished"]
    assert lines[0]["headers"]["Authorization"] == "[REDACTED]"
    assert lines[1]["body"] == response.json
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-ID"]}


def test_parts_counts_each_apps_calls_by_part(postgresql_cluster: pg.Cluster) -> None:
    """``benchmarks/parts.py`` prints, per app, the calls of a request by part; the parts add up to the total."""
    result = _run(
        "/pets/ID",
        "--requests",
        "5",
        "--database-url",
        postgresql_cluster.uri("postgres"),
        script="benchmarks/parts.py",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    rows: dict[str, list[float]] = {}
    for line in result.stdout.splitlines():
        if line.startswith("| ") and not line.startswith("| Part"):
            name, *values = (cell.strip().strip("*") for cell in line.strip("|").split("|"))
            rows[name] = [float(value.replace(",", "").removesuffix(" µs")) for value in values]
    totals = rows.pop("total")
    cpu = rows.pop("CPU per request (min of 7 rounds)")
    assert [sum(column) for column in zip(*rows.values(), strict=True)] == pytest.approx(totals, abs=len(rows))
    assert rows["request ids and request log lines"][0] > 0
    assert rows["request ids and request log lines"][1] == 0  # the floor logs nothing by default
    assert rows["SQL: SQLAlchemy Core, pool, psycopg"][1] > 0
    assert all(value > 0 for value in cpu)
    assert re.search(r"floor/petstore: 0\.\d\d in calls, \d\.\d\d in CPU time", result.stdout)


def _run(*arguments: str, script: str = "benchmarks/run.py") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, script, *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
