"""``/health/live`` and ``/health/ready``: what an orchestrator asks before sending traffic or restarting a process.

Liveness says the process answers; readiness says its neighbours do: the database, its schema's migrations (when
``DB_MIGRATION_DIR`` exists and ``HEALTH_MIGRATIONS`` is on), and the identity provider's keys when
``OIDC_DISCOVERY_URL`` is set. Each neighbour is asked within ``HEALTH_TIMEOUT`` seconds, in a thread of its
own, so a hung connection makes the probe fail in time instead of hanging it. Probes arriving during a check share
it; while a hung check is still running, later probes fail at once rather than piling up threads. The answers never
include error texts, which may name hosts or users: those go to the log.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from flask import Flask, current_app
from flask.views import MethodView
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from flask_ligand.extensions.api import Blueprint

if TYPE_CHECKING:
    from flask_ligand.extensions.api import Api

PASS = "pass"
FAIL = "fail"

_LOG = logging.getLogger(__name__)
_EXTENSION_KEY = "flask_ligand.health"
_NO_STORE = {"Cache-Control": "no-store"}

BLP = Blueprint("Health", __name__, url_prefix="/health", description="Liveness and readiness probes.")


class CheckSchema(ma.Schema):
    """The result of one readiness check."""

    status = ma.fields.String(required=True, metadata={"description": "`pass` or `fail`."})
    duration_ms = ma.fields.Float(metadata={"description": "How long the check took, in milliseconds."})
    output = ma.fields.String(metadata={"description": "Why the check failed."})


class HealthSchema(ma.Schema):
    """A probe's answer, after the IETF draft "Health Check Response Format for HTTP APIs"."""

    status = ma.fields.String(required=True, metadata={"description": "`pass` (HTTP 200) or `fail` (HTTP 503)."})
    checks = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.Nested(CheckSchema), metadata={"description": "Each neighbour."}
    )


class NotReady(Exception):
    """A check's finding that may be shown in the probe's answer, unlike a driver's error text."""


@dataclass
class _Run:
    """One run of a check: its thread, when it started, and its outcome once it has one."""

    started: float
    outcome: dict[str, Any] = field(default_factory=dict)
    thread: threading.Thread = field(init=False)


class _BoundedCheck:
    """One neighbour's check, run in a daemon thread that probes wait for at most ``timeout`` seconds.

    Probes that arrive while a check runs wait for that run rather than start their own: two probers (a kubelet and
    a load balancer) or a flood of probes cost one check at a time, and none of them fails for the overlap. Only a
    run older than ``timeout``, a hung one, makes a probe fail at once.
    """

    def __init__(self, app: Flask, name: str, check: Callable[[], None]) -> None:
        self._app = app
        self.name = name
        self._check = check
        self._lock = threading.Lock()
        self._run: _Run | None = None

    def run(self, timeout: float) -> dict[str, Any]:
        with self._lock:
            run = self._run
            if run is None or not run.thread.is_alive():
                run = self._start()
            elif time.perf_counter() - run.started >= timeout:
                return {"status": FAIL, "output": "An earlier check has not finished yet."}
        run.thread.join(max(0.0, run.started + timeout - time.perf_counter()))
        if run.thread.is_alive():
            _LOG.warning("Readiness check '%s' did not finish within %s s.", self.name, timeout)
            duration_ms = round((time.perf_counter() - run.started) * 1000, 3)
            return {"status": FAIL, "duration_ms": duration_ms, "output": f"No answer within {timeout} s."}
        return dict(run.outcome)

    def _start(self) -> _Run:
        run = _Run(time.perf_counter())
        run.thread = threading.Thread(target=self._target, args=(run,), name=f"health-{self.name}", daemon=True)
        self._run = run
        run.thread.start()
        return run

    def _target(self, run: _Run) -> None:
        with self._app.app_context():
            try:
                self._check()
            except NotReady as exc:
                _LOG.warning("Readiness check '%s' failed: %s", self.name, exc)
                run.outcome["output"] = str(exc)
            except Exception:  # any failure of a neighbour means "not ready"; it is logged
                _LOG.warning("Readiness check '%s' failed.", self.name, exc_info=True)
                run.outcome["output"] = f"The {self.name.replace('_', ' ')} is unavailable; see the service's log."
            run.outcome["duration_ms"] = round((time.perf_counter() - run.started) * 1000, 3)
            run.outcome["status"] = FAIL if "output" in run.outcome else PASS


def init_app(app: Flask, api: Api) -> None:
    """Serve the probes of ``app``; in the OpenAPI spec only when ``HEALTH_IN_OPENAPI`` is set."""
    checks = []
    if "sqlalchemy" in app.extensions:
        checks.append(_BoundedCheck(app, "database", _check_database))
        migration_dir = app.config["DB_MIGRATION_DIR"]
        if app.config["HEALTH_MIGRATIONS"] and os.path.isdir(migration_dir):
            checks.append(_BoundedCheck(app, "migrations", _MigrationsCheck(os.path.abspath(migration_dir))))
    if app.config.get("OIDC_DISCOVERY_URL"):
        checks.append(_BoundedCheck(app, "identity_provider", _check_identity_provider))
    app.extensions[_EXTENSION_KEY] = checks
    if app.config["HEALTH_IN_OPENAPI"]:
        api.register_blueprint(BLP)
    else:
        app.register_blueprint(BLP)


@BLP.route("/live")
class Live(MethodView):
    @BLP.response(200, HealthSchema)
    def get(self) -> Any:
        """The process is up and answers requests."""
        return {"status": PASS}, _NO_STORE


@BLP.route("/ready")
class Ready(MethodView):
    @BLP.response(200, HealthSchema)
    @BLP.alt_response(503, schema=HealthSchema, description="A neighbour is unavailable.")
    def get(self) -> Any:
        """The database and, when configured, the identity provider answer: the service can take traffic."""
        timeout = current_app.config["HEALTH_TIMEOUT"]
        checks: list[_BoundedCheck] = current_app.extensions[_EXTENSION_KEY]
        results = {check.name: check.run(timeout) for check in checks}
        failed = any(result["status"] == FAIL for result in results.values())
        return {"status": FAIL if failed else PASS, "checks": results}, 503 if failed else 200, _NO_STORE


def _check_database() -> None:
    from flask_ligand.extensions.database import DB

    with DB.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class _MigrationsCheck:
    """The database's schema has every migration of this release: it is at ``DB_MIGRATION_DIR``'s head, or past it.

    A release whose code needs a column its migrations add must not take traffic before ``flask db upgrade`` has
    run: its requests would fail on the missing column. A revision this release does not know was written by a
    later release, whose migrations keep the schema working for this one during a rolling deploy (expand, then
    contract), so a schema ahead of this release passes.
    """

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._script: Any = None
        #: The revisions a database at some heads has applied, by those heads: one state, usually, per process.
        self._applied: dict[tuple[str, ...], frozenset[str] | None] = {}

    def __call__(self) -> None:
        from alembic.runtime.migration import MigrationContext

        from flask_ligand.extensions.database import DB

        script = self._read_scripts()
        with DB.engine.connect() as connection:
            current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
        if current not in self._applied:
            self._applied[current] = _applied_revisions(script, current)
        applied = self._applied[current]
        if applied is None:
            return  # a later release migrated the schema
        missing = [head for head in script.get_heads() if head not in applied]
        if missing:
            state = f"it is at {', '.join(current)}" if current else "it has none applied"
            raise NotReady(
                f"The database schema lacks this release's migration {', '.join(missing)} ({state}): run "
                "'flask db upgrade'."
            )

    def _read_scripts(self) -> Any:
        # The scripts do not change while the service runs: read them at the first probe (which imports alembic,
        # kept out of the service's start).
        if self._script is None:
            from alembic.script import ScriptDirectory

            self._script = ScriptDirectory(self._directory)
        return self._script


def _applied_revisions(script: Any, current: tuple[str, ...]) -> frozenset[str] | None:
    """The revisions a database at ``current`` has applied: those heads and all they build on; ``None`` when one of
    them is unknown to this release's scripts (a later release wrote it)."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    if not current:
        return frozenset()
    try:
        return frozenset(revision.revision for revision in script.iterate_revisions(current, "base"))
    except (CommandError, RevisionError):
        return None


def _check_identity_provider() -> None:
    from flask_ligand.extensions import oidc

    try:
        oidc.current_issuer().signing_key({})
    except oidc.UnknownSigningKeyError:
        return  # the keys were fetched; none fits an empty token header, which is expected
    except HTTPException as exc:
        raise RuntimeError("The identity provider's keys cannot be fetched.") from exc
