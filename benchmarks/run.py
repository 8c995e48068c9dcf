"""Measure the petstore against a hand-written floor app, in the same run, with wrk on 127.0.0.1.

Usage (from the repository root; needs Debian's ``wrk`` and ``postgresql``, and gunicorn in the venv)::

    .venv/bin/python benchmarks/run.py                      # 1k / 100k / 1M rows, 10 s per measurement
    .venv/bin/python benchmarks/run.py --rows 1000 --duration 3
    .venv/bin/python benchmarks/run.py --database-url postgresql+psycopg://user@127.0.0.1:5432/postgres
    .venv/bin/python benchmarks/run.py --upstream           # also 0.10.4: cold start, memory, CPU per request
    .venv/bin/python benchmarks/run.py --startup-only --upstream   # only cold start and memory, both versions
    .venv/bin/python benchmarks/run.py --quick              # a few seconds: proves the script works
    .venv/bin/python benchmarks/run.py --floor-logs         # the floor writes the two request lines too

Without ``--database-url`` it starts a private PostgreSQL cluster (Debian's binaries, a temporary directory, a
loopback port) and removes it at the end. For each table size it creates a database ``bench_<rows>``, seeds it in
one ``INSERT ... SELECT FROM generate_series`` (a million rows take seconds), then serves the petstore
(``example_petstore.app:app``) and the floor (``benchmarks.floor:app``) with the same gunicorn settings and runs each
measurement against both, one after the other. It prints requests per second, p50/p99 latency and the ratio
petstore/floor, then checks the targets of docs/performance.md.

Cold start and memory are measured as a service would start in production: in a temporary venv holding only
``pip install <this repository>[postgresql]`` (no test tools, which change what structlog imports), in fresh
interpreters; ``--upstream`` measures flask-ligand 0.10.4 the same way, in a venv of its own. ``--quick`` measures
this interpreter instead (building a venv takes a while), and says so. Last, the CPU per request of upstream's own
example app (``tests/upstream_app``) is measured in-process on each version, this one with and without its request
log lines: the same code on both frameworks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The peak RSS is this interpreter's own (VmHWM), not getrusage's ru_maxrss: Linux carries the forked parent's peak
# over the exec into ru_maxrss, so a benchmark process grown large would be reported as the child's size.
_COLD_START = """
import time
started = time.perf_counter()
{imports}
imported = time.perf_counter() - started
app = {create}
elapsed = time.perf_counter() - started
with app.app_context():
    DB.create_all()
client = app.test_client()
assert client.get("{path}").status_code == 200
for _ in range(200):
    client.get("{path}")
with open("/proc/self/status") as status:
    rss = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
print(elapsed, rss, imported)
"""
_OURS = (
    "import example_petstore\nfrom flask_ligand.extensions.database import DB",
    # As a deployed worker starts: `prod`, whose identity provider is only contacted at the first token (upstream's
    # key fetch is switched off below). `testing` would add the generation of its development RSA key, 20-100 ms.
    'example_petstore.create_app("prod", SQLALCHEMY_DATABASE_URI="sqlite://", LOG_LEVEL="WARNING", '
    'SERVICE_PUBLIC_URL="https://pets.example", SERVICE_PRIVATE_URL="https://pets.internal", '
    'ALLOWED_ROLES=["user"], OIDC_DISCOVERY_URL="https://idp.example/.well-known/openid-configuration", '
    'PAGINATION_CURSOR_SECRET="cold-start-" + "x" * 32)',
)
# Upstream's testing environment fetches an identity provider's keys at start-up; its own tests (and ours,
# tests/test_upstream_compat.py) replace jwt.init_app to run without one.
_UPSTREAM_NO_KEY_FETCH = "import flask_ligand.extensions.jwt as jwt\njwt.init_app = lambda app: None"
_UPSTREAM = (
    f"import upstream_app\n{_UPSTREAM_NO_KEY_FETCH}\nfrom flask_ligand.extensions.database import DB",
    'upstream_app.create_app("testing", "Pet Store", "1.0.0", "pet-store")',
)
# Upstream's example app on SQLite with 1000 pets, through Flask's test client: CPU ms per request of list page 1
# (20 pets) and of get by id, best of five batches after a warm-up. Records are written to /dev/null.
_PER_REQUEST = """
import os, sys, tempfile, time
{setup}
import upstream_app
from upstream_app.models import PetModel
from flask_ligand.extensions.database import DB
database = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "pets.sqlite")
settings["SQLALCHEMY_DATABASE_URI"] = database
app = upstream_app.create_app("testing", "Pet Store", "1.0.0", "pet-store", **settings)
with app.app_context():
    DB.create_all()
    DB.session.add_all([PetModel(name="Pet %d" % (number % 100), description="A pet") for number in range(1000)])
    DB.session.commit()
    pet_id = str(DB.session.scalars(DB.select(PetModel.id)).first())
client = app.test_client()
sys.stderr = open(os.devnull, "w")
for path in ("/pets/?page=1&page_size=20", "/pets/" + pet_id):
    assert client.get(path).status_code == 200, path
    for _ in range(200):
        client.get(path)
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(300):
            client.get(path)
        best = min(best, (time.process_time() - started) / 300 * 1000)
    print(best)
"""


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass
class Startup:
    seconds: float  # import + create_app, median
    rss_mib: float  # peak RSS after create_app and 200 requests, median
    import_seconds: float  # of which the imports, median
    where: str  # the interpreter measured


@dataclass
class Scenario:
    name: str
    path: str
    method: str = "GET"
    source: str | None = None


def main() -> int:
    options = _arguments()
    if options.startup_only:
        with tempfile.TemporaryDirectory(prefix="ligand-bench-") as workdir:
            cold, upstream, per_request = _startups(options, workdir)
        _print_summary([], {}, cold, upstream, per_request)
        return 0
    if shutil.which(options.wrk) is None:
        sys.exit(f"wrk not found ('{options.wrk}'): apt-get install wrk")
    print(f"# flask-ligand benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}, {os.cpu_count()} CPUs, {_cpu_model()}")
    print(
        f"# load average before: {os.getloadavg()[0]:.2f}; wrk {options.connections} connections, "
        f"{options.duration} s per measurement; gunicorn {options.workers} workers x {options.threads} threads"
    )
    if options.set:
        print("# petstore settings: " + ", ".join(f"{name}={value}" for name, value in options.set.items()))
    floor_env = {"FLOOR_REQUEST_LOGS": "1"} if options.floor_logs else {}
    if options.floor_logs:
        print("# the floor writes the two JSON request lines too (--floor-logs)")
    with tempfile.TemporaryDirectory(prefix="ligand-bench-") as workdir, _database_server(options) as server_url:
        rows: list[tuple[str, int, Result, Result]] = []
        memory: dict[str, list[float]] = {}
        for size in options.rows:
            url = _create_database(server_url, f"bench_{size}")
            token, public_key = _prepare(url, size)
            env = app_environment(url, public_key)
            with (
                _gunicorn("example_petstore.app:app", {**env, **options.set}, options, workdir) as petstore,
                _gunicorn("benchmarks.floor:app", {**env, **floor_env}, options, workdir) as floor,
            ):
                for scenario in _scenarios(size, petstore):
                    ours = _wrk(petstore, scenario, options, workdir, token)
                    theirs = _wrk(floor, _floor_scenario(scenario, floor), options, workdir, token)
                    rows.append((scenario.name, size, ours, theirs))
                    _print_row(scenario.name, size, ours, theirs)
                memory.setdefault("petstore", []).extend(_worker_rss(petstore))
                memory.setdefault("floor", []).extend(_worker_rss(floor))
        cold, upstream, per_request = _startups(options, workdir)
    _print_summary(rows, memory, cold, upstream, per_request)
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server (SQLAlchemy URL); default: a private cluster")
    parser.add_argument("--rows", default="1000,100000,1000000", help="table sizes, comma-separated")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each app")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker")
    parser.add_argument("--repeat", type=int, default=5, help="cold starts measured (median)")
    parser.add_argument("--upstream", action="store_true", help="also measure flask-ligand 0.10.4 in a temp venv")
    parser.add_argument("--quick", action="store_true", help="1000 rows, 1 s each, cold start in this venv")
    parser.add_argument("--startup-only", action="store_true", help="only cold start and memory (no wrk, no database)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a setting of the petstore, as an environment variable (repeatable), e.g. PAGINATION_COUNT=estimate",
    )
    parser.add_argument(
        "--floor-logs", action="store_true", help="the floor writes the petstore's two JSON request lines, by hand"
    )
    parser.add_argument("--wrk", default="wrk")
    options = parser.parse_args()
    try:
        options.set = dict(setting.split("=", 1) for setting in options.set)
    except ValueError:
        parser.error("--set takes SETTING=VALUE")
    if options.quick:
        options.rows, options.duration, options.repeat = "1000", 1, 1
    options.rows = [int(size) for size in options.rows.split(",")]
    return options


def app_environment(url: str, public_key: str) -> dict[str, str]:
    """The environment both apps are served with: the petstore as it would run locally, JSON request lines."""
    return {
        "FLASK_ENV": "local",
        "SQLALCHEMY_DATABASE_URI": url,
        "DB_AUTO_UPGRADE": "false",
        "LOG_FORMAT": "json",
        "PAGINATION_CURSOR_SECRET": "benchmark-secret-" + "x" * 32,
        "BENCH_JWT_PUBLIC_KEY": public_key,
    }


@contextlib.contextmanager
def _database_server(options: argparse.Namespace) -> Iterator[str]:
    if options.database_url:
        yield options.database_url
        return
    from tests import pg

    bindir = pg.find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL not found: apt-get install postgresql, or pass --database-url")
    cluster = pg.start_cluster(bindir)
    try:
        yield cluster.uri("postgres")
    finally:
        cluster.stop()


def _create_database(server_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


def _prepare(url: str, size: int) -> tuple[str, str]:
    """Create the petstore's tables, seed ``size`` pets; return a token for role ``user`` and the key checking it."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy import text

    import example_petstore
    from flask_ligand.extensions.database import DB

    app = example_petstore.create_app("local", SQLALCHEMY_DATABASE_URI=url, DB_AUTO_UPGRADE=False, LOG_LEVEL="WARNING")
    started = time.perf_counter()
    with app.app_context():
        DB.create_all()
        columns = DB.session.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'pet' ORDER BY ordinal_position"
            )
        ).scalars()
        values = {
            "id": "gen_random_uuid()",
            "name": "'Pet ' || (i % 1000)",
            "description": "'A good pet'",
            "created_at": "now() - i * interval '1 second'",
            "updated_at": "now() - i * interval '1 second'",
            "version_id": "md5(i::text)",
        }
        names = list(columns)
        DB.session.execute(
            text(
                f"INSERT INTO pet ({', '.join(names)}) SELECT {', '.join(values[name] for name in names)} "
                f"FROM generate_series(1, {size}) AS i"
            )
        )
        DB.session.commit()
        driver_connection = DB.session.connection().connection.driver_connection
        assert driver_connection is not None  # None only once the connection is closed
        driver_connection.autocommit = True  # VACUUM refuses transactions
        DB.session.execute(text("VACUUM ANALYZE pet"))
        token = create_access_token("bench", additional_claims={"realm_access": {"roles": ["user"]}})
        public_key = str(app.config["JWT_PUBLIC_KEY"])
        DB.session.remove()
        DB.engine.dispose()
    print(f"# seeded {size} rows in {time.perf_counter() - started:.1f} s")
    return token, public_key


@contextlib.contextmanager
def _gunicorn(app: str, env: dict[str, str], options: argparse.Namespace, workdir: str) -> Iterator[str]:
    port = _free_port()
    log = open(Path(workdir, app.split(":")[0] + ".log"), "ab")
    command = [
        sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(options.workers),
        "--threads", str(options.threads), "--worker-class", "gthread" if options.threads > 1 else "sync",
        "--log-level", "warning", "--chdir", str(REPO),
    ]  # fmt: skip
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=log, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base + "/pets/?page_size=1", process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"gunicorn exited with {process.returncode} before serving {url}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    sys.exit(f"gunicorn did not serve {url} within 60 s")


def _scenarios(size: int, petstore: str) -> list[Scenario]:
    """The measurements at this table size; ``create`` comes last, as it grows the table.

    A keyset page is reached as a client would: from the ``next`` link of the page before it (``source``).
    """
    deep = f"/pets/?page={max(1, size // 40)}&page_size=20"
    first = "/pets/?page_size=20"
    # Cheap requests first: a slow one (a COUNT over a million rows) leaves a backlog behind its measurement.
    scenarios = [Scenario("keyset page 2", _link(_get(petstore + first)[1], "next"), source=first)]
    if size > 1000:
        scenarios.append(Scenario("deep page (keyset)", _link(_get(petstore + deep)[1], "next"), source=deep))
    if size <= 1000:
        scenarios.append(Scenario("get by id", f"/pets/{json.loads(_get(petstore + deep)[0])[0]['id']}"))
    scenarios.append(Scenario("list page 1", "/pets/?page=1&page_size=20"))
    if size > 1000:
        scenarios.append(Scenario("deep page (offset)", deep))
    if size <= 1000:
        scenarios.append(Scenario("create with a token", "/pets/", "POST"))
    return scenarios


def _floor_scenario(scenario: Scenario, floor: str) -> Scenario:
    """The same request for the floor; a keyset page through the floor's own cursor, found the same way."""
    if scenario.source is None:
        return scenario
    return Scenario(scenario.name, _link(_get(floor + scenario.source)[1], "next"))


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read().decode(), response.headers.get("Link", "")


def _link(header: str, rel: str) -> str:
    for url, found in re.findall(r'<([^>]*)>;\s*rel="([^"]*)"', header):
        if found == rel:
            return str(url)
    raise RuntimeError(f"no rel={rel} in Link: {header!r}")


def _wrk(base: str, scenario: Scenario, options: argparse.Namespace, workdir: str, token: str) -> Result:
    command = [
        options.wrk,
        "-t1",
        f"-c{options.connections}",
        f"-d{options.duration}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if scenario.method == "POST":
        script = Path(workdir, "post.lua")
        body = json.dumps({"name": "Bench", "description": "A benchmarked pet"})
        script.write_text(
            f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
            f'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer {token}"\n'
        )
        command += ["-s", str(script)]
    # A short unrecorded run first: connection pools, caches and the previous measurement's backlog settle.
    warm_up = [*command[:3], f"-d{max(1, options.duration // 5)}s", *command[4:], base + scenario.path]
    subprocess.run(warm_up, capture_output=True, timeout=options.duration + 60, check=True)
    output = subprocess.run(
        [*command, base + scenario.path], capture_output=True, text=True, timeout=options.duration + 60, check=True
    ).stdout
    return _parse_wrk(output)


def _parse_wrk(output: str) -> Result:
    def latency(percentile: str) -> float:
        match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if match is None:
            return float("nan")
        return float(match[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match[2]]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failed = int(errors[1]) if errors else 0
    if socket_errors:
        failed += sum(int(group) for group in socket_errors.groups())
    return Result(float(rate[1]) if rate else 0.0, latency("50"), latency("99"), failed)


def _worker_rss(base: str) -> list[float]:
    """Resident memory (MiB) of the gunicorn workers serving ``base`` (children of the master holding the port)."""
    port = base.rsplit(":", 1)[1]
    masters = [pid for pid in _pids() if f"127.0.0.1:{port}" in _cmdline(pid) and _ppid(pid) == os.getpid()]
    sizes = []
    for pid in _pids():
        if _ppid(pid) in masters:
            status = Path(f"/proc/{pid}/status").read_text()
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            if match:
                sizes.append(int(match[1]) / 1024)
    return sizes


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return ""


def _ppid(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return -1


def _startups(options: argparse.Namespace, workdir: str) -> tuple[Startup, Startup | None, list[PerRequest]]:
    """Cold start and memory of this version and, with ``--upstream``, of 0.10.4, their runs taking turns; then the
    CPU per request of upstream's example app on each version (see ``_per_request``).

    On a shared machine the load drifts; alternating the fresh interpreters exposes both versions to the same drift.
    """
    if options.quick:
        ours = _Target(sys.executable, REPO, _OURS, "this interpreter (--quick: test tools too)")
    else:
        ours = _production_install(workdir)
    upstream = _upstream(workdir) if options.upstream else None
    targets = [ours] if upstream is None else [ours, upstream]
    runs: list[list[list[str]]] = [[] for _ in targets]
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(options.repeat):
            for target, target_runs in zip(targets, runs, strict=True):
                target_runs.append(_cold_start(target, cwd))
    startups = []
    for target, target_runs in zip(targets, runs, strict=True):
        seconds, rss_mib, import_seconds = (
            statistics.median(float(run[column]) for run in target_runs) for column in range(3)
        )
        startups.append(Startup(seconds, rss_mib, import_seconds, target.where))
    per_request = _per_request(ours, upstream, _upstream_app_source(workdir), 1 if options.quick else 3)
    return startups[0], startups[1] if upstream is not None else None, per_request


@dataclass
class PerRequest:
    """CPU per request (ms) of upstream's example app, in-process: list page 1 (20 items) and get by id."""

    label: str
    list_ms: float
    get_ms: float


def _per_request(ours: _Target, upstream: _Target | None, app_source: Path, rounds: int) -> list[PerRequest]:
    """The CPU per request of the same app, upstream's example, served by 0.10.4 and by this version.

    This version runs it with the request log lines at ``INFO``, as deployed, and without them (``WARNING``): the
    difference is what those lines cost. Each measurement is a fresh interpreter, in turns (median of ``rounds``).
    """
    variants = [
        ("this version", ours, 'settings = {"LOG_FORMAT": "json", "LOG_LEVEL": "INFO"}'),
        ("this version, request log lines off", ours, 'settings = {"LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}'),
    ]
    if upstream is not None:
        variants.insert(0, ("flask-ligand 0.10.4", upstream, f"{_UPSTREAM_NO_KEY_FETCH}\nsettings = {{}}"))
    figures: list[list[list[float]]] = [[] for _ in variants]
    for _ in range(rounds):
        for (_, target, setup), runs in zip(variants, figures, strict=True):
            script = _PER_REQUEST.replace("{setup}", setup)
            # Not run from the repository, whose flask_ligand would shadow 0.10.4's.
            output = _run_script(
                target, script, app_source, app_source, "could not serve upstream's example app", timeout=300
            )
            runs.append([float(value) for value in output])
    return [
        PerRequest(label, statistics.median(run[0] for run in runs), statistics.median(run[1] for run in runs))
        for (label, _, _), runs in zip(variants, figures, strict=True)
    ]


@dataclass
class _Target:
    python: str
    path: Path | None  # put on PYTHONPATH (the app's sources); None: only what the interpreter has installed
    code: tuple[str, str]
    where: str


def _cold_start(target: _Target, cwd: str) -> list[str]:
    """Seconds of import + create_app in a fresh interpreter, its peak RSS (MiB) after 200 requests, the imports' part.

    Raises:
        SystemExit: The app did not start.
    """
    script = _COLD_START.format(imports=target.code[0], create=target.code[1], path="/pets/")
    return _run_script(target, script, target.path, cwd, "did not start", timeout=120)


def _run_script(
    target: _Target, script: str, path: Path | None, cwd: str | Path, failure: str, timeout: float
) -> list[str]:
    """Run ``script`` in a fresh interpreter of ``target`` with only ``path`` on PYTHONPATH; its output's words.

    Raises:
        SystemExit: The script failed; the message is ``target``'s name, ``failure`` and the end of its stderr.
    """
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    run = subprocess.run(
        [target.python, "-c", script], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env, check=False
    )
    if run.returncode != 0:
        sys.exit(f"{target.where} {failure}:\n{run.stderr[-2000:]}")
    return run.stdout.split()


def _venv(workdir: str, name: str, requirement: str) -> str | None:
    """The python of a new venv in ``workdir`` with ``requirement`` installed (pip's cache is reused); ``None`` on
    failure, said on stdout."""
    venv = Path(workdir, name)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", requirement], capture_output=True, text=True, timeout=900
    )
    if installed.returncode != 0:
        print(f"# {requirement} could not be installed:\n{installed.stderr[-2000:]}")
        return None
    return python


def _production_install(workdir: str) -> _Target:
    """This version as production installs it: ``pip install .[postgresql]`` in a venv, no test tools.

    The sources are copied first, so that building the wheel leaves nothing in the work tree. When the install
    fails, this interpreter is measured instead, and the output says so.
    """
    source = Path(workdir, "ours-src")
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    for package in ("flask_ligand", "example_petstore"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    python = _venv(workdir, "ours-venv", f"{source}[postgresql]")
    if python is None:
        return _Target(sys.executable, REPO, _OURS, "this interpreter (the production install failed)")
    return _Target(python, None, _OURS, "a production install (pip install .[postgresql]) in a venv")


def _upstream(workdir: str) -> _Target | None:
    """Upstream flask-ligand 0.10.4 (from PyPI, in a temporary venv) serving the same app, as upstream's API has it."""
    python = _venv(workdir, "upstream-venv", "flask-ligand==0.10.4")
    if python is None:
        return None
    return _Target(python, _upstream_app_source(workdir), _UPSTREAM, "flask-ligand==0.10.4 from PyPI in a venv")


def _upstream_app_source(workdir: str) -> Path:
    """A folder holding ``upstream_app``, the app written as upstream's example is, importable by that name."""
    app_dir = Path(workdir, "upstream-src")
    if not app_dir.exists():
        shutil.copytree(REPO / "tests" / "upstream_app", app_dir / "upstream_app")
        for source in (app_dir / "upstream_app").rglob("*.py"):
            source.write_text(source.read_text().replace("tests.upstream_app", "upstream_app"))
    return app_dir


def _print_row(name: str, size: int, ours: Result, theirs: Result) -> None:
    ratio = ours.requests_per_second / theirs.requests_per_second if theirs.requests_per_second else float("nan")
    errors = f"  ERRORS petstore={ours.errors} floor={theirs.errors}" if ours.errors or theirs.errors else ""
    print(
        f"| {name:<20} | {size:>9,} | {ours.requests_per_second:>8.0f} | {ours.p50_ms:>6.2f} | {ours.p99_ms:>6.2f} "
        f"| {theirs.requests_per_second:>8.0f} | {theirs.p50_ms:>6.2f} | {theirs.p99_ms:>6.2f} | {ratio:>5.2f} |"
        + errors,
        flush=True,
    )


def _print_summary(
    rows: list[tuple[str, int, Result, Result]],
    memory: dict[str, list[float]],
    cold: Startup,
    upstream: Startup | None,
    per_request: list[PerRequest],
) -> None:
    if rows:
        print()
        print("| Measurement | Rows | Petstore req/s | p50 ms | p99 ms | Floor req/s | p50 ms | p99 ms | Ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, size, ours, theirs in rows:
        ratio = ours.requests_per_second / theirs.requests_per_second if theirs.requests_per_second else float("nan")
        print(
            f"| {name} | {size:,} | {ours.requests_per_second:.0f} | {ours.p50_ms:.2f} | {ours.p99_ms:.2f} | "
            f"{theirs.requests_per_second:.0f} | {theirs.p50_ms:.2f} | {theirs.p99_ms:.2f} | {ratio:.2f} |"
        )
    print()
    checks: list[tuple[str, bool]] = []
    for name, size, ours, theirs in rows:
        if name in ("list page 1", "get by id") and size == min(r[1] for r in rows):
            ratio = ours.requests_per_second / theirs.requests_per_second
            checks.append((f"{name}: {ratio:.2f}x the floor (target >= 0.85x)", ratio >= 0.85))
    keyset = {size: ours.requests_per_second for name, size, ours, _ in rows if name == "keyset page 2"}
    if len(keyset) > 1:
        small, large = min(keyset), max(keyset)
        ratio = keyset[large] / keyset[small]
        checks.append(
            (f"keyset page at {large:,} rows: {ratio:.2f}x its {small:,}-row figure (target >= 0.8x)", ratio >= 0.8)
        )
    if memory:
        petstore_rss = statistics.mean(memory.get("petstore") or [float("nan")])
        floor_rss = statistics.mean(memory.get("floor") or [float("nan")])
        print(f"Memory per gunicorn worker after the run: petstore {petstore_rss:.0f} MiB, floor {floor_rss:.0f} MiB")
    print(
        f"Cold start (import + create_app): {cold.seconds:.2f} s (imports {cold.import_seconds:.2f} s); "
        f"peak RSS after 200 in-process requests: {cold.rss_mib:.0f} MiB; {cold.where}"
    )
    if upstream is not None:
        print(
            f"Upstream flask-ligand 0.10.4, same app: cold start {upstream.seconds:.2f} s "
            f"(imports {upstream.import_seconds:.2f} s); peak RSS {upstream.rss_mib:.0f} MiB; {upstream.where}"
        )
        checks.append(
            (f"cold start {cold.seconds:.2f} s vs upstream {upstream.seconds:.2f} s", cold.seconds <= upstream.seconds)
        )
        checks.append(
            (f"memory {cold.rss_mib:.0f} MiB vs upstream {upstream.rss_mib:.0f} MiB", cold.rss_mib <= upstream.rss_mib)
        )
    if per_request:
        print("CPU per request of upstream's example app, in-process on SQLite (list page 1 / get by id):")
        for figure in per_request:
            print(f"  {figure.label}: {figure.list_ms:.2f} ms / {figure.get_ms:.2f} ms")
    for text, ok in checks:
        print(f"{'PASS' if ok else 'MISS'}  {text}")


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
