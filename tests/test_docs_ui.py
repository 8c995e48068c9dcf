"""Swagger UI and ReDoc pages: assets from inside the package, no inline script, a strict CSP, settings honoured."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import example_petstore
import flask_ligand
from tests.conftest import REPO_ROOT

PACKAGE = Path(flask_ligand.__file__).resolve().parent
STATIC = PACKAGE / "static"
ASSET = re.compile(r'(?:src|href)="([^"]+)"')
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.DOTALL)


def _client(tmp_path: Path, **settings: Any) -> FlaskClient:
    app = example_petstore.create_app(
        "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'ui.sqlite'}", **settings
    )
    return app.test_client()


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    """The petstore with default settings: no database needed to serve its docs."""
    return _client(tmp_path)


def _csp(response: TestResponse) -> dict[str, list[str]]:
    directives = (part.split() for part in response.headers["Content-Security-Policy"].split(";"))
    return {name: values for name, *values in directives}


def _page_config(response: TestResponse) -> dict[str, Any]:
    match = re.search(r'<script id="flask-ligand-docs-config" type="application/json">(.*?)</script>', response.text)
    assert match is not None
    config: dict[str, Any] = json.loads(match.group(1))
    return config


@pytest.mark.parametrize("path", ["/apidocs", "/redoc"])
def test_docs_page_loads_every_asset_from_the_service_itself(tmp_path: Path, path: str) -> None:
    """Every script, stylesheet and icon of the page is a path on this service, and each one is served."""
    client = _client(tmp_path, OPENAPI_REDOC_PATH="/redoc")
    response = client.get(path)
    assets = ASSET.findall(response.text)

    assert response.status_code == 200
    assert assets and all(asset.startswith("/docs-static/") for asset in assets)
    for asset in assets:
        with client.get(asset) as served:
            assert served.status_code == 200, asset


@pytest.mark.parametrize("path", ["/apidocs", "/redoc"])
def test_docs_page_path_with_a_trailing_slash_leads_to_the_page(tmp_path: Path, path: str) -> None:
    """``/apidocs/`` redirects to ``/apidocs``, the page's one URL, instead of answering 404, with the standard JSON
    body naming it rather than werkzeug's HTML page, as any redirect of the service."""
    client = _client(tmp_path, OPENAPI_REDOC_PATH="/redoc")

    response = client.get(f"{path}/")

    assert response.status_code == 308
    assert response.headers["Location"] == path
    assert response.mimetype == "application/json"
    assert response.json is not None and response.json["code"] == 308 and path in response.json["message"]
    assert client.get(f"{path}/", follow_redirects=True).mimetype == "text/html"


@pytest.mark.parametrize("path", ["/apidocs", "/redoc"])
def test_docs_page_has_no_inline_script(tmp_path: Path, path: str) -> None:
    """Every script element has a src, except the JSON data block, which a browser never runs."""
    response = _client(tmp_path, OPENAPI_REDOC_PATH="/redoc").get(path)
    scripts = SCRIPT.findall(response.text)

    assert response.status_code == 200
    assert any('src="' in attributes for attributes, _body in scripts)
    for attributes, body in scripts:
        assert 'src="' in attributes or 'type="application/json"' in attributes
        assert not body.strip() or 'type="application/json"' in attributes


def test_swagger_ui_page_is_served_under_a_strict_csp(client: FlaskClient) -> None:
    """Swagger UI's CSP allows scripts, styles and connections to this service only, and nothing inline."""
    csp = _csp(client.get("/apidocs"))

    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["connect-src"][0] == "'self'"


def test_csp_lets_try_it_out_reach_the_service_urls(tmp_path: Path) -> None:
    """connect-src lists the origins of SERVICE_PUBLIC_URL and SERVICE_PRIVATE_URL, the spec's other servers."""
    client = _client(
        tmp_path, SERVICE_PUBLIC_URL="https://pets.example.com/api", SERVICE_PRIVATE_URL="http://pets:8080"
    )

    assert _csp(client.get("/apidocs"))["connect-src"] == ["'self'", "https://pets.example.com", "http://pets:8080"]


def test_swagger_ui_is_configured_for_the_spec_and_stays_offline(client: FlaskClient) -> None:
    """The page points Swagger UI at this spec, shows operationIds and turns off the third-party validator badge."""
    config = _page_config(client.get("/apidocs"))

    assert config["specUrl"] == "/openapi/api-spec.json"
    assert config["options"]["validatorUrl"] is None
    assert config["options"]["displayOperationId"] is True


def test_swagger_ui_config_setting_is_passed_to_the_page(tmp_path: Path) -> None:
    """OPENAPI_SWAGGER_UI_CONFIG's options reach Swagger UI, over flask-ligand's defaults."""
    client = _client(tmp_path, OPENAPI_SWAGGER_UI_CONFIG={"docExpansion": "none", "displayOperationId": False})

    options = _page_config(client.get("/apidocs"))["options"]

    assert options["docExpansion"] == "none"
    assert options["displayOperationId"] is False
    assert options["validatorUrl"] is None


def test_swagger_ui_path_setting_moves_the_page(tmp_path: Path) -> None:
    """OPENAPI_SWAGGER_UI_PATH chooses where Swagger UI is served."""
    client = _client(tmp_path, OPENAPI_SWAGGER_UI_PATH="/docs")

    assert client.get("/docs").status_code == 200
    assert client.get("/apidocs").status_code == 404


def test_redoc_is_off_by_default(client: FlaskClient) -> None:
    """ReDoc is only served when OPENAPI_REDOC_PATH is set."""
    assert client.get("/redoc").status_code == 404


def test_redoc_page_has_its_own_csp(tmp_path: Path) -> None:
    """ReDoc's page allows the inline styles and blob worker ReDoc needs, and still no script from elsewhere."""
    response = _client(tmp_path, OPENAPI_REDOC_PATH="/redoc").get("/redoc")
    csp = _csp(response)

    assert response.status_code == 200
    assert _page_config(response)["specUrl"] == "/openapi/api-spec.json"
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["worker-src"] == ["blob:"]


def test_no_docs_are_served_without_an_url_prefix(tmp_path: Path) -> None:
    """OPENAPI_URL_PREFIX set to None serves neither the spec nor the pages nor their assets."""
    client = _client(tmp_path, OPENAPI_URL_PREFIX=None, OPENAPI_REDOC_PATH="/redoc")

    for path in ("/apidocs", "/redoc", "/docs-static/swagger-ui/swagger-ui.css"):
        with client.get(path) as response:
            assert response.status_code == 404, path


def test_swagger_ui_url_setting_hands_the_page_to_flask_smorest(tmp_path: Path) -> None:
    """Setting OPENAPI_SWAGGER_UI_URL serves flask-smorest's page, loading Swagger UI from that URL, as upstream did."""
    response = _client(tmp_path, OPENAPI_SWAGGER_UI_URL="https://cdn.example.com/swagger-ui/").get("/apidocs")

    assert response.status_code == 200
    assert "https://cdn.example.com/swagger-ui/swagger-ui-bundle.js" in response.text


@pytest.mark.parametrize(
    ("directory", "files"),
    [
        ("swagger-ui", ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]),
        ("redoc", ["redoc.standalone.js", "LICENSE"]),
    ],
)
def test_vendored_assets_ship_with_their_licence_and_pinned_version(directory: str, files: list[str]) -> None:
    """Each vendored package keeps its licence and names its exact npm version."""
    for name in files:
        assert (STATIC / directory / name).is_file(), name
    assert re.fullmatch(r"[a-z-]+@\d+\.\d+\.\d+\n", (STATIC / directory / "VERSION").read_text())


def test_package_data_ships_every_static_file_and_template() -> None:
    """pyproject's package-data globs cover every file of flask_ligand/static and flask_ligand/templates."""
    globs = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {path for pattern in globs["flask_ligand"] for path in PACKAGE.glob(pattern) if path.is_file()}
    needed = {path for folder in ("static", "templates") for path in (PACKAGE / folder).rglob("*") if path.is_file()}

    assert needed and needed <= shipped
