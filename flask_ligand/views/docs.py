"""Swagger UI and ReDoc pages, from files shipped inside the package.

Upstream loaded Swagger UI from a public CDN: offline, air-gapped or behind a strict content-security policy, the
page stayed blank. Here the pinned files (``flask_ligand/static``, refreshed by ``scripts/update-swagger-ui``) are
served by the service itself, the page starts them from a static script, and answers with a CSP that lets the
browser talk to this service (and its configured public and private URLs) only.

Setting flask-smorest's ``OPENAPI_SWAGGER_UI_URL`` (or ``OPENAPI_REDOC_URL``) hands the page back to flask-smorest,
which loads the files from that URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, url_for

from flask_ligand.errors import moved_response

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from flask import Flask
    from werkzeug.wrappers import Response as BaseResponse

_PACKAGE = Path(__file__).resolve().parent.parent
#: Where the assets are served, under ``OPENAPI_URL_PREFIX``.
ASSETS_PATH = "/docs-static"

SWAGGER_UI_DEFAULTS: Mapping[str, Any] = {
    "deepLinking": True,
    "displayOperationId": True,
    # Swagger UI's default sends the spec to validator.swagger.io for a badge: nothing leaves the service.
    "validatorUrl": None,
    "persistAuthorization": False,
}
REDOC_DEFAULTS: Mapping[str, Any] = {
    "expandResponses": "200,201",
}

_CSP = (
    "default-src 'none'",
    "script-src 'self'",
    "img-src 'self' data:",
    "font-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
# Swagger UI styles elements through the DOM only; ReDoc (styled-components) writes <style> elements and runs its
# search index in a worker made from a blob.
_SWAGGER_UI_CSP = (*_CSP, "style-src 'self'")
_REDOC_CSP = (*_CSP, "style-src 'self' 'unsafe-inline'", "worker-src blob:")


def register_docs(api: Any, app: Flask) -> None:
    """Serve Swagger UI at ``OPENAPI_SWAGGER_UI_PATH`` and ReDoc at ``OPENAPI_REDOC_PATH`` for ``api``.

    Nothing is served when ``OPENAPI_URL_PREFIX`` is ``None`` (flask-smorest's switch for every docs route), a
    page whose path is ``None`` is not served, and a page whose ``..._URL`` is set is flask-smorest's.
    """
    config = api.config
    prefix = config.get("OPENAPI_URL_PREFIX")
    if prefix is None:
        return
    spec_endpoint = f"{api._make_doc_blueprint_name()}.openapi_json"
    name = f"{api.config_prefix}flask-ligand-docs".replace("_", "-").lower()
    blueprint = Blueprint(
        name,
        __name__,
        url_prefix=_leading_slash(prefix),
        static_folder=_PACKAGE / "static",
        static_url_path=ASSETS_PATH,
        template_folder=_PACKAGE / "templates",
    )
    pages = (
        ("swagger_ui", "SWAGGER_UI", "swagger_ui.html", SWAGGER_UI_DEFAULTS, _SWAGGER_UI_CSP),
        ("redoc", "REDOC", "redoc.html", REDOC_DEFAULTS, _REDOC_CSP),
    )
    for endpoint, key, template, defaults, csp in pages:
        path = config.get(f"OPENAPI_{key}_PATH")
        if not path or config.get(f"OPENAPI_{key}_URL") is not None:
            continue
        options = {**defaults, **(config.get(f"OPENAPI_{key}_CONFIG") or {})}
        view = _page_view(api, name, spec_endpoint, f"flask_ligand/{template}", options, csp)
        blueprint.add_url_rule(_leading_slash(path), endpoint, view)
        if not path.endswith("/"):  # "/apidocs/" typed by hand leads to the page rather than to a 404
            blueprint.add_url_rule(f"{_leading_slash(path)}/", f"{endpoint}_slash", _redirect_to(f"{name}.{endpoint}"))
    app.register_blueprint(blueprint)


def _redirect_to(endpoint: str) -> Callable[[], BaseResponse]:
    def to_page() -> BaseResponse:
        return moved_response(308, url_for(endpoint))

    return to_page


def _page_view(
    api: Any, blueprint: str, spec_endpoint: str, template: str, options: Mapping[str, Any], csp: tuple[str, ...]
) -> Callable[[], Response]:
    def page() -> Response:
        html = render_template(
            template,
            title=api.spec.title,
            config={"specUrl": url_for(spec_endpoint), "options": options},
            asset=lambda filename: url_for(f"{blueprint}.static", filename=filename),
        )
        response = current_app.response_class(html, mimetype="text/html")
        response.headers["Content-Security-Policy"] = "; ".join((*csp, _connect_src()))
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return page


def _connect_src() -> str:
    """Let "Try it out" reach this service and the URLs the spec lists as its servers, nothing else."""
    sources = ["'self'"]
    for key in ("SERVICE_PUBLIC_URL", "SERVICE_PRIVATE_URL"):
        url = urlsplit(current_app.config.get(key) or "")
        if url.scheme in ("http", "https") and url.netloc:
            origin = f"{url.scheme}://{url.netloc}"
            if origin not in sources:
                sources.append(origin)
    return "connect-src " + " ".join(sources)


def _leading_slash(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"
