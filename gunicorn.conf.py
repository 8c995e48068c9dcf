"""Gunicorn settings for a flask-ligand service.

``FLASK_ENV=prod gunicorn -c gunicorn.conf.py example_petstore.app:app``:

- Workers: one per CPU (at least two; ``WEB_CONCURRENCY`` overrides), four threads each, so a slow query does not
  hold a whole process. A client sending its request slowly holds a thread as long as it keeps sending: serve
  untrusted clients through a proxy that buffers whole requests (nginx does by default), see docs/deployment.md.
- SIGTERM (what ``docker stop`` and Kubernetes send): gunicorn stops accepting connections and lets requests in
  progress finish for up to ``graceful_timeout`` seconds before stopping the workers.
- Logs: gunicorn's own lines and its access log go through the same structlog rendering as the service's, in the
  format the service uses: ``LOG_FORMAT`` when set, else the default of the environment ``FLASK_ENV`` names (console
  lines in ``local``), else JSON. Without ``FLASK_ENV`` the lines match only if the app's own environment logs JSON
  (a factory defaulting to ``local`` logs console lines): set it. The access log leaves the query string out, as it
  may carry secrets.
- Errors gunicorn answers itself (a malformed request, headers over its limits) are JSON in the service's error
  shape, with a request id, not gunicorn's HTML page.
- Metrics: workers share their Prometheus values through files in ``PROMETHEUS_MULTIPROC_DIR`` (a new temporary
  directory unless set), so ``/metrics`` counts every worker's requests, whichever worker answers the scrape.

It binds gunicorn's default, ``127.0.0.1:8000`` (``0.0.0.0:$PORT`` when ``PORT`` is set). Any value can be
overridden on the command line or in ``GUNICORN_CMD_ARGS``, e.g. ``--bind 0.0.0.0:8000 --workers 4``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any

# prometheus-client decides between per-process and shared metrics when it is first imported, which happens below
# (through flask_ligand): the directory must be in the environment before then, and workers inherit it.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="prometheus-multiproc-"))

from gunicorn import util as gunicorn_util
from prometheus_client import multiprocess

from flask_ligand.errors import PROBLEM_JSON, error_document
from flask_ligand.logging import DEFAULT_REDACT_KEYS, build_formatter
from flask_ligand.settings import ENVIRONMENTS, read_environment_variables

# The defaults of the environment FLASK_ENV names, so that the master's lines match the workers' (whose app installs
# its own handler) when the app is created for it. Without FLASK_ENV, or with a name the app will refuse anyway, JSON:
# a log collector's format.
_environment = ENVIRONMENTS.get(os.environ.get("FLASK_ENV", ""))
_settings = {**(_environment.defaults if _environment else {}), **read_environment_variables()}


def _json_error(sock: Any, status_int: int, reason: str, message: str) -> None:
    """gunicorn's answer to a request it cannot hand to the app (a malformed request line or header, headers over
    its limits), in the service's JSON error shape instead of gunicorn's HTML page, with a request id of its own."""
    problem = bool(_settings.get("ERRORS_PROBLEM_DETAILS", False))
    request_id = uuid.uuid4().hex
    document = {**error_document(status_int, message or reason, problem=problem), "request_id": request_id}
    body = json.dumps(document).encode()
    try:
        reason = HTTPStatus(status_int).phrase  # gunicorn gives some statuses another's reason ("501 Bad Request")
    except ValueError:
        pass
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: {PROBLEM_JSON if problem else 'application/json'}\r\nContent-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin-1") + body)


# Workers call gunicorn.util.write_error through the module, so they all answer with it.
gunicorn_util.write_error = _json_error

workers = int(os.environ.get("WEB_CONCURRENCY") or max(2, multiprocessing.cpu_count()))
worker_class = "gthread"
threads = 4
# A worker silent for this long is killed and replaced; SIGTERM waits this long for requests in progress.
timeout = 30
graceful_timeout = 25
keepalive = 5
# gunicorn's largest request line (its default, 4094, is half of nginx's): a list filtered by many values, or the
# "next" link the service makes from one, must not get gunicorn's 414.
limit_request_line = 8190
# gunicorn's largest header (its default, 8190, would answer its own HTML 431): the access tokens of a provider that
# puts many roles or groups in them can be larger. A proxy in front has its own limit (nginx's
# large_client_header_buffers, 8 KiB by default), to raise alike.
limit_request_field_size = 32768
# The scheme a proxy forwards is the app's to read, with PROXY_FIX_X_PROTO (a count of proxies, like the other
# PROXY_FIX_* settings). gunicorn's own reading trusts X-Forwarded-Proto, -Ssl and -Protocol from any peer in
# FORWARDED_ALLOW_IPS (127.0.0.1 by default), ahead of the app's settings, and answers an HTML 400 when a client
# behind a proxy on the same host sends two of them that disagree.
secure_scheme_headers: dict[str, str] = {}
# Signals (TERM to stop, HUP to reload) are all an orchestrator needs; no control socket in the home directory.
control_socket_disable = True

access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(M)sms %({x-request-id}o)s'
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structlog": {
            "()": build_formatter,
            "log_format": _settings.get("LOG_FORMAT", "json"),
            "redact_keys": _settings.get("LOG_REDACT_KEYS", DEFAULT_REDACT_KEYS),
        }
    },
    "handlers": {"stderr": {"class": "flask_ligand.logging.StderrHandler", "formatter": "structlog"}},
    "root": {"level": _settings.get("LOG_LEVEL", "INFO").upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
    },
}


def on_starting(server: Any) -> None:
    """Start with no metrics left by an earlier run in the shared directory."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """Drop a finished worker's in-flight and connection gauges, which would otherwise count forever."""
    multiprocess.mark_process_dead(worker.pid)
