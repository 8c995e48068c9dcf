"""flask-ligand: a batteries-included REST framework on Flask."""

from __future__ import annotations

__version__ = "0.11.0.dev0"

from flask_ligand.app import create_app as create_app
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
from flask_ligand.views.common.openapi_doc import BEARER_AUTH as BEARER_AUTH
