"""The OpenAPI spec is precise enough for client generators: valid, named, typed, and honest about every response."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.views import MethodView
from openapi_spec_validator import validate

import example_petstore
import flask_ligand
from flask_ligand import Blueprint, ConfigurationError, jwt_role_required, jwt_roles_required
from flask_ligand.spec import derive_operation_id
from flask_ligand.testing import json_body

SPEC_PATH = "/openapi/api-spec.json"
PETS = "/pets/"
PET = "/pets/{item_id}"
OPERATIONS = [(PETS, "get"), (PETS, "post"), (PET, "get"), (PET, "put"), (PET, "delete")]

SpecFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def petstore_spec(tmp_path: Path) -> SpecFactory:
    """The petstore's served spec, for settings given as keywords."""

    def spec(**settings: Any) -> dict[str, Any]:
        app = example_petstore.create_app(
            "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'spec.sqlite'}", **settings
        )
        document: dict[str, Any] = json_body(app.test_client().get(SPEC_PATH))
        return document

    return spec


@pytest.fixture
def spec(petstore_spec: SpecFactory) -> dict[str, Any]:
    """The petstore's spec with the default settings (OpenAPI 3.0.3)."""
    return petstore_spec()


def _service_spec(blueprint: Blueprint, tmp_path: Path) -> dict[str, Any]:
    app: Flask
    app, api = flask_ligand.create_app(
        __name__, "testing", "Things", "1.0.0", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'things.sqlite'}"
    )
    api.register_blueprint(blueprint)
    document: dict[str, Any] = json_body(app.test_client().get(SPEC_PATH))
    return document


def _resolve(spec: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in item:
        _, section, name = item["$ref"].rsplit("/", 2)
        item = spec["components"][section][name]
    return item


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_spec_validates_in_both_openapi_versions(petstore_spec: SpecFactory, version: str) -> None:
    """The spec declares the chosen OpenAPI version and openapi-spec-validator finds nothing wrong with it."""
    document = petstore_spec(OPENAPI_VERSION=version)

    assert document["openapi"] == version
    validate(document)


def test_unsupported_openapi_version_is_refused(tmp_path: Path) -> None:
    """An OPENAPI_VERSION flask-ligand does not generate stops create_app, naming the setting."""
    with pytest.raises(ConfigurationError, match="'OPENAPI_VERSION' has value '2.0'"):
        example_petstore.create_app("testing", OPENAPI_VERSION="2.0")


def test_operation_ids_are_named_after_the_blueprint_and_method(spec: dict[str, Any]) -> None:
    """Each petstore operation has a readable operationId derived from the blueprint's name and the method."""
    ids = {(path, method): spec["paths"][path][method]["operationId"] for path, method in OPERATIONS}

    assert ids == {
        (PETS, "get"): "listPets",
        (PETS, "post"): "createPet",
        (PET, "get"): "getPet",
        (PET, "put"): "replacePet",
        (PET, "delete"): "deletePet",
    }


@pytest.mark.parametrize(
    ("resource", "method", "item", "expected"),
    [
        ("Pets", "patch", True, "updatePet"),
        ("Pets", "delete", False, "deletePets"),
        ("Categories", "get", True, "getCategory"),
        ("Boxes", "post", False, "createBox"),
        ("Status", "get", False, "listStatuses"),
        ("pet_toys", "get", False, "listPetToys"),
        ("Inventory", "get", False, "listInventories"),
        ("Pet", "get", False, "listPets"),
        ("Pets", "post", True, "postPet"),
    ],
)
def test_derived_operation_ids_use_plural_for_collections_and_singular_for_items(
    resource: str, method: str, item: bool, expected: str
) -> None:
    """A collection's list and bulk operations take the plural, creation and item operations the singular."""
    assert derive_operation_id(resource, method, item) == expected


def test_operation_id_given_by_the_view_is_kept(tmp_path: Path) -> None:
    """``@BLP.doc(operationId=...)`` overrides the derived name."""
    blp = Blueprint("Things", __name__, url_prefix="/things")

    @blp.route("/")
    @blp.response(200)
    @blp.doc(operationId="searchThings")
    def things() -> Any:
        return []

    assert _service_spec(blp, tmp_path)["paths"]["/things/"]["get"]["operationId"] == "searchThings"


def test_clashing_operation_ids_are_made_unique_with_the_endpoint_name(tmp_path: Path) -> None:
    """Two collections of one blueprint do not share an operationId: the second takes its endpoint's name."""
    blp = Blueprint("Things", __name__, url_prefix="/things")

    @blp.route("/")
    @blp.response(200)
    def things() -> Any:
        return []

    @blp.route("/archived/")
    @blp.response(200)
    def archived_things() -> Any:
        return []

    paths = _service_spec(blp, tmp_path)["paths"]

    assert paths["/things/"]["get"]["operationId"] == "listThings"
    assert paths["/things/archived/"]["get"]["operationId"] == "listThingsArchivedThings"


def test_pet_schema_types_datetimes_and_marks_read_only_fields(spec: dict[str, Any]) -> None:
    """Datetimes are ``format: date-time`` and the fields a client cannot set are ``readOnly``."""
    properties = spec["components"]["schemas"]["Pet"]["properties"]

    assert properties["created_at"] == {"type": "string", "format": "date-time", "readOnly": True}
    assert properties["updated_at"] == {"type": "string", "format": "date-time", "readOnly": True}
    assert properties["id"] == {"type": "string", "format": "uuid", "readOnly": True}
    assert "readOnly" not in properties["name"]


def test_uuid_path_parameters_are_typed_uuid(spec: dict[str, Any]) -> None:
    """``<uuid:item_id>`` is documented as a string of format uuid."""
    (parameter,) = spec["paths"][PET]["parameters"]

    assert parameter == {
        "in": "path",
        "name": "item_id",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


@pytest.mark.parametrize(
    ("path", "method", "codes"),
    [
        (PETS, "get", {"200", "304", "422", "500", "default"}),
        (PETS, "post", {"201", "400", "401", "403", "413", "415", "422", "500", "default"}),
        (PET, "get", {"200", "304", "404", "500", "default"}),
        (PET, "put", {"200", "400", "401", "403", "404", "412", "413", "415", "422", "428", "500", "default"}),
        (PET, "patch", {"200", "400", "401", "403", "404", "412", "413", "415", "422", "428", "500", "default"}),
        (PET, "delete", {"204", "400", "401", "403", "404", "412", "428", "500", "default"}),
    ],
)
def test_every_operation_documents_the_responses_it_really_sends(
    spec: dict[str, Any], path: str, method: str, codes: set[str]
) -> None:
    """Security (401/403), missing items (404), bodies (400/413/415/422), conditions (304/400/412/428) and 500 are
    listed."""
    assert codes <= set(spec["paths"][path][method]["responses"])


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_error_response_has_the_json_error_schema(spec: dict[str, Any], path: str, method: str) -> None:
    """Each 4xx/5xx and the default response is the JSON error body, so clients can parse any error."""
    responses = spec["paths"][path][method]["responses"]
    errors = {code: _resolve(spec, response) for code, response in responses.items() if code[0] in "45d"}

    for code, response in errors.items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, code


@pytest.mark.parametrize(
    ("version", "security"),
    [("3.0.3", [{"bearerAuth": []}]), ("3.1.0", [{"bearerAuth": ["admin"]}])],
)
def test_secured_operation_names_its_role(petstore_spec: SpecFactory, version: str, security: Any) -> None:
    """The role jwt_role_required demands is in the description, and in the security requirement from OpenAPI 3.1."""
    operation = petstore_spec(OPENAPI_VERSION=version)["paths"][PET]["delete"]

    assert operation["security"] == security
    assert "Requires a bearer token with the `admin` role." in operation["description"]


def test_view_with_jwt_role_required_is_secured_without_doc_decorator(tmp_path: Path) -> None:
    """A view protected by jwt_role_required needs no ``@BLP.doc(security=...)`` to show the bearer scheme."""
    blp = Blueprint("Things", __name__, url_prefix="/things")

    @blp.route("/")
    class Things(MethodView):
        @blp.response(201)
        @jwt_role_required(role="user")
        def post(self) -> Any:
            return {}

    operation = _service_spec(blp, tmp_path)["paths"]["/things/"]["post"]

    assert operation["security"] == [{"bearerAuth": []}]
    assert {"401", "403"} <= set(operation["responses"])


@pytest.mark.parametrize(
    ("requirement", "sentence"),
    [
        ({"all_of": ["user", "admin"]}, "Requires a bearer token with the roles `user` and `admin`."),
        ({"any_of": ["user", "admin"]}, "Requires a bearer token with one of the roles `user` or `admin`."),
        (
            {"all_of": ["user"], "any_of": ["admin", "auditor"]},
            "Requires a bearer token with the `user` role, and one of the roles `admin` or `auditor`.",
        ),
    ],
)
def test_operation_needing_several_roles_names_them_all(
    tmp_path: Path, requirement: dict[str, list[str]], sentence: str
) -> None:
    """jwt_roles_required's all_of and any_of are spelt out in the operation's description."""
    blp = Blueprint("Things", __name__, url_prefix="/things")

    @blp.route("/")
    @blp.response(200)
    @jwt_roles_required(**requirement)
    def things() -> Any:
        return []

    assert _service_spec(blp, tmp_path)["paths"]["/things/"]["get"]["description"] == sentence


def test_public_operations_document_no_security(spec: dict[str, Any]) -> None:
    """Reading needs no token, so the read operations list neither security nor 401/403."""
    for path in (PETS, PET):
        operation = spec["paths"][path]["get"]
        assert "security" not in operation
        assert not {"401", "403"} & set(operation["responses"])


def test_conditional_operations_document_their_etag_headers(spec: dict[str, Any]) -> None:
    """GET takes If-None-Match and returns ETag; PUT and DELETE require If-Match."""
    parameters = spec["components"]["parameters"]

    assert spec["paths"][PET]["get"]["parameters"] == [{"$ref": "#/components/parameters/IF_NONE_MATCH"}]
    assert parameters["IF_NONE_MATCH"]["name"] == "If-None-Match"
    for method in ("put", "delete"):
        assert spec["paths"][PET][method]["parameters"] == [{"$ref": "#/components/parameters/IF_MATCH"}]
    assert parameters["IF_MATCH"]["name"] == "If-Match"
    assert parameters["IF_MATCH"]["required"] is True
    assert spec["paths"][PET]["get"]["responses"]["200"]["headers"]["ETag"] == {"$ref": "#/components/headers/ETAG"}


def test_pagination_header_is_documented_as_json_with_its_schema(spec: dict[str, Any]) -> None:
    """X-Pagination is a JSON header whose schema lists the page metadata, and whether its total is an estimate."""
    header = _resolve(spec, spec["paths"][PETS]["get"]["responses"]["200"]["headers"]["X-Pagination"])
    schema = _resolve(spec, header["content"]["application/json"]["schema"])

    assert {"total", "total_pages", "page", "first_page", "last_page"} <= set(schema["properties"])
    assert schema["properties"]["total_is_estimate"]["type"] == "boolean"


@pytest.mark.parametrize(("settings", "maximum"), [({}, 100), ({"PAGINATION_MAX_PAGE_SIZE": 25}, 25)])
def test_page_size_bounds_follow_the_settings(
    petstore_spec: SpecFactory, settings: dict[str, Any], maximum: int
) -> None:
    """``page_size`` is documented from 1 to the app's PAGINATION_MAX_PAGE_SIZE."""
    parameters = petstore_spec(**settings)["paths"][PETS]["get"]["parameters"]
    (page_size,) = [parameter for parameter in parameters if parameter.get("name") == "page_size"]

    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, maximum)


def test_cursor_argument_is_documented_as_a_string(spec: dict[str, Any]) -> None:
    """The opaque keyset cursor is typed, so generated clients take a string."""
    parameters = spec["paths"][PETS]["get"]["parameters"]
    (cursor,) = [parameter for parameter in parameters if parameter.get("name") == "cursor"]

    assert cursor["schema"] == {"type": "string"}


def test_servers_list_the_relative_url_first(petstore_spec: SpecFactory) -> None:
    """ "Try it out" calls wherever the page was served from, and the service URLs are offered after it."""
    servers = petstore_spec()["servers"]

    assert servers == [
        {"url": "/", "description": "This service"},
        {"url": "http://public.url", "description": "Public URL"},
        {"url": "http://private.url", "description": "Private URL"},
    ]


def test_servers_list_a_private_url_equal_to_the_public_one_once(petstore_spec: SpecFactory) -> None:
    """When both service URLs are the same, the spec lists it once."""
    servers = petstore_spec(SERVICE_PUBLIC_URL="http://pets.local", SERVICE_PRIVATE_URL="http://pets.local")["servers"]

    assert [server["url"] for server in servers] == ["/", "http://pets.local"]


def test_relative_server_url_follows_the_path_the_service_is_mounted_at(tmp_path: Path) -> None:
    """Served under a prefix (SCRIPT_NAME, e.g. from a proxy), the relative server URL is that prefix."""
    app = example_petstore.create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'spec.sqlite'}")

    document = json_body(app.test_client().get(SPEC_PATH, base_url="http://localhost/petstore"))

    assert document["servers"][0] == {"url": "/petstore/", "description": "This service"}
