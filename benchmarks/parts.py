"""Count the Python calls a request makes, by part, in the petstore and in the floor: a profile that holds still.

Usage (from the repository root; needs Debian's ``postgresql``, as ``run.py`` does)::

    .venv/bin/python benchmarks/parts.py                            # get by id, then list page 1
    .venv/bin/python benchmarks/parts.py '/pets/?page=1&page_size=20' --database-url postgresql+psycopg://...
    .venv/bin/python benchmarks/parts.py --set LOG_LEVEL=WARNING    # the petstore with other settings
    .venv/bin/python benchmarks/parts.py --floor-logs               # the floor writes the request lines too

Timings on a shared two-core machine move by up to 2x between runs; the number of Python function calls a request
makes does not, and it follows the CPU time closely enough to say where the difference between the apps lies (the
script prints the CPU time per request too, the least of seven rounds taking the apps in turns). Both apps serve the
same PostgreSQL database, seeded with 1000 pets, in this process, through Flask's test client, configured as
``run.py`` serves them (``local``, JSON request lines at ``INFO``). A call is counted for the innermost part it is
made in: the SQL a count runs is "SQL", not "pagination". Calls in no part are Flask's, werkzeug's and the test
client's, which both apps make (the petstore more of them, for its longer list of response headers).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SHARED = "Flask, werkzeug, the test client"
#: Each part and where its calls are made: (file suffix or folder, function names or "*"). A call belongs to the
#: innermost part on the stack.
PARTS: dict[str, list[tuple[str, str]]] = {
    "views, flask-smorest and ETag decorators": [
        ("flask/views.py", "dispatch_request"),
        ("benchmarks/floor.py", "get_pet list_pets"),
    ],
    "pagination, sorting, filters, links": [
        (f"flask_ligand/{module}.py", "*") for module in ("pagination", "ordering", "counting", "cursors", "filtering")
    ],
    "ORM: queries, session, loading objects": [
        ("flask_sqlalchemy/model.py", "__get__"),
        ("sqlalchemy/orm/", "*"),
        ("flask_ligand/extensions/database.py", "*"),
    ],
    "SQL: SQLAlchemy Core, pool, psycopg": [("sqlalchemy/engine/base.py", "connect execute close begin")],
    "objects to JSON: marshmallow, jsonify": [
        ("marshmallow/schema.py", "dump"),
        ("flask/json/provider.py", "response"),
        ("benchmarks/floor.py", "_pet _json"),
    ],
    "request ids and request log lines": [
        ("flask_ligand/logging.py", "_request_started _request_finished _forget_request"),
        ("benchmarks/floor.py", "_request_started _request_finished"),
    ],
    "metrics": [("flask_ligand/metrics.py", "*")],
    "CORS": [("flask_cors/extension.py", "cors_after_request")],
    "security headers": [("flask_ligand/security.py", "*")],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", default=["/pets/ID", "/pets/?page=1&page_size=20"])
    parser.add_argument("--database-url", help="a PostgreSQL server (SQLAlchemy URL); default: a private cluster")
    parser.add_argument("--requests", type=int, default=200, help="requests counted per path and app")
    parser.add_argument("--set", action="append", default=[], metavar="SETTING=VALUE", help="a petstore setting")
    parser.add_argument("--floor-logs", action="store_true", help="the floor writes the two request lines, by hand")
    options = parser.parse_args()
    from benchmarks import run

    with run._database_server(options) as server_url:
        url = run._create_database(server_url, "bench_parts")
        _token, public_key = run._prepare(url, 1000)
        settings = dict(setting.split("=", 1) for setting in options.set)
        os.environ.update({**run.app_environment(url, public_key), **settings})
        if options.floor_logs:
            os.environ["FLOOR_REQUEST_LOGS"] = "1"
        from benchmarks import floor
        from example_petstore.app import app as petstore

        apps = {"petstore": petstore.test_client(), "floor": floor.app.test_client()}
        some_id = apps["floor"].get("/pets/?page_size=1").get_json()[0]["id"]
        with _stderr_silenced():
            for path in options.paths:
                _report(path.replace("ID", some_id), apps, options.requests)
    return 0


def _report(path: str, apps: dict[str, Any], requests: int) -> None:
    gets = {name: functools.partial(client.get, path) for name, client in apps.items()}
    counts = {name: _count(get, requests) for name, get in gets.items()}
    cpu = _cpu_per_request(gets, each=requests)
    print(f"\n{path}\n")
    print("| Part | " + " | ".join(f"{name}, calls" for name in apps) + " |")
    print("|---|" + "---:|" * len(apps))
    seen = {part for by_part in counts.values() for part in by_part}
    parts = [part for part in [*PARTS, SHARED] if part in seen]
    for part in parts:
        print(f"| {part} | " + " | ".join(f"{counts[name].get(part, 0):,.0f}" for name in apps) + " |")
    print("| **total** | " + " | ".join(f"**{sum(counts[name].values()):,.0f}**" for name in apps) + " |")
    print("| CPU per request (min of 7 rounds) | " + " | ".join(f"{cpu[name]:.0f} µs" for name in apps) + " |")
    petstore, floor = (sum(counts[name].values()) for name in ("petstore", "floor"))
    print(f"\nfloor/petstore: {floor / petstore:.2f} in calls, {cpu['floor'] / cpu['petstore']:.2f} in CPU time")


def _count(request: Callable[[], Any], requests: int) -> dict[str, float]:
    """Calls per request, by part (Python functions and the C functions they call)."""
    for _ in range(100):
        request()
    parts: dict[CodeType, str] = {}
    stack: list[str] = []
    counts: collections.Counter[str] = collections.Counter()

    def part_of(code: CodeType) -> str:
        part = parts.get(code)
        if part is None:
            part = next(
                (
                    name
                    for name, places in PARTS.items()
                    for suffix, functions in places
                    if _in(code.co_filename, suffix) and (functions == "*" or code.co_name in functions.split())
                ),
                "",
            )
            parts[code] = part
        return part

    def innermost() -> str:
        return next((part for part in reversed(stack) if part), SHARED)

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call":
            stack.append(part_of(frame.f_code))
            counts[innermost()] += 1
        elif event == "return":
            if stack:
                stack.pop()
        elif event == "c_call":
            counts[innermost()] += 1

    sys.setprofile(profile)
    try:
        for _ in range(requests):
            request()
    finally:
        sys.setprofile(None)
    return {part: count / requests for part, count in counts.items()}


def _in(filename: str, place: str) -> bool:
    """Whether ``filename`` is the file ``place`` ends with, or in the folder ``place`` (ending with a slash)."""
    return f"/{place}" in filename if place.endswith("/") else filename.endswith(f"/{place}")


def _cpu_per_request(requests: Mapping[str, Callable[[], Any]], rounds: int = 7, each: int = 200) -> dict[str, float]:
    """The least CPU time per request, in µs, over rounds that take the apps in turns."""
    best = dict.fromkeys(requests, float("inf"))
    for _ in range(rounds):
        for name, request in requests.items():
            started = time.process_time()
            for _ in range(each):
                request()
            best[name] = min(best[name], (time.process_time() - started) / each * 1e6)
    return best


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Write the request lines (stderr) to /dev/null: both apps still build and write them, nobody reads them."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


if __name__ == "__main__":
    sys.exit(main())
