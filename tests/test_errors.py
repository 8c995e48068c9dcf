"""Every error leaves as JSON ``{code, status, message[, errors]}``, never as an HTML page or a stack trace."""

from __future__ import annotations

import http.client
import io
import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http import HTTPStatus
from typing import Any, NoReturn

import flask
import marshmallow as ma
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask.views import MethodView
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.exceptions import InternalServerError, NotFound
from werkzeug.test import TestResponse

import flask_ligand
from example_petstore.models import Pet
from example_petstore.schemas import PetSchema
from example_petstore.views import INVALID_PET_ID
from flask_ligand import DB, Blueprint, Schema
from flask_ligand.testing import json_body
from tests.apps import blueprint_app, store
from tests.servers import serve

HeadersFactory = Callable[..., dict[str, str]]
GadgetClientFactory = Callable[..., FlaskClient]

SECRET = "the-secret-detail-of-a-crash"
GADGET_TABLE = "test_errors_gadget"


class _GadgetBase(DeclarativeBase):
    """Kept out of ``DB.metadata``, so the migrations' autogenerate check never sees this test-only table."""


class Gadget(_GadgetBase):
    """A row whose ``serial`` is unique, to provoke an IntegrityError."""

    __tablename__ = GADGET_TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(2048), unique=True)


class Pairing(_GadgetBase):
    """A row unique on two columns together."""

    __tablename__ = "test_errors_pairing"
    __table_args__ = (sa.UniqueConstraint("left_id", "right_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    left_id: Mapped[int]
    right_id: Mapped[int]


class GadgetSchema(Schema):
    serial = ma.fields.String(required=True)


class PairingSchema(Schema):
    left_id = ma.fields.Integer(required=True)
    right_id = ma.fields.Integer(required=True)


class AbortArgsSchema(Schema):
    message = ma.fields.String()


BLP = Blueprint("Gadgets", __name__, description="Views that fail on purpose.")


@BLP.route("/gadgets/")
class Gadgets(MethodView):
    @BLP.arguments(GadgetSchema)
    @BLP.response(201, GadgetSchema)
    def post(self, new_item: dict[str, Any]) -> Gadget:
        return store(Gadget(**new_item))


@BLP.route("/pairings/")
class Pairings(MethodView):
    @BLP.arguments(PairingSchema)
    @BLP.response(201, PairingSchema)
    def post(self, new_item: dict[str, Any]) -> Pairing:
        return store(Pairing(**new_item))


@BLP.route("/optional-body")
class OptionalBody(MethodView):
    @BLP.arguments(AbortArgsSchema)
    def patch(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"args": args}


@BLP.route("/stream-length")
class StreamLength(MethodView):
    def put(self) -> dict[str, int]:
        return {"length": len(flask.request.stream.read())}


@BLP.route("/boom")
class Boom(MethodView):
    def get(self) -> NoReturn:
        raise RuntimeError(SECRET)


@BLP.route("/ligand-abort/<int:code>")
class LigandAbort(MethodView):
    @BLP.arguments(AbortArgsSchema, location="query")
    def get(self, args: dict[str, Any], code: int) -> NoReturn:
        if "message" in args:
            flask_ligand.abort(HTTPStatus(code), args["message"])
        flask_ligand.abort(code)


@BLP.route("/flask-abort/<int:code>")
class FlaskAbort(MethodView):
    def get(self, code: int) -> NoReturn:
        flask.abort(code)


@pytest.fixture
def make_gadget_client(database_uri: str) -> Iterator[GadgetClientFactory]:
    """Start a small app with the failing views, in ``testing`` or ``prod``, on this test's SQLite file."""

    def make(environment: str = "testing", **settings: Any) -> FlaskClient:
        if environment == "prod":
            settings = {
                "SERVICE_PUBLIC_URL": "https://gadgets.example.com",
                "SERVICE_PRIVATE_URL": "http://gadgets.internal",
                "ALLOWED_ROLES": ["user"],
                "OIDC_DISCOVERY_URL": "https://idp.example.com/.well-known/openid-configuration",
                **settings,
            }
        app = apps.enter_context(
            blueprint_app(BLP, _GadgetBase.metadata, database_uri, environment=environment, **settings)
        )
        return app.test_client()

    with ExitStack() as apps:
        yield make


def assert_error(response: TestResponse, code: int, message: str | None = None, *, errors: bool = False) -> Any:
    """Check the standard error shape and return the body."""
    assert response.status_code == code, response.text
    assert response.mimetype == "application/json"
    body = response.json
    assert body is not None
    expected = {"code", "status", "message", "request_id"}
    assert set(body) == (expected | {"errors"} if errors else expected)
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["code"] == code
    assert body["status"] == HTTPStatus(code).phrase
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    return body


def _gadget_json(size: int) -> str:
    """A gadget as a JSON text of exactly ``size`` bytes."""
    return '{"serial": "' + "x" * (size - len('{"serial": ""}')) + '"}'


def _create_pet(client: FlaskClient, auth_headers: HeadersFactory) -> str:
    response = client.post("/pets/", json={"name": "Rex"}, headers=auth_headers("user"))
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def test_malformed_json_body_is_400_naming_the_problem(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A JSON body that does not parse is a 400 saying the body is not valid JSON."""
    response = client.post("/pets/", data='{"name": ', content_type="application/json", headers=auth_headers("user"))
    body = assert_error(response, 400, errors=True)
    assert "not valid JSON" in body["message"]
    assert body["errors"] == {"json": ["Invalid JSON body."]}


def test_json_number_too_long_to_read_is_400(client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """An integer of 5,000 digits is valid JSON that Python refuses to convert: a 400 saying so, not a 500."""
    data = '{"name": ' + "9" * 5000 + "}"

    response = client.post("/pets/", data=data, content_type="application/json", headers=auth_headers("user"))

    body = assert_error(response, 400, errors=True)
    assert "integer thousands of digits long" in body["message"]
    assert body["errors"] == {"json": ["Invalid JSON body."]}


@pytest.mark.parametrize(
    "data",
    ["[" * 100_000 + "]" * 100_000, '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"],
    ids=["top-level", "in-a-field"],
)
def test_json_body_nested_too_deeply_is_400(client: FlaskClient, auth_headers: HeadersFactory, data: str) -> None:
    """200 kB of brackets, beyond Python's recursion limit, is a 400 saying so, not a 500."""
    response = client.post("/pets/", data=data, content_type="application/json", headers=auth_headers("user"))

    body = assert_error(response, 400, errors=True)
    assert "nests arrays or objects too deeply" in body["message"]
    assert body["errors"] == {"json": ["Nested too deeply."]}


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/pets/"), ("put", f"/pets/{uuid.uuid4()}"), ("delete", f"/pets/{uuid.uuid4()}")],
)
def test_protected_endpoint_without_token_is_401(client: FlaskClient, method: str, path: str) -> None:
    """A protected endpoint called without a token answers 401 with a Bearer challenge."""
    response = client.open(path, method=method.upper(), json={"name": "Rex"})
    assert_error(response, 401, "Missing Authorization Header")
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("method", "role_held", "role_required"),
    [("POST", "admin", "user"), ("DELETE", "user", "admin")],
)
def test_token_without_required_role_is_403_naming_the_role(
    client: FlaskClient, auth_headers: HeadersFactory, method: str, role_held: str, role_required: str
) -> None:
    """A valid token lacking the endpoint's role answers 403 naming the role."""
    path = "/pets/" if method == "POST" else f"/pets/{uuid.uuid4()}"
    response = client.open(path, method=method, json={"name": "Rex"}, headers=auth_headers(role_held))
    assert_error(response, 403, f"This endpoint requires the user to have the '{role_required}' role!")


def test_unknown_url_is_404(client: FlaskClient) -> None:
    """A URL no route matches answers a JSON 404."""
    assert_error(client.get("/no/such/place"), 404, NotFound.description)


def test_unknown_id_is_404_with_the_service_message(client: FlaskClient) -> None:
    """A well-formed id that matches no row answers 404 with the service's message."""
    assert_error(client.get(f"/pets/{uuid.uuid4()}"), 404, INVALID_PET_ID)


_MISSING_ID = uuid.UUID("00000000-0000-4000-8000-000000000404")
_NOBODY = DB.select(Pet).where(Pet.name == "Nobody")
_REX = DB.select(Pet).where(Pet.name == "Rex")
_LOOKUPS: dict[str, tuple[Callable[[], Any], str]] = {
    "DB.get_or_404": (lambda: DB.get_or_404(Pet, _MISSING_ID), f"No Pet with id '{_MISSING_ID}' exists."),
    "query.get_or_404": (lambda: Pet.query.get_or_404(_MISSING_ID), f"No Pet with id '{_MISSING_ID}' exists."),
    "DB.first_or_404": (lambda: DB.first_or_404(_NOBODY), "No Pet matches the request."),
    "query.first_or_404": (lambda: Pet.query.filter_by(name="Nobody").first_or_404(), "No Pet matches the request."),
    "DB.one_or_404, none": (lambda: DB.one_or_404(_NOBODY), "No Pet matches the request."),
    "query.one_or_404, none": (lambda: Pet.query.filter_by(name="Nobody").one_or_404(), "No Pet matches the request."),
    "DB.one_or_404, two": (lambda: DB.one_or_404(_REX), "More than one Pet matches the request; expected one."),
    "query.one_or_404, two": (
        lambda: Pet.query.filter_by(name="Rex").one_or_404(),
        "More than one Pet matches the request; expected one.",
    ),
    "with a description": (lambda: DB.get_or_404(Pet, _MISSING_ID, description="Gone."), "Gone."),
    "DB.first_or_404, text": (
        lambda: DB.first_or_404(sa.text("SELECT id FROM pet WHERE name = 'Nobody'")),
        "No row matches the request.",
    ),
    "DB.one_or_404, union": (
        lambda: DB.one_or_404(sa.union_all(sa.select(Pet.id).where(Pet.name == "Rex"), sa.select(Pet.id))),
        "More than one row matches the request; expected one.",
    ),
    "DB.one_or_404, union, description": (
        lambda: DB.one_or_404(sa.union_all(sa.select(Pet.id), sa.select(Pet.id)), description="Gone."),
        "Gone.",
    ),
}


@pytest.mark.parametrize("lookup", list(_LOOKUPS))
def test_or_404_lookups_name_what_was_not_found(app: flask.Flask, lookup: str) -> None:
    """``DB.*_or_404`` and ``Model.query.*_or_404`` answer the standard 404, naming the model (or saying why)."""
    find, message = _LOOKUPS[lookup]
    app.add_url_rule("/lookup", "lookup", lambda: PetSchema().dump(find()))
    with app.app_context():
        DB.session.add_all([Pet(name="Rex", description="Good"), Pet(name="Rex", description="Also good")])
        DB.session.commit()

    assert_error(app.test_client().get("/lookup"), 404, message)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1234", "0f8fad5b-d9cb-469f-a165-70867728950Z"])
def test_malformed_uuid_in_path_is_404_naming_the_value(client: FlaskClient, bad_id: str) -> None:
    """A path id that is not a UUID answers 404 whose message names the bad value."""
    body = assert_error(client.get(f"/pets/{bad_id}"), 404)
    assert f"'{bad_id}'" in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/pets/", {"GET", "POST"}),
        ("DELETE", "/pets/", {"GET", "POST"}),
        ("POST", f"/pets/{uuid.uuid4()}", {"GET", "PUT", "DELETE"}),
    ],
)
def test_wrong_method_is_405_with_allow_header(client: FlaskClient, method: str, path: str, allowed: set[str]) -> None:
    """A method the route does not serve answers 405 with an Allow header listing the methods it does."""
    response = client.open(path, method=method)
    assert_error(response, 405)
    allow = {item.strip() for item in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method not in allow


@pytest.mark.parametrize("environment", ["testing", "prod"])
def test_unique_constraint_violation_is_409_without_sql(
    make_gadget_client: GadgetClientFactory, environment: str
) -> None:
    """A unique-constraint IntegrityError answers 409 naming the key's column, with no SQL, table or value."""
    client = make_gadget_client(environment)
    assert client.post("/gadgets/", json={"serial": "A-1"}).status_code == 201
    response = client.post("/gadgets/", json={"serial": "A-1"})
    assert_error(
        response,
        409,
        "The request conflicts with the stored data: another item already has the same serial.",
    )
    text = response.text.lower()
    for leak in ("insert into", "values (", "constraint failed", "integrityerror", "sqlite3", GADGET_TABLE, "a-1"):
        assert leak not in text


def test_conflict_on_a_key_of_two_columns_names_both(make_gadget_client: GadgetClientFactory) -> None:
    """A 409 on a composite unique key names its columns; another pair of values is accepted."""
    client = make_gadget_client()
    assert client.post("/pairings/", json={"left_id": 1, "right_id": 2}).status_code == 201

    response = client.post("/pairings/", json={"left_id": 1, "right_id": 2})

    assert_error(
        response,
        409,
        "The request conflicts with the stored data: another item already has the same left_id, right_id.",
    )
    assert client.post("/pairings/", json={"left_id": 1, "right_id": 3}).status_code == 201


def test_session_is_usable_after_409(make_gadget_client: GadgetClientFactory) -> None:
    """After a 409 the next write succeeds: the failed transaction was rolled back."""
    client = make_gadget_client()
    client.post("/gadgets/", json={"serial": "A-1"})
    assert client.post("/gadgets/", json={"serial": "A-1"}).status_code == 409
    assert client.post("/gadgets/", json={"serial": "B-2"}).status_code == 201


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_stale_if_match_is_412(client: FlaskClient, auth_headers: HeadersFactory, method: str) -> None:
    """PUT or DELETE with an If-Match that is not the current ETag answers 412."""
    location = _create_pet(client, auth_headers)
    headers = auth_headers("user", "admin", **{"If-Match": '"stale"'})
    response = client.open(location, method=method, json={"name": "Max"}, headers=headers)
    assert_error(response, 412)
    assert client.get(location).get_json()["name"] == "Rex"


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_missing_if_match_is_428(client: FlaskClient, auth_headers: HeadersFactory, method: str) -> None:
    """PUT or DELETE of an item without If-Match answers 428."""
    location = _create_pet(client, auth_headers)
    response = client.open(location, method=method, json={"name": "Max"}, headers=auth_headers("user", "admin"))
    body = assert_error(response, 428)
    assert "If-Match" in body["message"]


@pytest.mark.parametrize("if_match", [",", '"a""b"', " "])
@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_without_an_etag_in_it_is_400_quoting_it(
    client: FlaskClient, auth_headers: HeadersFactory, method: str, if_match: str
) -> None:
    """An If-Match header werkzeug finds no ETag in is a 400 that quotes it, not a 428 asking for the header."""
    location = _create_pet(client, auth_headers)

    response = client.open(
        location, method=method, json={"name": "Max"}, headers=auth_headers("user", "admin", **{"If-Match": if_match})
    )

    body = assert_error(response, 400)
    assert f"If-Match header {if_match!r}" in body["message"]
    assert json_body(client.get(location))["name"] == "Rex"


@pytest.mark.parametrize(
    ("limit", "size"),
    [pytest.param(None, 1024 * 1024 + 1, id="default-1MiB"), pytest.param(100, 101, id="configured")],
)
def test_body_larger_than_max_content_length_is_413(
    make_gadget_client: GadgetClientFactory, limit: int | None, size: int
) -> None:
    """A body one byte over MAX_CONTENT_LENGTH (1 MiB unless configured) answers 413."""
    client = make_gadget_client(**({} if limit is None else {"MAX_CONTENT_LENGTH": limit}))
    response = client.post("/gadgets/", data=_gadget_json(size), content_type="application/json")
    assert_error(response, 413)


def test_body_at_max_content_length_is_accepted(make_gadget_client: GadgetClientFactory) -> None:
    """A body exactly MAX_CONTENT_LENGTH bytes long is accepted."""
    client = make_gadget_client(MAX_CONTENT_LENGTH=100)
    assert client.post("/gadgets/", data=_gadget_json(100), content_type="application/json").status_code == 201


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_body_is_415_naming_the_content_type(
    client: FlaskClient, auth_headers: HeadersFactory, content_type: str
) -> None:
    """A POST body sent with a non-JSON content type answers 415 naming that type."""
    response = client.post("/pets/", data="name=Rex", content_type=content_type, headers=auth_headers("user"))
    body = assert_error(response, 415)
    assert f"'{content_type}'" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"name": 123}, "name", id="wrong-type"),
        pytest.param({"name": "Rex", "colour": "red"}, "colour", id="unknown-field"),
        pytest.param({}, "name", id="missing-field"),
    ],
)
def test_invalid_body_field_is_422_with_errors_per_field(
    client: FlaskClient, auth_headers: HeadersFactory, body: dict[str, Any], field: str
) -> None:
    """A body with a wrong-typed, unknown or missing field answers 422 with the field's messages in "errors"."""
    response = client.post("/pets/", json=body, headers=auth_headers("user"))
    errors = assert_error(response, 422, errors=True)["errors"]
    assert list(errors) == ["json"]
    assert list(errors["json"]) == [field]
    assert all(isinstance(message, str) for message in errors["json"][field])


def test_invalid_query_argument_is_422_with_errors_per_field(client: FlaskClient) -> None:
    """A query argument of the wrong type answers 422 with its messages under "query"."""
    response = client.get("/pets/?page=first")
    errors = assert_error(response, 422, errors=True)["errors"]
    assert list(errors) == ["query"]
    assert list(errors["query"]) == ["page"]


@pytest.mark.parametrize(
    ("environment", "settings"),
    [("testing", {"PROPAGATE_EXCEPTIONS": False}), ("prod", {})],
)
def test_unhandled_exception_is_500_without_details(
    make_gadget_client: GadgetClientFactory, environment: str, settings: dict[str, Any]
) -> None:
    """An exception escaping a view answers 500 with the generic message and nothing of the exception."""
    response = make_gadget_client(environment, **settings).get("/boom")
    assert_error(response, 500, InternalServerError.description)
    for leak in (SECRET, "Traceback", "RuntimeError", __file__):
        assert leak not in response.text


@pytest.mark.parametrize(
    "status",
    [
        HTTPStatus.BAD_REQUEST,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.NOT_FOUND,
        HTTPStatus.CONFLICT,
        HTTPStatus.IM_A_TEAPOT,
        HTTPStatus.SERVICE_UNAVAILABLE,
    ],
)
def test_ligand_abort_with_message_answers_standard_json(
    make_gadget_client: GadgetClientFactory, status: HTTPStatus
) -> None:
    """``abort(HTTPStatus.X, "msg")`` answers X with the reason phrase as status and the message as given."""
    response = make_gadget_client().get(f"/ligand-abort/{status.value}?message=Try+again+later.")
    assert response.json == {
        "code": status.value,
        "status": status.phrase,
        "message": "Try again later.",
        "request_id": response.headers["X-Request-ID"],
    }
    assert_error(response, status.value)


@pytest.mark.parametrize("via", ["ligand-abort", "flask-abort"])
def test_abort_without_message_uses_the_standard_description(make_gadget_client: GadgetClientFactory, via: str) -> None:
    """``abort(404)``, flask-ligand's or Flask's own, answers the standard 404 body with the standard description."""
    response = make_gadget_client().get(f"/{via}/404")
    assert response.json == {
        "code": 404,
        "status": "Not Found",
        "message": NotFound.description,
        "request_id": response.headers["X-Request-ID"],
    }
    assert_error(response, 404)


def test_error_body_is_json_even_when_html_is_preferred(client: FlaskClient) -> None:
    """A client asking for HTML still gets the JSON error body, never an HTML page."""
    response = client.get("/no/such/place", headers={"Accept": "text/html"})
    assert_error(response, 404)
    assert "<html" not in response.text.lower()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_path_without_its_trailing_slash_redirects_with_a_json_body(
    client: FlaskClient, auth_headers: HeadersFactory, method: str
) -> None:
    """``/pets`` answers 308 to ``/pets/`` in the standard shape, not werkzeug's HTML page, and stores nothing."""
    response = client.open("/pets", method=method, json={"name": "Rex"}, headers=auth_headers("user"))

    body = assert_error(response, 308)
    assert response.headers["Location"] == "http://localhost/pets/"
    assert "http://localhost/pets/" in body["message"]
    assert client.get("/pets/").json == []


def test_automatic_options_answer_lists_methods_and_claims_no_html(client: FlaskClient) -> None:
    """Flask's own answer to ``OPTIONS`` has an ``Allow`` header and no body, so it claims no content type."""
    response = client.options("/pets/")

    assert response.status_code == 200
    assert {"GET", "POST", "OPTIONS"} <= {item.strip() for item in response.headers["Allow"].split(",")}
    assert response.data == b""
    assert "Content-Type" not in response.headers


def test_conflict_is_logged_without_the_values_the_database_quotes(
    make_gadget_client: GadgetClientFactory, capsys: pytest.CaptureFixture[str], database_uri: str
) -> None:
    """The 409's log line names the broken constraint; PostgreSQL's detail, which quotes the key or row, stays out."""
    if database_uri.startswith("sqlite"):
        pytest.skip("SQLite's messages never quote values: only PostgreSQL's DETAIL does")
    client = make_gadget_client()
    assert client.post("/gadgets/", json={"serial": "quoted-by-the-database"}).status_code == 201
    capsys.readouterr()

    assert client.post("/gadgets/", json={"serial": "quoted-by-the-database"}).status_code == 409

    lines = [line for line in capsys.readouterr().err.splitlines() if "turned into 409" in line]
    assert len(lines) == 1, lines
    assert "unique" in lines[0].lower()
    assert "quoted-by-the-database" not in lines[0]


def _send_chunked(base_url: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """Send ``body`` in chunks, without a Content-Length, over a real socket; return the status and JSON body."""
    connection = http.client.HTTPConnection(base_url.removeprefix("http://"), timeout=30)
    try:
        chunks = (body[start : start + 1024] for start in range(0, len(body), 1024))
        connection.request(method, path, body=chunks, headers=headers, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_chunked_patch_with_a_non_json_type_is_415_and_changes_nothing(
    app: flask.Flask, client: FlaskClient, auth_headers: HeadersFactory, content_type: str | None
) -> None:
    """A chunked body (no Content-Length) of another type is refused as one with a length is, never read as empty."""
    location = _create_pet(client, auth_headers)
    etag = client.get(location).headers["ETag"]
    headers = auth_headers("user", **{"If-Match": etag})
    if content_type is not None:
        headers["Content-Type"] = content_type

    with serve(app) as base_url:
        status, body = _send_chunked(base_url, "PATCH", location, b'{"description": "changed"}', headers)

    assert (status, body["code"]) == (415, 415)
    assert json_body(client.get(location))["description"] == ""


def test_chunked_json_body_is_read_whole(app: flask.Flask, client: FlaskClient, auth_headers: HeadersFactory) -> None:
    """A chunked JSON body under the limit is read as sent (several chunks)."""
    description = "d" * 4000
    body = json.dumps({"name": "Chunky", "description": description}).encode()

    with serve(app) as base_url:
        status, created = _send_chunked(
            base_url, "POST", "/pets/", body, auth_headers("user", **{"Content-Type": "application/json"})
        )

    assert status == 201, created
    assert (created["name"], created["description"]) == ("Chunky", description)


def test_chunked_body_over_max_content_length_is_413_and_stores_nothing(
    app: flask.Flask, client: FlaskClient, auth_headers: HeadersFactory
) -> None:
    """A chunked body past MAX_CONTENT_LENGTH is a 413, not its first MiB parsed as if it were the whole body."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"name": "Truncated"}' + b" " * limit + b"NOT JSON"

    with serve(app) as base_url:
        status, answer = _send_chunked(
            base_url, "POST", "/pets/", body, auth_headers("user", **{"Content-Type": "application/json"})
        )

    assert (status, answer["code"]) == (413, 413)
    assert client.get("/pets/").json == []


@pytest.mark.parametrize(("size", "status"), [(100, 201), (101, 413)])
def test_chunked_body_is_held_to_max_content_length_exactly(
    make_gadget_client: GadgetClientFactory, size: int, status: int
) -> None:
    """A chunked body of MAX_CONTENT_LENGTH bytes is read whole; one byte more is a 413, as with a Content-Length."""
    app = make_gadget_client(MAX_CONTENT_LENGTH=100).application

    with serve(app) as base_url:
        answer = _send_chunked(
            base_url, "POST", "/gadgets/", _gadget_json(size).encode(), {"Content-Type": "application/json"}
        )

    assert answer[0] == status, answer[1]


def test_view_reading_the_stream_gets_the_whole_chunked_body(make_gadget_client: GadgetClientFactory) -> None:
    """A view that reads ``request.stream`` itself gets every byte of a chunked body, none read ahead of it."""
    app = make_gadget_client().application

    with serve(app) as base_url:
        status, answer = _send_chunked(base_url, "PUT", "/stream-length", b"x" * 5000, {})

    assert (status, answer) == (200, {"length": 5000})


class _InvalidChunkSize(Exception):
    """What gunicorn's body reader raises on a malformed chunk size: no ``OSError`` or ``ValueError``."""


class _MalformedInput(io.BytesIO):
    """A server's input stream whose chunked framing is malformed after its first bytes."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell():
            raise _InvalidChunkSize("Invalid chunk size: 'zz'")
        return super().read(2)


@pytest.mark.parametrize("with_length", [False, True], ids=["chunked", "with-content-length"])
def test_a_body_the_server_cannot_read_is_a_400(make_gadget_client: GadgetClientFactory, with_length: bool) -> None:
    """A body whose framing the server's reader refuses midway (gunicorn's ``InvalidChunkSize``) is a JSON 400, not
    a 500, whether the server ends the input itself (chunks) or it has a length."""
    environ: dict[str, Any] = {"wsgi.input": _MalformedInput(b"{}" * 10), "wsgi.input_terminated": True}
    if with_length:
        environ["CONTENT_LENGTH"] = "20"

    response = make_gadget_client().put("/stream-length", environ_overrides=environ)

    body = assert_error(response, 400)
    assert "could not be read" in body["message"]


def test_a_body_shorter_than_its_content_length_is_a_400(make_gadget_client: GadgetClientFactory) -> None:
    """A server that ends the input itself (gunicorn) ends it at the connection's end: 34 of 54 announced bytes are
    a 400 naming both counts, never a body of 34 bytes."""
    environ = {"wsgi.input": io.BytesIO(b"x" * 34), "wsgi.input_terminated": True, "CONTENT_LENGTH": "54"}

    response = make_gadget_client().put("/stream-length", environ_overrides=environ)

    body = assert_error(response, 400)
    assert "ended after 34 of the 54 bytes" in body["message"]


def test_a_transfer_coding_other_than_chunked_is_a_501_naming_it(make_gadget_client: GadgetClientFactory) -> None:
    """A body in ``gzip, chunked``, which a server passes on undecoded, is refused naming the coding (RFC 9112)."""
    response = make_gadget_client().put(
        "/stream-length", data=b"\x1f\x8b", headers={"Transfer-Encoding": "gzip, chunked"}
    )

    body = assert_error(response, 501)
    assert "Transfer-Encoding 'gzip, chunked' is not supported" in body["message"]


@pytest.mark.parametrize("data", [b"", None])
def test_patch_without_a_body_is_422(client: FlaskClient, auth_headers: HeadersFactory, data: bytes | None) -> None:
    """An empty PATCH is refused rather than answered 200 as a change of nothing."""
    location = _create_pet(client, auth_headers)
    etag = client.get(location).headers["ETag"]

    response = client.patch(
        location,
        data=data,
        content_type="application/merge-patch+json",
        headers=auth_headers("user", **{"If-Match": etag}),
    )

    body = assert_error(response, 422, errors=True)
    assert "no body" in body["message"]


def test_patch_view_whose_body_is_optional_takes_an_empty_one(make_gadget_client: GadgetClientFactory) -> None:
    """Only a merge patch must have a body: a PATCH action whose schema requires nothing runs without one."""
    response = make_gadget_client().patch("/optional-body", content_type="application/json")

    assert (response.status_code, json_body(response)) == (200, {"args": {}})


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        pytest.param(
            {"Content-Type": "application/json-patch+json"},
            "JSON Patch ('application/json-patch+json') is not supported: send a JSON Merge Patch, an object of the "
            "fields to change, as 'application/merge-patch+json' or 'application/json'.",
            id="json-patch",
        ),
        pytest.param(
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            "Content-Encoding 'gzip' is not supported here: send the body uncompressed.",
            id="gzip",
        ),
        pytest.param(
            {"Content-Type": ";;;"},
            "Content-Type ';;;' is not supported here: send 'application/json'.",
            id="garbage-type",
        ),
    ],
)
def test_body_the_service_cannot_read_is_415_naming_why(
    client: FlaskClient, auth_headers: HeadersFactory, headers: dict[str, str], named: str
) -> None:
    """JSON Patch, a compressed body and an unreadable Content-Type are 415s that say what was sent."""
    location = _create_pet(client, auth_headers)
    etag = client.get(location).headers["ETag"]

    response = client.patch(
        location, data=b'[{"op": "replace"}]', headers=auth_headers("user", **{"If-Match": etag}, **headers)
    )

    assert_error(response, 415, named)
    assert client.get(location).headers["ETag"] == etag
