"""``create_app``: one call from settings to a configured Flask app and its ``Api``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from flask import Flask
from werkzeug.routing import BaseConverter

from flask_ligand import cors, extensions, metrics, security, wrappers
from flask_ligand import logging as request_logging
from flask_ligand.cli import genclient, ligand
from flask_ligand.errors import abort
from flask_ligand.extensions.api import Api
from flask_ligand.settings import derive_client_name, flask_environment_configurator, get_environment
from flask_ligand.views import health
from flask_ligand.views import openapi as openapi_views


class _Flask(Flask):
    """Flask, deciding once per function whether it is a coroutine to run to completion.

    Flask asks again for every hook, view and view decorator of every request (16 times for a get by id, a tenth of
    its calls), and the answer for a given function does not change.
    """

    #: Functions known not to be coroutine functions; bounded, as a caller may pass a new closure at each request.
    _PLAIN_MAX = 1024

    def __init__(self, import_name: str) -> None:
        super().__init__(import_name)
        self._plain: set[Callable[..., Any]] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        # A method is remembered by its function: a MethodView's are bound to a new view object at each request.
        key = getattr(func, "__func__", func)
        try:
            if key in self._plain:
                return func
        except TypeError:  # an unhashable callable: asked each time, as Flask does
            return super().ensure_sync(func)
        synced = super().ensure_sync(func)
        if synced is func and len(self._plain) < self._PLAIN_MAX:
            self._plain.add(key)
        return synced


class _UUIDConverter(BaseConverter):
    """``<uuid:...>`` that answers a malformed id with a 404 naming it, instead of a bare "URL not found"."""

    def to_python(self, value: str) -> UUID:
        try:
            return UUID(value)
        except ValueError:
            abort(404, f"'{value}' is not a valid UUID, so no resource has it as id.")

    def to_url(self, value: Any) -> str:
        return str(value)


def create_app(
    flask_app_name: str,
    flask_env: str,
    api_title: str,
    api_version: str,
    openapi_client_name: str | None = None,
    **settings: Any,
) -> tuple[Flask, Api]:
    """Create a configured Flask app and the ``Api`` to register blueprints on.

    Args:
        flask_app_name: The import name of the service (``__name__`` of its package); Flask finds the instance
            folder and resources from it.
        flask_env: ``prod``, ``stage``, ``local``, ``testing`` or ``cli`` (production settings without the database
            or JWT, for CI/CD commands such as writing the OpenAPI spec).
        api_title: The API's title in OpenAPI.
        api_version: The API's version, also the version of generated clients.
        openapi_client_name: Package name of generated clients; derived from ``api_title`` when not given.
        settings: Upper-case setting overrides, applied last.

    Returns:
        The app and its ``Api``.

    Raises:
        flask_ligand.errors.ConfigurationError: (a ``RuntimeError``) see ``flask_environment_configurator``.
    """
    app = _Flask(flask_app_name)
    app.request_class = wrappers.Request
    environment = get_environment(flask_env)
    flask_environment_configurator(
        app, flask_env, api_title, api_version, openapi_client_name or derive_client_name(api_title), **settings
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.converters["uuid"] = _UUIDConverter
    request_logging.init_app(app)  # first, so that its completion line sees the response other hooks made
    security.init_app(app)
    cors.init_app(app)
    api = extensions.create_api(app, offline=not environment.init_extensions)
    api.register_blueprint(openapi_views.BLP)
    metrics.init_app(app)
    health.init_app(app, api)
    app.cli.add_command(ligand)
    app.cli.add_command(genclient)
    return app, api
