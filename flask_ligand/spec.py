"""OpenAPI shaping: a spec precise enough for client generators and schema-driven testers.

flask-smorest documents what its decorators know (bodies, arguments, pagination, ETags). ``SpecMixin`` and
``LigandPlugin`` add what only flask-ligand knows: stable ``operationId``\\ s, the bearer token and roles a view
requires (from ``jwt_role_required``), every error response the service really sends (all in the JSON error shape,
or as RFC 9457 problem details with ``ERRORS_PROBLEM_DETAILS``),
``If-Match``/``If-None-Match`` descriptions, the ``X-Pagination`` header as JSON with its schema, ``uuid`` path
parameters, typed pagination arguments, and a relative server URL that follows the path the service is mounted at.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import marshmallow as ma
from apispec import BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin, resolver
from flask import Response, current_app, request
from marshmallow_sqlalchemy.fields import Related
from werkzeug.routing import UUIDConverter

from flask_ligand.errors import PROBLEM_JSON, ConfigurationError, ProblemDetailsSchema
from flask_ligand.pagination import CursorField, PageSize, PaginationMetadataSchema
from flask_ligand.schemas import related_key_field

if TYPE_CHECKING:
    from flask import Flask
    from werkzeug.routing import Rule

#: The security scheme of bearer tokens, declared by ``Api`` and shown by Swagger UI's Authorize dialog.
BEARER_SCHEME = "bearerAuth"
#: Attribute set by ``jwt_role_required`` on a view: checks the caller before any precondition is looked at.
AUTHORIZE_ATTRIBUTE = "_ligand_authorize"
#: Attribute of the ``AUTHORIZE_ATTRIBUTE`` callable naming every role it checks. Its ``all_of`` and ``any_of``
#: attributes, when set, say which roles are all needed and which one of is enough.
ROLES_ATTRIBUTE = "roles"
#: The OpenAPI versions flask-ligand generates (``OPENAPI_VERSION``).
SUPPORTED_OPENAPI_VERSIONS = ("3.0.3", "3.1.0")

_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of a previous response: when the resource has not changed, the answer is 304 Not "
    "Modified, without a body.",
    "schema": {"type": "string"},
}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": "The ETag of the resource, from a GET: without it the answer is 428 Precondition Required; when "
    "the resource changed since, 412 Precondition Failed.",
    "schema": {"type": "string"},
}
_ETAG = {
    "description": "The entity tag of the returned representation: send it back in If-Match to change the resource, "
    "or in If-None-Match to get a 304 while it is unchanged.",
    "schema": {"type": "string"},
}
_PAGINATION = {
    "description": "Pagination metadata of the returned page, as JSON.",
    "content": {"application/json": {"schema": PaginationMetadataSchema}},
}

#: operationId verbs by HTTP method, for a collection (``/pets/``) and for one item (``/pets/{id}``).
_COLLECTION_VERBS = {"get": "list", "post": "create", "put": "replace", "patch": "update", "delete": "delete"}
_ITEM_VERBS = {"get": "get", "put": "replace", "patch": "update", "delete": "delete"}
_PLURAL_FOR_COLLECTION = frozenset({"get", "put", "patch", "delete"})


class SpecMixin:
    """Mixed into ``Api``: checks ``OPENAPI_VERSION``, installs :class:`LigandPlugin` and precise shared components."""

    spec: Any
    ma_plugin: Any
    _app: Flask

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        """Bind to ``app`` as flask-smorest's ``Api.init_app`` does, with :class:`LigandPlugin` added.

        Raises:
            ConfigurationError: ``OPENAPI_VERSION`` is not one of :data:`SUPPORTED_OPENAPI_VERSIONS`.
        """
        version = str(app.config.get("OPENAPI_VERSION", SUPPORTED_OPENAPI_VERSIONS[0]))
        if version not in SUPPORTED_OPENAPI_VERSIONS:
            raise ConfigurationError(
                f"Config 'OPENAPI_VERSION' has value '{version}'. Use one of: {', '.join(SUPPORTED_OPENAPI_VERSIONS)}."
            )
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs["extra_plugins"] = [*spec_kwargs.get("extra_plugins", ()), LigandPlugin(app)]
        spec_kwargs.setdefault("marshmallow_plugin", MarshmallowPlugin(schema_name_resolver=_schema_name))
        super().init_app(app, spec_kwargs=spec_kwargs)  # type: ignore[misc]
        self.spec.components.security_scheme(BEARER_SCHEME, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
        self.ma_plugin.converter.add_attribute_function(_page_size_range(app))
        self.ma_plugin.converter.add_attribute_function(_related_key)
        self.register_field(CursorField, "string", None)
        uuid_converter = app.url_map.converters.get("uuid")
        if uuid_converter is not None and not issubclass(uuid_converter, UUIDConverter):
            self.register_converter(uuid_converter, lambda _converter: {"type": "string", "format": "uuid"})

    if TYPE_CHECKING:

        def register_converter(self, converter: type, func: Callable[[Any], dict[str, Any]]) -> None: ...
        def register_field(self, field: type, *args: Any) -> None: ...

    def _openapi_json(self) -> Response:
        """Serve the spec, its relative server URL under the path the service is mounted at (``SCRIPT_NAME``).

        Behind a proxy that serves the service under a prefix (``ProxyFix``'s ``X-Forwarded-Prefix``), "Try it
        out" then still calls the service rather than the proxy's root.
        """
        document = self.spec.to_dict()
        root = request.script_root
        if root:
            servers = document.get("servers", [])
            document["servers"] = [
                {**server, "url": root + "/"} if server.get("url") == "/" else server for server in servers
            ]
        return current_app.response_class(current_app.json.dumps(document, indent=2), mimetype="application/json")

    def _register_responses(self) -> None:
        """flask-smorest's error responses; as ``application/problem+json`` with ``ERRORS_PROBLEM_DETAILS``."""
        if not self._app.config.get("ERRORS_PROBLEM_DETAILS"):
            super()._register_responses()  # type: ignore[misc]
            return
        content = {PROBLEM_JSON: {"schema": ProblemDetailsSchema}}
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not 100 <= status < 200 and status not in (204, 304):
                response["content"] = content
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response("DEFAULT_ERROR", {"description": "Default error response", "content": content})

    def _register_etag_headers(self) -> None:
        self.spec.components.parameter("IF_NONE_MATCH", "header", _IF_NONE_MATCH, lazy=True)
        self.spec.components.parameter("IF_MATCH", "header", _IF_MATCH, lazy=True)
        self.spec.components.header("ETAG", _ETAG, lazy=True)

    def _register_pagination_header(self) -> None:
        # A header's ``schema`` describes its "simple"-style serialisation; X-Pagination is JSON, hence ``content``.
        self.spec.components.header("PAGINATION", _PAGINATION, lazy=True)


class LigandPlugin(BasePlugin):
    """Complete each operation flask-smorest documented with what the view really does.

    - ``operationId``: derived from the blueprint's name and the method (``listPets``, ``createPet``, ``getPet``,
      ``replacePet``, ``updatePet``, ``deletePet``), unless the view gives one with ``@BLP.doc(operationId=...)``.
      A name already taken gets the endpoint's name appended.
    - A view protected by ``jwt_role_required`` requires the bearer scheme, names its roles in its description
      (and, in OpenAPI 3.1, in its security requirement), and documents 401 and 403.
    - 404 for a path with parameters, 400, 413 and 415 for a JSON body, 400 for a required ``If-Match``, and 500
      everywhere, all as the JSON error body.
    """

    def __init__(self, app: Flask) -> None:
        super().__init__()
        # The spec is built while blueprints are registered, often outside an app context: keep the app at hand.
        self._app = app
        self._operation_ids: set[str] = set()
        self._openapi_31 = False

    def init_spec(self, spec: Any) -> None:
        super().init_spec(spec)
        self._openapi_31 = (spec.openapi_version.major, spec.openapi_version.minor) >= (3, 1)

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule: Rule | None = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = self._app.view_functions.get(rule.endpoint)
        for method, operation in operations.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            self._set_operation_id(rule, method, operation)
            responses = operation.setdefault("responses", {})
            authorize = getattr(_method_function(view, method), AUTHORIZE_ATTRIBUTE, None)
            if authorize is not None:
                roles = _strings(getattr(authorize, ROLES_ATTRIBUTE, ()))
                self._document_security(operation, roles, _roles_sentence(authorize, roles))
                responses.setdefault("401", HTTPStatus.UNAUTHORIZED.name)
                if roles:
                    responses.setdefault("403", HTTPStatus.FORBIDDEN.name)
            if rule.arguments:
                responses.setdefault("404", HTTPStatus.NOT_FOUND.name)
            if "requestBody" in operation or {428, "428"} & set(responses):  # a body to read, or an If-Match to parse
                responses.setdefault("400", HTTPStatus.BAD_REQUEST.name)
            if "requestBody" in operation:
                responses.setdefault("413", HTTPStatus.REQUEST_ENTITY_TOO_LARGE.name)
                responses.setdefault("415", HTTPStatus.UNSUPPORTED_MEDIA_TYPE.name)
            responses.setdefault("500", HTTPStatus.INTERNAL_SERVER_ERROR.name)
            if self._app.config.get("ERRORS_PROBLEM_DETAILS"):
                _as_problem_details(responses)

    def _set_operation_id(self, rule: Rule, method: str, operation: dict[str, Any]) -> None:
        operation_id = operation.get("operationId")
        if not operation_id:
            blueprint, _, endpoint = rule.endpoint.rpartition(".")
            operation_id = derive_operation_id(blueprint.rpartition(".")[2] or endpoint, method, _is_item(rule))
            if operation_id in self._operation_ids:
                operation_id += _pascal_case(endpoint)
            candidate, number = operation_id, 2
            while candidate in self._operation_ids:
                candidate, number = f"{operation_id}{number}", number + 1
            operation_id = candidate
        operation["operationId"] = operation_id
        self._operation_ids.add(operation_id)

    def _document_security(self, operation: dict[str, Any], roles: tuple[str, ...], sentence: str) -> None:
        # OpenAPI 3.0 allows role names only in OAuth2/OpenID requirements; 3.1 allows them for any scheme.
        scopes = list(roles) if self._openapi_31 else []
        security = operation.setdefault("security", [{BEARER_SCHEME: scopes}])
        for requirement in security:
            if isinstance(requirement, dict) and requirement.get(BEARER_SCHEME) == []:
                requirement[BEARER_SCHEME] = scopes
        description = operation.get("description")
        operation["description"] = f"{description}\n\n{sentence}" if description else sentence


def _as_problem_details(responses: dict[str, Any]) -> None:
    """Document as problem details the error bodies a view declared with ``ErrorSchema`` (``alt_response``)."""
    for response in responses.values():
        content = response.get("content") if isinstance(response, dict) else None
        if not content or "application/json" not in content:
            continue
        schema = content["application/json"].get("schema")
        if isinstance(schema, dict) and schema.get("$ref", "").endswith("/Error"):
            del content["application/json"]
            content[PROBLEM_JSON] = {"schema": {"$ref": schema["$ref"].removesuffix("Error") + "ProblemDetails"}}


def derive_operation_id(resource: str, method: str, item: bool) -> str:
    """Name an operation after its resource and method: ``("Pets", "get", False)`` → ``"listPets"``.

    A collection's ``GET``, ``PUT``, ``PATCH`` and ``DELETE`` use the plural (``listPets``), the rest the singular
    (``createPet``, ``getPet``, ``replacePet``, ``deletePet``).
    """
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", resource) or ["Resource"]
    *first, last = words
    if not item and method in _PLURAL_FOR_COLLECTION:
        noun = _pascal_case(" ".join([*first, _pluralize(last)]))
    else:
        noun = _pascal_case(" ".join([*first, _singularize(last)]))
    verb = (_ITEM_VERBS if item else _COLLECTION_VERBS).get(method, method)
    return f"{verb}{noun}"


def _page_size_range(app: Flask) -> Callable[..., dict[str, Any]]:
    """Document ``page_size``'s bounds, which ``PageSize`` reads from the app's settings at request time."""

    def attributes(_converter: Any, field: ma.fields.Field[Any], **_: Any) -> dict[str, Any]:
        for validator in field.validators:
            if isinstance(validator, PageSize):
                return {"minimum": 1, "maximum": validator.maximum or int(app.config["PAGINATION_MAX_PAGE_SIZE"])}
        return {}

    return attributes


def _schema_name(schema: type[ma.Schema] | ma.Schema) -> str:
    """apispec's name for a schema; one narrowed by ``only``, ``exclude``... says how (``ToyWithoutOwnerId``).

    apispec would otherwise name each narrowed instance after its class too, numbered in the order it met them: the
    whole schema could become ``Toy1``, and a generated client's class with it.
    """
    name: str = resolver(schema)  # type: ignore[arg-type]
    return f"{name}{_narrowing(schema)}" if isinstance(schema, ma.Schema) else name


def _narrowing(schema: ma.Schema) -> str:
    try:
        plain = type(schema)()
    except Exception:  # a schema that needs arguments: apispec's name, numbered if it must be
        return ""
    parts = []
    if schema.only is not None and _differs(schema, plain, "only"):
        parts.append("Only" + "".join(_pascal_case(name) for name in sorted(schema.only)))
    excluded = set(schema.exclude) - set(plain.exclude)
    if excluded:
        parts.append("Without" + "".join(_pascal_case(name) for name in sorted(excluded)))
    parts += [_pascal_case(name) for name in ("load_only", "dump_only", "partial") if _differs(schema, plain, name)]
    return "".join(parts)


def _differs(schema: ma.Schema, plain: ma.Schema, modifier: str) -> bool:
    return bool(_normalized(getattr(schema, modifier)) != _normalized(getattr(plain, modifier)))


def _normalized(value: Any) -> Any:
    """A modifier's value comparable with another's: marshmallow's sets compare badly with ``None``."""
    return frozenset(value) if isinstance(value, Iterable) and not isinstance(value, str) else value


def _related_key(converter: Any, field: ma.fields.Field[Any], **_: Any) -> dict[str, Any]:
    """Document a relationship field (``include_relationships``) as the related item's key, not as ``{}``."""
    key_field = related_key_field(field) if isinstance(field, Related) else None
    if key_field is None:
        return {}
    key: dict[str, Any] = converter.field2property(key_field)
    return {name: value for name, value in key.items() if name in ("type", "format", "maxLength", "pattern")}


def _is_item(rule: Rule) -> bool:
    return rule.rule.rstrip("/").endswith(">")


def _method_function(view: Any, method: str) -> Any:
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        return getattr(view_class, method, None)
    return view


def _roles_sentence(authorize: Any, roles: tuple[str, ...]) -> str:
    """Say which roles a view's ``authorize`` check demands, e.g. "Requires a bearer token with the `admin` role."."""
    all_of = _strings(getattr(authorize, "all_of", roles))
    any_of = _strings(getattr(authorize, "any_of", ()))
    if len(any_of) == 1:
        all_of, any_of = (*all_of, *any_of), ()
    parts = []
    if len(all_of) == 1:
        parts.append(f"the {_names(all_of, 'and')} role")
    elif all_of:
        parts.append(f"the roles {_names(all_of, 'and')}")
    if any_of:
        parts.append(f"one of the roles {_names(any_of, 'or')}")
    return f"Requires a bearer token with {', and '.join(parts)}." if parts else "Requires a bearer token."


def _names(roles: tuple[str, ...], conjunction: str) -> str:
    quoted = [f"`{role}`" for role in roles]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"


def _strings(values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(value for value in values if isinstance(value, str)) if isinstance(values, Iterable) else ()


def _pascal_case(text: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", text) if word)


def _singularize(word: str) -> str:
    lower = word.lower()
    if lower.endswith("ies") and len(word) > 3:
        return word[:-3] + ("Y" if word[-1].isupper() else "y")
    if lower.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if lower.endswith("s") and not lower.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _pluralize(word: str) -> str:
    if _singularize(word) != word:
        return word
    lower = word.lower()
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return word[:-1] + "ies"
    if lower.endswith(("s", "sh", "ch", "x", "z")):
        return word + "es"
    return word + "s"
