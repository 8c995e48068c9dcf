"""flask-ligand: a batteries-included REST framework on Flask.

The public names below are imported on first use (PEP 562): pytest imports this package in every run of a
project that has flask-ligand installed, for the ``flask_ligand.pytest_plugin`` entry point, and that should not cost
the import of the whole framework.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

__version__ = "0.11.0.dev0"

if TYPE_CHECKING:
    from flask_ligand.app import create_app as create_app
    from flask_ligand.cli import genclient as genclient
    from flask_ligand.errors import ConfigurationError as ConfigurationError
    from flask_ligand.errors import FlaskLigandError as FlaskLigandError
    from flask_ligand.errors import abort as abort
    from flask_ligand.extensions.api import Api as Api
    from flask_ligand.extensions.api import Blueprint as Blueprint
    from flask_ligand.extensions.database import DB as DB
    from flask_ligand.extensions.database import MIGRATE as MIGRATE
    from flask_ligand.extensions.database import Query as Query
    from flask_ligand.extensions.database import Versioned as Versioned
    from flask_ligand.extensions.jwt import JWT as JWT
    from flask_ligand.extensions.jwt import User as User
    from flask_ligand.extensions.jwt import get_current_user as get_current_user
    from flask_ligand.extensions.jwt import jwt_role_required as jwt_role_required
    from flask_ligand.extensions.jwt import jwt_roles_required as jwt_roles_required
    from flask_ligand.filtering import FilterSchema as FilterSchema
    from flask_ligand.filtering import ListArguments as ListArguments
    from flask_ligand.logging import current_request_id as current_request_id
    from flask_ligand.pagination import KeysetPage as KeysetPage
    from flask_ligand.pagination import SQLCursorPage as SQLCursorPage
    from flask_ligand.patch import MERGE_PATCH_CONTENT_TYPE as MERGE_PATCH_CONTENT_TYPE
    from flask_ligand.schemas import AutoSchema as AutoSchema
    from flask_ligand.schemas import Schema as Schema
    from flask_ligand.schemas import UTCDateTime as UTCDateTime
    from flask_ligand.settings import flask_environment_configurator as flask_environment_configurator
    from flask_ligand.views.common.openapi_doc import BEARER_AUTH as BEARER_AUTH

#: Where each public name is defined (the same as the imports above, which type checkers and editors read).
_EXPORTS = {
    "create_app": "flask_ligand.app",
    "genclient": "flask_ligand.cli",
    "flask_environment_configurator": "flask_ligand.settings",
    "ConfigurationError": "flask_ligand.errors",
    "FlaskLigandError": "flask_ligand.errors",
    "abort": "flask_ligand.errors",
    "Api": "flask_ligand.extensions.api",
    "Blueprint": "flask_ligand.extensions.api",
    "DB": "flask_ligand.extensions.database",
    "MIGRATE": "flask_ligand.extensions.database",
    "Query": "flask_ligand.extensions.database",
    "Versioned": "flask_ligand.extensions.database",
    "JWT": "flask_ligand.extensions.jwt",
    "User": "flask_ligand.extensions.jwt",
    "get_current_user": "flask_ligand.extensions.jwt",
    "jwt_role_required": "flask_ligand.extensions.jwt",
    "jwt_roles_required": "flask_ligand.extensions.jwt",
    "FilterSchema": "flask_ligand.filtering",
    "ListArguments": "flask_ligand.filtering",
    "current_request_id": "flask_ligand.logging",
    "KeysetPage": "flask_ligand.pagination",
    "SQLCursorPage": "flask_ligand.pagination",
    "MERGE_PATCH_CONTENT_TYPE": "flask_ligand.patch",
    "AutoSchema": "flask_ligand.schemas",
    "Schema": "flask_ligand.schemas",
    "UTCDateTime": "flask_ligand.schemas",
    "BEARER_AUTH": "flask_ligand.views.common.openapi_doc",
}


#: ``from flask_ligand import *`` gives the public names, as when they were imported eagerly.
__all__ = list(_EXPORTS)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


def _import_public_name(name: str) -> Any:
    """Import a public name's module on first access and keep the name here (the module's ``__getattr__``).

    A submodule asked for by attribute (``flask_ligand.extensions`` after a bare ``import flask_ligand``) is
    imported, as ``from flask_ligand import clientgen`` would.

    Raises:
        AttributeError: No such public name or subpackage.
    """
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


if not TYPE_CHECKING:  # type checkers read the imports above instead, so that a misspelt name stays an error
    __getattr__ = _import_public_name
