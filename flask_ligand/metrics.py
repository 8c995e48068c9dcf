"""Prometheus metrics at ``/metrics``: requests and their latency per endpoint and status, in-flight requests and
database connections in use.

Under a pre-forking server such as gunicorn, each worker counts on its own; with ``PROMETHEUS_MULTIPROC_DIR`` set
(``gunicorn.conf.py`` sets it), workers write their values to files there and ``/metrics`` adds them up, whichever
worker answers the scrape.
"""

from __future__ import annotations

import hmac
import os
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Response, current_app, g, request
from sqlalchemy import event

from flask_ligand.errors import error_response

if TYPE_CHECKING:
    from flask import Flask
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from sqlalchemy.engine import Engine

_EXTENSION_KEY = "flask_ligand.metrics"
_G_STARTED = "_ligand_metrics_started"
_UNMATCHED = "<unmatched>"
#: Methods counted under their own name. Any token is a valid method, so others share one label: a client sending
#: made-up methods must not create a series (and a histogram's buckets) per method.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_OTHER_METHOD = "<other>"


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    in_progress: Gauge
    db_in_use: Gauge
    #: The request counter's and the latency histogram's series by method, endpoint and status, made once each.
    series: dict[tuple[str, str, int], tuple[Any, Any]] = field(default_factory=dict)


def init_app(app: Flask) -> None:
    """Count ``app``'s requests and database connections and serve them at ``METRICS_PATH``, if ``METRICS_ENABLED``.

    Call it after the database is bound, so that its connection pool is watched.
    """
    if not app.config["METRICS_ENABLED"]:
        return
    # Values shared by processes go to files there. gunicorn.conf.py makes it for a server, but a command run on its
    # own (the release step's ``flask db upgrade`` in a fresh container) would fail on the first metric without it.
    shared_directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared_directory:
        Path(shared_directory).mkdir(parents=True, exist_ok=True)
    # Imported here, so that a service without metrics (the default in production) does not import it at start.
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry(auto_describe=True)
    metrics = _Metrics(
        registry=registry,
        requests=Counter(
            "http_requests", "HTTP requests answered.", ["method", "endpoint", "status"], registry=registry
        ),
        latency=Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to having its response ready.",
            ["method", "endpoint", "status"],
            registry=registry,
        ),
        in_progress=Gauge(
            "http_requests_in_progress",
            "HTTP requests being answered.",
            registry=registry,
            multiprocess_mode="livesum",
        ),
        db_in_use=Gauge(
            "db_pool_connections_in_use",
            "Database connections checked out of the pool.",
            ["database"],
            registry=registry,
            multiprocess_mode="livesum",
        ),
    )
    app.extensions[_EXTENSION_KEY] = metrics
    if "sqlalchemy" in app.extensions:
        from flask_ligand.extensions.database import DB

        with app.app_context():
            for bind, engine in DB.engines.items():
                _watch_pool(engine, metrics.db_in_use.labels(database=bind or "default"))
    app.before_request(_request_started)
    app.after_request(_request_finished)
    app.teardown_request(_request_torn_down)
    app.add_url_rule(app.config["METRICS_PATH"], "ligand_metrics", _serve_metrics, methods=["GET"])


def _watch_pool(engine: Engine, in_use: Gauge) -> None:
    event.listen(engine, "checkout", lambda *_args: in_use.inc())
    event.listen(engine, "checkin", lambda *_args: in_use.dec())


def _request_started() -> None:
    metrics: _Metrics = current_app.extensions[_EXTENSION_KEY]
    metrics.in_progress.inc()
    setattr(g, _G_STARTED, time.perf_counter())


def _request_finished(response: Response) -> Response:
    started: float | None = g.get(_G_STARTED)
    if started is not None:
        metrics: _Metrics = current_app.extensions[_EXTENSION_KEY]
        method, rule = request.method, request.url_rule
        key = (
            method if method in _KNOWN_METHODS else _OTHER_METHOD,
            rule.rule if rule is not None else _UNMATCHED,
            response.status_code,
        )
        series = metrics.series.get(key)
        if series is None:
            labels = {"method": key[0], "endpoint": key[1], "status": str(key[2])}
            series = metrics.series[key] = (metrics.requests.labels(**labels), metrics.latency.labels(**labels))
        series[0].inc()
        series[1].observe(time.perf_counter() - started)
    return response


def _request_torn_down(_error: BaseException | None) -> None:
    # Teardown runs even when a response could not be made, so the in-flight gauge cannot drift upwards.
    if g.pop(_G_STARTED, None) is not None:
        metrics: _Metrics = current_app.extensions[_EXTENSION_KEY]
        metrics.in_progress.dec()


def _serve_metrics() -> Any:
    token: str | None = current_app.config.get("METRICS_TOKEN")
    if token and not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
        return error_response(
            HTTPStatus.UNAUTHORIZED,
            "Metrics need the bearer token configured as METRICS_TOKEN.",
            {"WWW-Authenticate": "Bearer"},
        )
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    multiprocess_dir: str | None = current_app.config.get("PROMETHEUS_MULTIPROC_DIR")
    if multiprocess_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    else:
        registry = current_app.extensions[_EXTENSION_KEY].registry
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
