"""Real servers on 127.0.0.1 for tests that must go through a socket, not the test client."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from werkzeug.serving import make_server


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
