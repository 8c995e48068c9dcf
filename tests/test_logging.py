"""Request logs: JSON lines on arrival and completion, request ids, redacted secrets, and requests that survive."""

from __future__ import annotations

import dataclasses
import json
import logging
import logging.config
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest
import structlog
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import InternalServerError

import example_petstore
from flask_ligand.logging import (
    DEFAULT_REDACT_KEYS,
    REDACTED,
    build_formatter,
    current_request_id,
    kept_logging_configuration,
    redact,
)
from flask_ligand.testing import created_app
from tests.conftest import MIGRATIONS_DIR, HeadersFactory, TokenFactory
from tests.servers import get, gunicorn

PASSWORD = "hunter2-nested-password"
API_KEY = "k-0123456789-api-key"
COOKIE = "session-cookie-value-42"
QUERY_TOKEN = "query-token-value-77"
#: What gunicorn logs when it refuses a request line: the line is quoted, query string and all.
REJECTED_REQUEST_LINE = (
    "Invalid request from ip=127.0.0.1: Invalid HTTP request line: "
    "'GET /pets/?password=HUNTER2xyz&a=1&api-key=K3Y-dashed&apiKey=K3Y-camel HTTP/1.1'"
)
#: The logging part of the ``alembic.ini`` that Alembic and ``flask db init`` write for a new service.
ALEMBIC_DEFAULT_LOGGING_INI = """\
[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console
qualname =

[logger_sqlalchemy]
level = WARN
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""


@contextmanager
def served_by_gunicorn(tmp_path: Path, flask_env: str) -> Iterator[tuple[int, Path]]:
    """Serve the petstore in ``flask_env`` with gunicorn, ``gunicorn.conf.py`` and one worker; yield its port and log.

    Stopped with SIGTERM on exit, so the log is complete when the block ends.
    """
    environ = {
        "FLASK_ENV": flask_env,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'petstore.sqlite'}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with gunicorn("example_petstore.app:app", tmp_path, environ) as server:
        yield server.port, server.log


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON log lines written to standard error so far."""
    return json_lines(capsys.readouterr().err)


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON lines of ``output``, parsed."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def request_lines(lines: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("event") == event]


@pytest.fixture
def database_uri(tmp_path: Path) -> str:
    """SQLite only: logging does not depend on the database."""
    return f"sqlite:///{tmp_path / 'petstore.sqlite'}"


def test_request_arrival_and_completion_are_json_lines_with_the_request_fields(
    client: FlaskClient, auth_headers: HeadersFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request writes a JSON line when it arrives and one when it completes, with what an operator looks for."""
    body = {"name": "Rex", "description": "A good dog"}
    response = client.post("/pets/?source=test", json=body, headers=auth_headers("user"))

    lines = log_lines(capsys)
    (started,) = request_lines(lines, "request started")
    (finished,) = request_lines(lines, "request finished")
    request_id = response.headers["X-Request-ID"]
    assert started["method"] == finished["method"] == "POST"
    assert started["path"] == finished["path"] == "/pets/"
    assert started["query"] == finished["query"] == {"source": "test"}
    assert started["request_id"] == finished["request_id"] == request_id
    assert started["body"] == body
    assert started["level"] == finished["level"] == "info"
    assert finished["status"] == 201
    assert isinstance(finished["duration_ms"], float)
    assert finished["user_id"] == "tester"
    assert finished["body"]["name"] == "Rex"


def test_answer_without_a_body_is_logged_without_one(
    client: FlaskClient, auth_headers: HeadersFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 204 sends no body, and its completion line says none: neither ``body`` nor ``body_omitted``."""
    created = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))
    etag = client.get(created.headers["Location"]).headers["ETag"]
    capsys.readouterr()

    deleted = client.delete(created.headers["Location"], headers=auth_headers("admin", **{"If-Match": etag}))

    (finished,) = request_lines(log_lines(capsys), "request finished")
    assert (deleted.status_code, deleted.data) == (204, b"")
    assert finished["status"] == 204
    assert "body" not in finished
    assert "body_omitted" not in finished


def test_anonymous_request_is_logged_without_a_user(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    """A request without a token has no user id in its completion line."""
    client.get("/pets/")

    (finished,) = request_lines(log_lines(capsys), "request finished")
    assert finished["status"] == 200
    assert finished["user_id"] is None


def test_no_secret_reaches_the_log(
    client: FlaskClient, auth_headers: HeadersFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A nested password, an API key, a bearer token, a cookie and a token in the query are all redacted."""
    headers = auth_headers("user", Cookie=f"session={COOKIE}")
    token = headers["Authorization"].removeprefix("Bearer ")
    body = {"name": "Rex", "description": "A dog", "owner": {"password": PASSWORD, "keys": [{"api_key": API_KEY}]}}

    response = client.post(f"/pets/?token={QUERY_TOKEN}", json=body, headers=headers)

    assert response.status_code == 422
    output = capsys.readouterr().err
    assert "[REDACTED]" in output
    for secret in (PASSWORD, API_KEY, COOKIE, QUERY_TOKEN, token):
        assert secret not in output


def test_secrets_under_other_spellings_of_their_keys_are_redacted(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """Key names are compared without case, hyphens or underscores, in the query, the headers and the body."""
    secrets = [f"s3cret-value-{number}" for number in range(8)]
    headers = {"Api-Key": secrets[0], "X-Amz-Signature": secrets[1], "X-Trace-Note": "nothing secret"}
    body = {"credentials": {"pwd": secrets[2], "privateKey": secrets[3], "apiKey": secrets[4]}}

    response = client.post(
        f"/pets/?apikey={secrets[5]}&api-key={secrets[6]}&X_API_KEY={secrets[7]}", json=body, headers=headers
    )

    assert response.status_code == 401
    output = capsys.readouterr().err
    assert output.count("[REDACTED]") >= 6
    for secret in secrets:
        assert secret not in output
    assert "nothing secret" in output


def test_long_header_values_are_clipped_in_the_log(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    """A request line keeps the first 512 characters of a header's value, so huge headers make no huge lines."""
    response = client.get("/pets/", headers={"X-Padding": "p" * 8000})

    assert response.status_code == 200
    (started,) = request_lines(log_lines(capsys), "request started")
    assert started["headers"]["X-Padding"] == "p" * 512 + "... (8000 characters)"


@pytest.mark.parametrize(
    ("content_type", "data", "status"),
    [
        ("text/plain", b"name=Rex, not JSON", 415),
        ("application/json", b"{not json", 400),
        ("application/octet-stream", bytes(range(256)) * 64, 415),
        ("application/json", b"\xff\xfe\x00binary" * 100, 400),
        ("application/json", b'{"name": "' + b"x" * (10 * 1024 * 1024) + b'"}', 413),
    ],
    ids=["text", "invalid-json", "binary", "binary-as-json", "10MB"],
)
def test_request_with_an_unloggable_body_is_answered_and_logged(
    client: FlaskClient,
    auth_headers: HeadersFactory,
    capsys: pytest.CaptureFixture[str],
    content_type: str,
    data: bytes,
    status: int,
) -> None:
    """A body that is not JSON, is binary or is 10 MB gets its normal JSON error and both log lines, without it."""
    response = client.post("/pets/", data=data, headers=auth_headers("user", **{"Content-Type": content_type}))

    assert response.status_code == status
    assert response.json is not None and response.json["code"] == status
    lines = log_lines(capsys)
    (started,) = request_lines(lines, "request started")
    (finished,) = request_lines(lines, "request finished")
    assert "body" not in started
    assert str(len(data)) in started["body_omitted"]
    assert finished["status"] == status


def test_body_too_deep_to_log_does_not_break_the_request(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON body nested too deeply to be read leaves the request alone and is logged as omitted, saying why."""
    deep = b"[" * 2000 + b"]" * 2000

    response = client.get("/pets/", data=deep, content_type="application/json")

    assert response.status_code == 200
    lines = log_lines(capsys)
    (started,) = request_lines(lines, "request started")
    assert started["body_omitted"] == "4000 bytes, nested too deeply"
    assert not any(line["event"].startswith("A request could not be logged") for line in lines)
    assert request_lines(lines, "request finished")[0]["status"] == 200


def test_body_readable_but_too_deep_to_walk_costs_one_line_not_a_traceback(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A body JSON reads but the log's redaction cannot walk (900 levels, 3.6 KB) loses its request line with one
    warning, never a traceback of thousands of lines per request: a small request must not make a large log."""
    deep = b'{"password": "a", "x": ' + b"[" * 900 + b"]" * 900 + b"}"  # a secret key: the line is walked

    response = client.get("/pets/", data=deep, content_type="application/json")

    assert response.status_code == 200
    output = capsys.readouterr().err
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warnings = [line for line in lines if "nests too deeply" in line["event"]]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning" and "exception" not in warnings[0]
    assert len(output) < 20_000
    assert request_lines(lines, "request finished")[0]["status"] == 200


def test_unhandled_exception_is_logged_once_with_traceback_and_request_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An exception escaping a view is logged once, with its traceback and the request id; the client sees neither."""
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'boom.sqlite'}", PROPAGATE_EXCEPTIONS=False
    )

    def boom() -> NoReturn:
        raise RuntimeError("internal detail 0xdeadbeef")

    app.add_url_rule("/boom", view_func=boom)

    response = app.test_client().get("/boom")

    request_id = response.headers["X-Request-ID"]
    assert response.status_code == 500
    assert response.json == {
        "code": 500,
        "status": "Internal Server Error",
        "message": InternalServerError.description,
        "request_id": request_id,
    }
    assert "0xdeadbeef" not in response.text
    logged = [line for line in log_lines(capsys) if "exception" in line]
    assert len(logged) == 1
    assert logged[0]["level"] == "error"
    assert logged[0]["request_id"] == request_id
    assert "Traceback" in logged[0]["exception"] and "0xdeadbeef" in logged[0]["exception"]


def test_request_id_from_a_trusted_proxy_is_kept(client: FlaskClient, capsys: pytest.CaptureFixture[str]) -> None:
    """An X-Request-ID from a trusted proxy (loopback by default) is the request's id, in the response and the log."""
    response = client.get("/pets/", headers={"X-Request-ID": "edge-1234:abc"})

    assert response.headers["X-Request-ID"] == "edge-1234:abc"
    assert {line["request_id"] for line in log_lines(capsys)} == {"edge-1234:abc"}


@pytest.mark.parametrize(
    ("remote_addr", "request_id"),
    [
        ("203.0.113.9", "spoofed-by-a-client"),
        ("127.0.0.1", "bad id <script>"),
        ("127.0.0.1", "x" * 129),
        ("127.0.0.1", "r\u00e9quete-\u0661"),
    ],
    ids=["untrusted-peer", "malformed", "too-long", "not-ascii"],
)
def test_request_id_from_elsewhere_is_replaced(client: FlaskClient, remote_addr: str, request_id: str) -> None:
    """An X-Request-ID from an untrusted peer, or a malformed one, is replaced by a new id."""
    response = client.get("/pets/", headers={"X-Request-ID": request_id}, environ_base={"REMOTE_ADDR": remote_addr})

    assert response.headers["X-Request-ID"] not in ("", request_id)


def test_every_response_has_a_new_request_id(client: FlaskClient) -> None:
    """Without an incoming id, each response carries a different new one, errors included."""
    ids = {client.get(path).headers["X-Request-ID"] for path in ("/pets/", "/pets/", "/nowhere")}

    assert len(ids) == 3


def test_local_environment_logs_human_readable_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """In ``local``, request lines are for a human reading a console, also after the start-up migration."""
    app = example_petstore.create_app(
        "local", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'local.sqlite'}", DB_MIGRATION_DIR=str(MIGRATIONS_DIR)
    )

    app.test_client().get("/pets/")

    finished = [line for line in capsys.readouterr().err.splitlines() if "request finished" in line]
    assert len(finished) == 1
    assert not finished[0].startswith("{")
    assert "status=200" in finished[0]


def test_start_up_migration_logs_json_lines_like_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``LOG_FORMAT=json``, alembic's lines of a start-up migration are JSON lines too, in a JSON log stream."""
    with created_app(
        example_petstore.create_app,
        "local",
        create_tables=False,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'upgraded.sqlite'}",
        DB_MIGRATION_DIR=str(MIGRATIONS_DIR),
        LOG_FORMAT="json",
    ):
        pass

    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    upgrades = [line for line in parsed if str(line.get("event", "")).startswith("Running upgrade")]
    assert upgrades and all(line["logger"] == "alembic.runtime.migration" for line in upgrades)


def test_loggers_survive_a_file_config_inside_kept_logging_configuration(
    app: Flask, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Alembic's default ``fileConfig``, which disables every logger it does not name, leaves the service logging."""
    service_log = logging.getLogger("tests.service")
    ini = tmp_path / "alembic.ini"
    ini.write_text(ALEMBIC_DEFAULT_LOGGING_INI)

    with kept_logging_configuration():
        library_log = logging.getLogger("tests.imported_by_the_migration")
        logging.config.fileConfig(ini)
    capsys.readouterr()
    app.test_client().get("/pets/")
    service_log.warning("still logging after the migration")
    library_log.warning("still logging after the migration")

    lines = log_lines(capsys)
    assert [line["status"] for line in request_lines(lines, "request finished")] == [200]
    assert [line["logger"] for line in request_lines(lines, "still logging after the migration")] == [
        "tests.service",
        "tests.imported_by_the_migration",
    ]


# The env.py of ``flask db init`` tries Flask-SQLAlchemy's deprecated ``get_engine`` first, as in a user's service.
@pytest.mark.filterwarnings("ignore:'get_engine' is deprecated:DeprecationWarning")
def test_service_upgraded_at_start_up_by_flask_db_inits_env_py_logs_its_requests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``local`` service whose migrations ``flask db init`` made (its ``env.py`` disables loggers) logs requests."""
    database_uri = f"sqlite:///{tmp_path / 'service.sqlite'}"
    migrations = tmp_path / "migrations"
    with created_app(example_petstore.create_app, SQLALCHEMY_DATABASE_URI=database_uri) as setup:
        result = setup.test_cli_runner().invoke(args=["db", "init", "--directory", str(migrations)])
    assert result.exit_code == 0, result.output
    service_log = logging.getLogger("tests.service")

    with created_app(
        example_petstore.create_app,
        "local",
        SQLALCHEMY_DATABASE_URI=database_uri,
        DB_MIGRATION_DIR=str(migrations),
        LOG_FORMAT="json",
    ) as app:
        capsys.readouterr()
        app.test_client().post("/pets/", json={"name": "Rex"})
        service_log.warning("still logging after the migration")

    lines = log_lines(capsys)
    assert [line["status"] for line in request_lines(lines, "request finished")] == [401]
    assert [line["logger"] for line in request_lines(lines, "still logging after the migration")] == ["tests.service"]


def test_console_lines_redact_secrets_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Human-readable lines go through the same redaction: a nested password in a body never reaches them."""
    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'console.sqlite'}",
        LOG_FORMAT="console",
    ) as app:
        app.test_client().post("/pets/", json={"name": "Rex", "owner": {"password": PASSWORD}})

    (started,) = [line for line in capsys.readouterr().err.splitlines() if "request started" in line]
    assert not started.startswith("{")
    assert PASSWORD not in started
    assert f"'password': '{REDACTED}'" in started


def test_unknown_log_format_is_refused_at_start_up() -> None:
    """A LOG_FORMAT other than json or console stops create_app, naming the setting."""
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        example_petstore.create_app("testing", LOG_FORMAT="xml")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_token_inside_an_exception_message_is_masked(
    tmp_path: Path, make_token: TokenFactory, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    """A bearer token quoted in an exception's message is masked in the logged traceback, in either format (the
    console's traceback was printed after the redaction had run)."""
    token = make_token()
    app = example_petstore.create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'boom.sqlite'}",
        PROPAGATE_EXCEPTIONS=False,
        LOG_FORMAT=log_format,
    )

    def leak() -> NoReturn:
        raise RuntimeError(f"upstream refused Authorization: Bearer {token}")

    app.add_url_rule("/leak", view_func=leak)

    assert app.test_client().get("/leak").status_code == 500
    output = capsys.readouterr().err
    assert "upstream refused Authorization: [REDACTED]" in output
    assert token not in output


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_value_logged_as_an_object_is_redacted_as_its_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_format: str
) -> None:
    """structlog fields that are neither text nor containers (an exception, a dataclass, bytes) are written as their
    text, which is redacted like any text: ``log.warning("...", error=exc)`` is the common idiom."""

    @dataclasses.dataclass
    class DbSettings:
        host: str
        password: str

    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fields.sqlite'}",
        LOG_FORMAT=log_format,
    ):
        structlog.get_logger("tests.fields").warning(
            "upstream failed",
            error=RuntimeError("login refused password=S3CRET"),
            settings=DbSettings("db", "S3CRET"),
            raw=b"token=S3CRET",
        )

    (line,) = [line for line in capsys.readouterr().err.splitlines() if "upstream failed" in line]
    assert "S3CRET" not in line
    assert "login refused password=[REDACTED]" in line


def test_a_token_as_a_query_parameter_name_or_a_body_key_is_masked(
    client: FlaskClient, make_token: TokenFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A token sent where a name belongs (``?<token>``, ``{"<token>": 1}``) is masked in both request lines, which
    log the 422 naming it too. A token with base64 padding (``=``) is recognised as one."""
    token = make_token()
    padded = "eyJhbGciOiJub25lIn0=.eyJzdWIiOiJ4In0=.c2lnbmF0dXJl"

    client.get(f"/pets/?{token}=1")
    client.post("/pets/", json={token: 1, "note": f"see {padded}"})

    output = capsys.readouterr().err
    assert token not in output
    assert padded not in output and "eyJzdWIiOiJ4In0" not in output


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize("make_logger", [logging.getLogger, structlog.get_logger], ids=["stdlib", "structlog"])
def test_secret_parameters_quoted_in_text_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_format: str, make_logger: Callable[[str], Any]
) -> None:
    """Secret ``name=value`` pairs in a line's text, as in the request line gunicorn quotes, have their value masked."""
    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'text.sqlite'}",
        LOG_FORMAT=log_format,
    ):
        make_logger("gunicorn.error").warning(REJECTED_REQUEST_LINE)

    (line,) = [line for line in capsys.readouterr().err.splitlines() if "Invalid request" in line]
    for secret in ("HUNTER2xyz", "K3Y-dashed", "K3Y-camel"):
        assert secret not in line
    assert (
        "Invalid request from ip=127.0.0.1: Invalid HTTP request line: "
        f"'GET /pets/?password={REDACTED}&a=1&api-key={REDACTED}&apiKey={REDACTED} HTTP/1.1'"
    ) in line


@pytest.mark.parametrize("log_format", ["json", "console"])
@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("GET /pets/?user%5Bpassword%5D=S3CRET&page=2 HTTP/1.1", "user%5Bpassword%5D=[REDACTED]&page=2"),
        ("retrying with pass%77ord=S3CRET&user=ada", "pass%77ord=[REDACTED]&user=ada"),
        ("Settings(db_password='S3CRET', host='db')", "db_password=[REDACTED], host='db'"),
        ("refused {'api_key': 'S3CRET', 'name': 'rex'}", "{'api_key': [REDACTED], 'name': 'rex'}"),
        ('upstream said {"clientSecret": "S3CRET", "n": 2}', '{"clientSecret": [REDACTED], "n": 2}'),
        ("GET /pets?password=it'sS3CRET&x=1", "password=[REDACTED]&x=1"),
        ("Request(method='GET', url='https://api/v1?api_key=S3CRET')", "url='https://api/v1?api_key=[REDACTED]'"),
        ("""saw {'body': '{"password": "S3CRET"}'}""", """{'body': '{"password": [REDACTED]}'}"""),
        ("Creds(user='bob', password=b'S3CRET')", "Creds(user='bob', password=[REDACTED])"),
        ("{'credentials': {'user': 'bob', 'pw': 'S3CRET'}}", "{'credentials': [REDACTED]}"),
        ("{'password': ('bob', 'S3CRET')}", "{'password': [REDACTED]}"),
        ("KeyError: 'x-api-key: S3CRET'", "'x-api-key: [REDACTED]'"),
        ("sent Authorization: Basic S3CRET then", "Authorization: [REDACTED] then"),
        ("connect postgresql://app:S3CRET@db:5432/pets failed", "postgresql://app:[REDACTED]@db:5432/pets failed"),
        ("sent Cookie: theme=dark; sid=S3CRET", "sent Cookie: [REDACTED]"),
        ("Creds(password='it\\'s-S3CRET', user='bob')", "Creds(password=[REDACTED], user='bob')"),
        ("credentials={'web': {'auth': {'refresh': 'S3CRET'}}} ok", "credentials=[REDACTED] ok"),
    ],
    ids=[
        "encoded-name",
        "encoded-letter",
        "quoted-value",
        "dict-repr",
        "json-in-text",
        "quote-in-value",
        "pair-in-a-quoted-value",
        "json-in-a-dict-repr",
        "bytes-value",
        "nested-dict-value",
        "tuple-value",
        "header-in-text",
        "authorization-scheme",
        "url-password",
        "cookie-header",
        "escaped-quote",
        "dict-two-levels-deep",
    ],
)
def test_secrets_in_the_other_shapes_text_quotes_them_are_redacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], log_format: str, text: str, kept: str
) -> None:
    """Percent-encoded names, quoted values and quoted keys in a message hide their secret and keep the rest."""
    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'text.sqlite'}",
        LOG_FORMAT=log_format,
        LOG_REDACT_KEYS=[*DEFAULT_REDACT_KEYS, "client_secret"],
    ):
        logging.getLogger("some.library").warning(text)

    (line,) = [line for line in capsys.readouterr().err.splitlines() if "some.library" in line]
    assert "S3CRET" not in line
    assert (kept if log_format == "console" else json.dumps(kept)[1:-1]) in line


def test_gunicorn_refusing_a_request_line_logs_no_secret_of_its_query(tmp_path: Path) -> None:
    """A malformed request line with a password in its query string is refused, and logged without the password."""
    with served_by_gunicorn(tmp_path, "testing") as (port, log):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(b"GET /pets/?password=HUNTER2xyz&a=\xc3\xa9 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = connection.recv(4096)

    assert answer.startswith(b"HTTP/1.1 400 ")
    output = log.read_text()
    assert "HUNTER2xyz" not in output
    (refused,) = [line for line in json_lines(output) if str(line.get("event")).startswith("Invalid request")]
    assert refused["logger"] == "gunicorn.error"
    assert f"/pets/?password={REDACTED}&a=" in refused["event"]


def test_gunicorn_in_local_writes_console_lines_like_the_service(tmp_path: Path) -> None:
    """Under gunicorn in ``local``, gunicorn's own lines are console lines like the service's: the log is not mixed."""
    with served_by_gunicorn(tmp_path, "local") as (port, log):
        assert get(f"http://127.0.0.1:{port}/nowhere")[0] == 404

    lines = log.read_text().splitlines()
    assert any("Starting gunicorn" in line for line in lines)
    assert any("request finished" in line and "status=404" in line for line in lines)
    assert [line for line in lines if line.startswith("{")] == []


def test_gunicorn_access_line_gets_the_request_fields_and_no_query() -> None:
    """gunicorn's access record is rendered with method, path, status, duration and request id, without the query."""
    atoms = {"h": "10.0.0.1", "m": "GET", "U": "/pets/", "q": "token=abc", "s": "200", "M": 12}
    atoms["{x-request-id}o"] = "req-1"
    record = logging.LogRecord(
        "gunicorn.access", logging.INFO, __file__, 1, '%(h)s "%(m)s %(U)s" %(s)s', (atoms,), None
    )

    line = json.loads(build_formatter("json").format(record))

    assert line["event"] == '10.0.0.1 "GET /pets/" 200'
    assert (line["method"], line["path"], line["status"], line["duration_ms"]) == ("GET", "/pets/", 200, 12)
    assert (line["remote_addr"], line["request_id"]) == ("10.0.0.1", "req-1")
    assert "token=abc" not in json.dumps(line)


@pytest.mark.parametrize(
    "text",
    [
        "ExpiredSignatureError: Signature has expired",
        "password:\n  on the next line, other text",
        "http://example.com:8080?next=a@b.c",
        "ratio: 1:2, page=3",
    ],
)
def test_text_without_a_secret_value_is_kept(text: str) -> None:
    """An exception named after a key, a name ending its line, a URL whose query holds an ``@`` and ordinary pairs
    keep their text: redaction hides values, not whatever follows a word."""
    assert redact(text) == text


def test_redact_masks_sensitive_keys_at_any_depth() -> None:
    """``redact`` replaces values under sensitive keys in nested mappings and lists, and leaves the rest."""
    value = {"user": {"Password": "p", "name": "n"}, "items": [{"API_KEY": "k"}, 3], "note": "fine"}

    assert redact(value) == {
        "user": {"Password": REDACTED, "name": "n"},
        "items": [{"API_KEY": REDACTED}, 3],
        "note": "fine",
    }


def test_unknown_formatter_format_is_refused() -> None:
    """``build_formatter`` names the formats it knows when given another."""
    with pytest.raises(ValueError, match="'json' or 'console'"):
        build_formatter("xml")


def test_request_id_is_none_outside_a_request() -> None:
    """Outside a request there is no request id."""
    assert current_request_id() is None


def test_secret_key_spelled_with_json_escapes_is_redacted(
    client: FlaskClient, auth_headers: HeadersFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sensitive key written with JSON escapes (``pass\\u0077ord``) is found and its value redacted."""
    data = b'{"name": "Rex", "owner": {"pass\\u0077ord": "hunter2-escaped"}}'

    client.post("/pets/", data=data, headers=auth_headers("user", **{"Content-Type": "application/json"}))

    output = capsys.readouterr().err
    assert "hunter2-escaped" not in output
    (started,) = request_lines(json_lines(output), "request started")
    assert started["body"]["owner"] == {"password": REDACTED}


@pytest.mark.parametrize("prefix", ["Bearer ", ""], ids=["bearer", "bare-jwt"])
def test_token_inside_a_body_value_is_masked(
    client: FlaskClient, auth_headers: HeadersFactory, capsys: pytest.CaptureFixture[str], prefix: str
) -> None:
    """A token pasted into an ordinary text field is masked in both logged bodies, and the rest is logged as is."""
    token = auth_headers("user")["Authorization"].removeprefix("Bearer ")
    body = {"name": "Rex", "description": f"see {prefix}{token}"}

    response = client.post("/pets/", json=body, headers=auth_headers("user"))

    assert response.status_code == 201
    output = capsys.readouterr().err
    assert token not in output
    lines = json_lines(output)
    for line in (*request_lines(lines, "request started"), *request_lines(lines, "request finished")):
        assert line["body"]["name"] == "Rex"
        assert line["body"]["description"] == f"see {REDACTED}"


def test_request_lines_below_the_log_level_are_not_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With LOG_LEVEL=WARNING a successful request writes no line; a failing one still logs its error."""

    def boom() -> NoReturn:
        raise RuntimeError("boom")

    with created_app(
        example_petstore.create_app,
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'quiet.sqlite'}",
        LOG_LEVEL="WARNING",
        PROPAGATE_EXCEPTIONS=False,
    ) as app:
        app.add_url_rule("/boom", view_func=boom)
        client = app.test_client()
        capsys.readouterr()

        assert client.get("/pets/").status_code == 200
        assert client.get("/boom").status_code == 500

    lines = log_lines(capsys)
    assert [line["event"] for line in lines if line.get("request_id")] == ["Exception on /boom [GET]"]


def test_secret_in_a_utf16_body_is_redacted(
    client: FlaskClient, auth_headers: HeadersFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSON body sent in UTF-16, which JSON parsers accept, has its sensitive values redacted too."""
    data = json.dumps({"name": "Rex", "owner": {"password": "hunter2-utf16"}}).encode("utf-16")

    client.post("/pets/", data=data, headers=auth_headers("user", **{"Content-Type": "application/json"}))

    output = capsys.readouterr().err
    assert "hunter2-utf16" not in output
    (started,) = request_lines(json_lines(output), "request started")
    assert started["body"]["owner"] == {"password": REDACTED}


class _Records(logging.Handler):
    """Keeps the messages other handlers of the root logger are given, as an error tracker's handler would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_structlog_lines_reach_other_handlers_rendered_and_redacted(
    app: Flask, make_token: TokenFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A structlog line with a secret key and a failure quoting a token is one redacted JSON line, in every handler."""
    token = make_token()
    records = _Records()
    logging.getLogger().addHandler(records)
    try:
        try:
            raise RuntimeError(f"upstream said Bearer {token}")
        except RuntimeError:
            structlog.get_logger("tests.app").exception("sync failed", account={"api_key": API_KEY}, attempt=2)
    finally:
        logging.getLogger().removeHandler(records)

    (line,) = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "sync failed" in line]
    assert [json.loads(message) for message in records.messages if "sync failed" in message] == [line]
    assert (line["event"], line["level"], line["logger"], line["attempt"]) == ("sync failed", "error", "tests.app", 2)
    assert line["account"] == {"api_key": REDACTED}
    assert "RuntimeError: upstream said [REDACTED]" in line["exception"]
    assert token not in json.dumps(records.messages) and API_KEY not in json.dumps(records.messages)
