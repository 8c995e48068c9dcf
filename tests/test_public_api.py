"""Upstream flask-ligand's import paths keep working and name the same objects as the top-level re-exports."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
from flask import Flask

import flask_ligand

UPSTREAM_PATHS = [
    ("flask_ligand", "create_app"),
    ("flask_ligand", "__version__"),
    ("flask_ligand.default_settings", "flask_environment_configurator"),
    ("flask_ligand.default_settings", "ENVIRONMENTS"),
    ("flask_ligand.extensions.api", "Api"),
    ("flask_ligand.extensions.api", "Blueprint"),
    ("flask_ligand.extensions.api", "Schema"),
    ("flask_ligand.extensions.api", "AutoSchema"),
    ("flask_ligand.extensions.api", "SQLCursorPage"),
    ("flask_ligand.extensions.api", "abort"),
    ("flask_ligand.extensions.api", "Query"),
    ("flask_ligand.extensions.database", "DB"),
    ("flask_ligand.extensions.database", "MIGRATE"),
    ("flask_ligand.extensions.database", "init_app"),
    ("flask_ligand.extensions.jwt", "JWT"),
    ("flask_ligand.extensions.jwt", "User"),
    ("flask_ligand.extensions.jwt", "jwt_role_required"),
    ("flask_ligand.extensions.jwt", "init_app"),
    ("flask_ligand.extensions.jwt", "abort"),
    ("flask_ligand.views.common.openapi_doc", "BEARER_AUTH"),
    # Names upstream's modules imported, which its users reached through them.
    ("flask_ligand", "flask_environment_configurator"),
    ("flask_ligand", "genclient"),
    ("flask_ligand", "extensions"),
    ("flask_ligand", "views"),
    ("flask_ligand.extensions", "Api"),
    ("flask_ligand.extensions", "create_api"),
    ("flask_ligand.extensions", "database"),
    ("flask_ligand.extensions", "jwt"),
    ("flask_ligand.extensions.api", "ISO_8601_DATETIME_FMT"),
    ("flask_ligand.schemas", "OpenApiClientDownloadQueryArgsSchema"),
    ("flask_ligand.schemas", "OpenApiClientDownloadRespSchema"),
    ("flask_ligand.views.openapi", "BLP"),
    ("flask_ligand.cli", "genclient"),
]

#: Names re-exported by ``flask_ligand`` for new code, with the upstream module that also provides them.
TOP_LEVEL_REEXPORTS = [
    ("Api", "flask_ligand.extensions.api"),
    ("Blueprint", "flask_ligand.extensions.api"),
    ("Schema", "flask_ligand.extensions.api"),
    ("AutoSchema", "flask_ligand.extensions.api"),
    ("SQLCursorPage", "flask_ligand.extensions.api"),
    ("abort", "flask_ligand.extensions.api"),
    ("abort", "flask_ligand.extensions.jwt"),
    ("Query", "flask_ligand.extensions.api"),
    ("DB", "flask_ligand.extensions.database"),
    ("MIGRATE", "flask_ligand.extensions.database"),
    ("Versioned", "flask_ligand.extensions.database"),
    ("JWT", "flask_ligand.extensions.jwt"),
    ("User", "flask_ligand.extensions.jwt"),
    ("jwt_role_required", "flask_ligand.extensions.jwt"),
    ("BEARER_AUTH", "flask_ligand.views.common.openapi_doc"),
]


@pytest.mark.parametrize(("module", "name"), UPSTREAM_PATHS, ids=lambda value: value)
def test_upstream_import_path_resolves(module: str, name: str) -> None:
    """Every name upstream documented is importable from its upstream module."""
    assert getattr(importlib.import_module(module), name) is not None


@pytest.mark.parametrize(("name", "module"), TOP_LEVEL_REEXPORTS, ids=lambda value: value)
def test_top_level_reexport_is_the_upstream_object(name: str, module: str) -> None:
    """``from flask_ligand import X`` gives the very object the upstream path gives, not a copy."""
    assert getattr(flask_ligand, name) is getattr(importlib.import_module(module), name)


def test_from_import_gives_the_same_objects() -> None:
    """The ``from flask_ligand import ...`` statement new code writes binds the upstream objects."""
    from flask_ligand import DB, JWT, AutoSchema, Blueprint, SQLCursorPage, jwt_role_required
    from flask_ligand.extensions.api import AutoSchema as UpstreamAutoSchema
    from flask_ligand.extensions.api import Blueprint as UpstreamBlueprint
    from flask_ligand.extensions.api import SQLCursorPage as UpstreamSQLCursorPage
    from flask_ligand.extensions.database import DB as UpstreamDB
    from flask_ligand.extensions.jwt import JWT as UpstreamJWT
    from flask_ligand.extensions.jwt import jwt_role_required as upstream_jwt_role_required

    assert (DB, JWT, AutoSchema, Blueprint, SQLCursorPage, jwt_role_required) == (
        UpstreamDB,
        UpstreamJWT,
        UpstreamAutoSchema,
        UpstreamBlueprint,
        UpstreamSQLCursorPage,
        upstream_jwt_role_required,
    )


def test_default_settings_reexports_the_settings_objects() -> None:
    """``flask_ligand.default_settings`` names the same configurator and environments as ``flask_ligand.settings``."""
    from flask_ligand import default_settings, settings

    assert default_settings.flask_environment_configurator is settings.flask_environment_configurator
    assert default_settings.ENVIRONMENTS is settings.ENVIRONMENTS


def test_environments_are_upstreams_five() -> None:
    """``ENVIRONMENTS`` offers exactly upstream's environments: prod, stage, local, testing and cli."""
    from flask_ligand.default_settings import ENVIRONMENTS

    assert set(ENVIRONMENTS) == {"prod", "stage", "local", "testing", "cli"}


def test_version_is_a_string_continuing_upstream() -> None:
    """``__version__`` is a version string after upstream's last release, 0.10.4."""
    major, minor = (int(part) for part in flask_ligand.__version__.split(".")[:2])

    assert (major, minor) > (0, 10)


def test_user_constructs_positionally() -> None:
    """``User("id", ["r"])`` works as upstream's two-field dataclass did."""
    from flask_ligand.extensions.jwt import User

    user = User("id", ["r"])

    assert (user.id, user.roles) == ("id", ["r"])


@pytest.mark.parametrize(
    ("function", "parameters"),
    [
        ("flask_ligand.create_app", ["flask_app_name", "flask_env", "api_title", "api_version", "openapi_client_name"]),
        (
            "flask_ligand.default_settings.flask_environment_configurator",
            ["app", "environment", "api_title", "api_version", "openapi_client_name"],
        ),
    ],
)
def test_signature_keeps_upstreams_parameters(function: str, parameters: list[str]) -> None:
    """The positional parameters keep upstream's names and order, and extra settings are keyword arguments."""
    module, name = function.rsplit(".", 1)
    signature = inspect.signature(getattr(importlib.import_module(module), name))

    positional = [p.name for p in signature.parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == parameters
    assert any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


def test_create_app_openapi_client_name_defaults_to_none() -> None:
    """``create_app``'s ``openapi_client_name`` may be left out: it defaults to ``None``."""
    assert inspect.signature(flask_ligand.create_app).parameters["openapi_client_name"].default is None


def test_create_app_returns_app_and_api() -> None:
    """``create_app`` returns ``(app, api)``: a Flask app and the ``Api`` documenting it."""
    app, api = flask_ligand.create_app(__name__, "cli", "Public API", "1.0.0")

    assert isinstance(app, Flask)
    assert isinstance(api, flask_ligand.Api)
    assert api.spec.title == app.config["API_TITLE"] == "Public API"


def test_upstream_attribute_paths_resolve_in_a_fresh_interpreter() -> None:
    """``import flask_ligand.extensions`` alone gives ``.jwt``, ``.database`` and ``.Api``, as upstream's eager imports
    did (a test suite patches ``flask_ligand.extensions.jwt.init_app`` that way), and ``flask_ligand`` its old names."""
    script = (
        "import flask_ligand.extensions as extensions\n"
        "assert callable(extensions.jwt.init_app) and callable(extensions.database.init_app)\n"
        "assert extensions.Api.__name__ == 'Api'\n"
        "import flask_ligand\n"
        "assert callable(flask_ligand.flask_environment_configurator) and flask_ligand.genclient.name == 'genclient'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
