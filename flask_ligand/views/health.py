"""``/health/live`` and ``/health/ready``: what an orchestrator asks before sending traffic or restarting a process.

Liveness says the process answers; readiness says its neighbours do: the database, and the identity provider's keys
when ``OIDC_DISCOVERY_URL`` is set. Each neighbour is asked within ``HEALTH_TIMEOUT`` seconds, in a thread of its
own, so a hung connection makes the probe fail in time instead of hanging it; while a hung check is still running,
later probes fail at once rather than piling up threads. The answers never include error texts, which may name
hosts or users: those go to the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
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


class _BoundedCheck:
    """One neighbour's check, run in a daemon thread that a probe waits for at most ``timeout`` seconds."""

    def __init__(self, app: Flask, name: str, check: Callable[[], None]) -> None:
        self._app = app
        self.name = name
        self._check = check
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None

    def run(self, timeout: float) -> dict[str, Any]:
        started = time.perf_counter()
        outcome: dict[str, str] = {}
        with self._lock:
            if self._running is not None and self._running.is_alive():
                return {"status": FAIL, "output": "An earlier check has not finished yet."}
            thread = threading.Thread(target=self._target, args=(outcome,), name=f"health-{self.name}", daemon=True)
            self._running = thread
            thread.start()
        thread.join(timeout)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if thread.is_alive():
            _LOG.warning("Readiness check '%s' did not finish within %s s.", self.name, timeout)
            return {"status": FAIL, "duration_ms": duration_ms, "output": f"No answer within {timeout} s."}
        if "error" in outcome:
            return {"status": FAIL, "duration_ms": duration_ms, "output": outcome["error"]}
        return {"status": PASS, "duration_ms": duration_ms}

    def _target(self, outcome: dict[str, str]) -> None:
        with self._app.app_context():
            try:
                self._check()
            except Exception:  # any failure of a neighbour means "not ready"; it is logged
                _LOG.warning("Readiness check '%s' failed.", self.name, exc_info=True)
                outcome["error"] = f"The {self.name.replace('_', ' ')} is unavailable; see the service's log."


def init_app(app: Flask, api: Api) -> None:
    """Serve the probes of ``app``; in the OpenAPI spec only when ``HEALTH_IN_OPENAPI`` is set."""
    checks = []
    if "sqlalchemy" in app.extensions:
        checks.append(_BoundedCheck(app, "database", _check_database))
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


def _check_identity_provider() -> None:
    from flask_ligand.extensions import oidc

    try:
        oidc.current_issuer().signing_key({})
    except oidc.UnknownSigningKeyError:
        return  # the keys were fetched; none fits an empty token header, which is expected
    except HTTPException as exc:
        raise RuntimeError("The identity provider's keys cannot be fetched.") from exc
