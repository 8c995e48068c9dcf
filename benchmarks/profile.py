"""Profile where one petstore request spends its time, in-process, with pyinstrument.

Usage (from the repository root; ``pip install pyinstrument``, or the ``bench`` extra)::

    .venv/bin/python benchmarks/profile.py                        # GET /pets/?page=1&page_size=20
    .venv/bin/python benchmarks/profile.py '/pets/ID'             # ID is replaced by a stored pet's id
    .venv/bin/python benchmarks/profile.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench

It serves as in production (JSON request logs at INFO, to stderr), seeds 1000 pets in a temporary SQLite file (or
the given, empty database), warms up, then profiles a few thousand requests through Flask's test client and prints
pyinstrument's call tree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("path", nargs="?", default="/pets/?page=1&page_size=20")
    parser.add_argument("--database-url")
    parser.add_argument("--requests", type=int, default=3000)
    options = parser.parse_args()
    from pyinstrument import Profiler

    import example_petstore
    from example_petstore.models import Pet
    from flask_ligand.extensions.database import DB

    with tempfile.TemporaryDirectory() as workdir:
        url = options.database_url or f"sqlite:///{workdir}/profile.sqlite"
        app = example_petstore.create_app(
            "local", SQLALCHEMY_DATABASE_URI=url, DB_AUTO_UPGRADE=False, LOG_FORMAT="json"
        )
        with app.app_context():
            DB.create_all()
            DB.session.add_all([Pet(name=f"Pet {number % 100}") for number in range(1000)])
            DB.session.commit()
            some_id = str(DB.session.scalars(DB.select(Pet.id)).first())
        client = app.test_client()
        path = options.path.replace("ID", some_id)
        for _ in range(300):
            client.get(path)
        profiler = Profiler(interval=0.0002)
        started = time.perf_counter()
        profiler.start()
        for _ in range(options.requests):
            client.get(path)
        profiler.stop()
        elapsed = (time.perf_counter() - started) / options.requests * 1000
        print(f"{path}: {elapsed:.2f} ms per request under the profiler")
        print(profiler.output_text(unicode=True, color=False))
        with app.app_context():
            DB.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
