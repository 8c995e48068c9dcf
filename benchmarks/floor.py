"""The floor: a hand-written Flask + SQLAlchemy Core app answering the petstore's benchmarked requests.

It runs the same SQL as the petstore and returns the same JSON and pagination headers, with none of a framework's
conveniences (no ORM, no schemas, no error handlers, no logging). The gap between the two is what flask-ligand costs.
``benchmarks/run.py`` serves it with gunicorn (``benchmarks.floor:app``) next to the petstore, with the same settings.
With ``FLOOR_REQUEST_LOGS=1`` (``run.py --floor-logs``) it writes the two JSON request lines the petstore writes,
by hand: the floor of a service that must log its requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt
from flask import Flask, Response, g, request
from sqlalchemy import create_engine, text

_DATETIME = "%Y-%m-%dT%H:%M:%SZ"
_SECRET = os.environ.get("PAGINATION_CURSOR_SECRET", "floor").encode()

app = Flask(__name__)
engine = create_engine(os.environ["SQLALCHEMY_DATABASE_URI"], pool_pre_ping=True)
with engine.connect() as _connection:
    _COLUMNS = [
        row[0]
        for row in _connection.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'pet' ORDER BY ordinal_position"
            )
        )
    ]
_SELECT = "SELECT " + ", ".join(f"pet.{name}" for name in _COLUMNS) + " FROM pet"
_COUNT = text("SELECT count(*) AS count_1 FROM pet")
_PAGE = text(f"{_SELECT} ORDER BY pet.id LIMIT :limit OFFSET :offset")
_AFTER = text(f"{_SELECT} WHERE pet.id > :id ORDER BY pet.id LIMIT :limit")
_ONE = text(f"{_SELECT} WHERE pet.id = :id")
_INSERT = text(
    "INSERT INTO pet (id, name, description, created_at, updated_at, version_id) "
    "VALUES (:id, :name, :description, :now, :now, :version)"
)
_PUBLIC_KEY = os.environ.get("BENCH_JWT_PUBLIC_KEY", "")
_LOG = logging.getLogger("floor.request")


def _log_line(event: str, **fields: Any) -> None:
    """Log a request line: the request's method, path and query, ``fields``, then the event and its context."""
    query = {key: values[0] if len(values) == 1 else values for key, values in request.args.lists()}
    line = {"method": request.method, "path": request.path, "query": query, **fields}
    line.update(event=event, request_id=g.request_id, level="info", logger=_LOG.name)
    line["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    _LOG.info(json.dumps(line, default=str))


def _body(data: bytes, is_json: bool) -> dict[str, Any]:
    if not data:
        return {}
    if not is_json or len(data) > 4096:
        return {"body_omitted": f"{len(data)} bytes"}
    return {"body": json.loads(data)}


def _request_started() -> None:
    g.started, g.request_id = time.perf_counter(), uuid.uuid4().hex
    headers = {name: "[REDACTED]" if name.lower() == "authorization" else value for name, value in request.headers}
    _log_line(
        "request started",
        remote_addr=request.remote_addr,
        headers=headers,
        **_body(request.get_data(), request.is_json),
    )


def _request_finished(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.request_id
    duration_ms = round((time.perf_counter() - g.started) * 1000, 3)
    _log_line(
        "request finished",
        status=response.status_code,
        duration_ms=duration_ms,
        **_body(response.get_data(), response.is_json),
    )
    return response


if os.environ.get("FLOOR_REQUEST_LOGS"):
    _handler = logging.StreamHandler(sys.stderr)
    _LOG.addHandler(_handler)
    _LOG.setLevel(logging.INFO)
    _LOG.propagate = False
    app.before_request(_request_started)
    app.after_request(_request_finished)


def _pet(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "created_at": row.created_at.astimezone(UTC).strftime(_DATETIME),
        "updated_at": row.updated_at.astimezone(UTC).strftime(_DATETIME),
    }


def _json(data: Any, status: int = 200, /, **headers: str) -> Response:
    body = json.dumps(data, separators=(",", ":"))
    response = Response(body, status, mimetype="application/json", headers=headers)
    if status == 200:
        response.headers["ETag"] = '"' + hashlib.sha1(body.encode()).hexdigest() + '"'
    return response


def make_cursor(pet_id: str) -> str:
    """The signed cursor of the page after ``pet_id``."""
    payload = base64.urlsafe_b64encode(json.dumps(["f", [pet_id], "n"]).encode()).decode().rstrip("=")
    signature = base64.urlsafe_b64encode(hmac.digest(_SECRET, payload.encode(), "sha256")).decode().rstrip("=")
    return f"{payload}.{signature}"


def _uncursor(cursor: str) -> str:
    payload, _, signature = cursor.partition(".")
    expected = base64.urlsafe_b64encode(hmac.digest(_SECRET, payload.encode(), "sha256")).decode().rstrip("=")
    if not hmac.compare_digest(signature, expected):
        raise ValueError("bad cursor")
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))[1][0])


@app.get("/pets/")
def list_pets() -> Response:
    size = int(request.args.get("page_size", 10))
    links = {"first": f"/pets/?page_size={size}"}
    with engine.connect() as connection:
        if "cursor" in request.args:
            rows = connection.execute(_AFTER, {"id": _uncursor(request.args["cursor"]), "limit": size + 1}).all()
            headers = {}
        else:
            page = int(request.args.get("page", 1))
            total = connection.execute(_COUNT).scalar_one()
            rows = connection.execute(_PAGE, {"limit": size + 1, "offset": (page - 1) * size}).all()
            last = (total - 1) // size + 1
            metadata = {"total": total, "total_pages": last, "first_page": 1, "last_page": last, "page": page}
            if page > 1:
                metadata["previous_page"] = page - 1
            if page < last:
                metadata["next_page"] = page + 1
            headers = {"X-Pagination": json.dumps(metadata)}
    pets = [_pet(row) for row in rows[:size]]
    if len(rows) > size:
        links["next"] = f"/pets/?page_size={size}&cursor={make_cursor(pets[-1]['id'])}"
    headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    return _json(pets, **headers)


@app.get("/pets/<uuid:pet_id>")
def get_pet(pet_id: uuid.UUID) -> Response:
    with engine.connect() as connection:
        row = connection.execute(_ONE, {"id": pet_id}).first()
    if row is None:
        return _json({"code": 404, "status": "Not Found", "message": "No such pet."}, 404)
    return _json(_pet(row))


@app.post("/pets/")
def create_pet() -> Response:
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        claims = jwt.decode(token, _PUBLIC_KEY, algorithms=["RS256"], options={"verify_aud": False})
    except jwt.PyJWTError:
        return _json({"code": 401, "status": "Unauthorized", "message": "Bad token."}, 401)
    if "user" not in claims.get("realm_access", {}).get("roles", []):
        return _json({"code": 403, "status": "Forbidden", "message": "Needs role user."}, 403)
    body = request.get_json()
    name, description = body.get("name"), body.get("description", "")
    if not isinstance(name, str) or not 1 <= len(name) <= 255 or not isinstance(description, str):
        return _json({"code": 422, "status": "Unprocessable Entity", "message": "Bad body."}, 422)
    pet = {"id": uuid.uuid4(), "name": name, "description": description, "now": datetime.now(UTC)}
    with engine.begin() as connection:
        connection.execute(_INSERT, {**pet, "version": uuid.uuid4().hex})
        row = connection.execute(_ONE, {"id": pet["id"]}).one()
    return _json(_pet(row), 201, Location=f"/pets/{pet['id']}")
