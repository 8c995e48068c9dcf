"""ETags and conditional requests: flask-smorest's ``etag``, made safe against concurrent writers.

A :class:`~flask_ligand.extensions.database.Versioned` item's ETag is its stored version: no serialisation to hash,
and ``check_etag`` on it makes the coming ``UPDATE``/``DELETE`` conditional on that version, so of two clients
holding the same ETag only one can write; the other gets 412 (``StaleDataError`` at commit, see
``flask_ligand.errors``). Other data keeps flask-smorest's ETag, a hash of its serialised form, which detects a change
since the client's read but cannot stop two concurrent writers.
"""

from __future__ import annotations

import http
import warnings
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import flask_smorest
from flask import current_app, request
from flask_smorest.etag import _get_etag_ctx
from flask_smorest.utils import unpack_tuple_response
from werkzeug.http import quote_etag

from flask_ligand.errors import PRECONDITION_FAILED_MESSAGE, abort, quoted
from flask_ligand.extensions.database import hold_current_version, renew_version, version_etag
from flask_ligand.spec import AUTHORIZE_ATTRIBUTE

_T = TypeVar("_T")

_PRECONDITION_REQUIRED = (
    "This request must be conditional: send an If-Match header with the ETag of the resource, from a GET."
)
_GONE_MESSAGE = "The resource was deleted before this request could change it: If-Match: * needs a current one."
#: Set in the request's ETag context by views decorated with ``etag``: only they may answer 304 or set an ETag.
_ETAG_VIEW = "ligand_etag_view"


class EtagMixin(flask_smorest.etag.EtagMixin):  # type: ignore[misc]
    """The ETag half of ``flask_ligand.extensions.api.Blueprint``.

    - On a protected view, the caller is authenticated and authorised before ``If-Match`` is looked at, so a
      request without a token is a 401, not a 428.
    - ``If-None-Match`` uses the weak comparison (``W/"..."`` from a compressing proxy still gives a 304).
    - A view returning a ``Versioned`` item gets the item's version as ETag, checked against ``If-None-Match``
      before the item is serialised.
    """

    def etag(self, obj: _T) -> _T:
        """Add ETag handling to a view function or every method of a ``MethodView``; see flask-smorest's ``etag``."""
        decorated: _T = self._decorate_view_func_or_method_view(self._etag_authorized_first, obj)
        return decorated

    def response(self, status_code: int | str, schema: Any = None, **kwargs: Any) -> Callable[[_T], _T]:
        """flask-smorest's ``response``; a ``Versioned`` item the view returns gets its version as ETag."""
        serialise = super().response(status_code, schema, **kwargs)

        def decorator(func: Callable[..., Any]) -> Any:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = current_app.ensure_sync(func)(*args, **kwargs)
                self._set_version_etag(unpack_tuple_response(result)[0])
                return result

            return serialise(wrapper)

        return decorator  # type: ignore[return-value]

    def check_etag(self, etag_data: Any, etag_schema: Any = None) -> None:
        """Abort with 412 unless ``If-Match`` holds the current ETag of ``etag_data``.

        For a ``Versioned`` item that is its version, and the item's next ``UPDATE`` or ``DELETE`` succeeds only
        while that version is still the stored one; the item gets a new version, so that the write is an ``UPDATE``
        even if it changes no value. ``If-Match: *`` writes over whatever version is stored: the row is held until
        the transaction ends (412 if it is gone). Otherwise the ETag is the hash of ``etag_data`` dumped with
        ``etag_schema``, as in flask-smorest.

        Raises:
            werkzeug.exceptions.PreconditionFailed: ``If-Match`` does not hold the current ETag.
        """
        etag = version_etag(etag_data)
        if etag is None:
            try:
                super().check_etag(etag_data, etag_schema)
            except flask_smorest.etag.PreconditionFailed:
                abort(http.HTTPStatus.PRECONDITION_FAILED, PRECONDITION_FAILED_MESSAGE)
            return
        writing = request.method in self.METHODS_NEEDING_CHECK_ETAG
        if not writing:
            warnings.warn(f"ETag cannot be checked on {request.method} request.", stacklevel=2)
        if self._is_etag_enabled():
            _get_etag_ctx()["etag_checked"] = True
            if request.if_match.star_tag:
                if writing and not hold_current_version(etag_data):
                    abort(http.HTTPStatus.PRECONDITION_FAILED, _GONE_MESSAGE)
            elif etag not in request.if_match:
                abort(http.HTTPStatus.PRECONDITION_FAILED, PRECONDITION_FAILED_MESSAGE)
            if writing:
                renew_version(etag_data)

    def set_etag(self, etag_data: Any, etag_schema: Any = None) -> None:
        """Set the response's ETag from ``etag_data`` (its version if ``Versioned``); 304 if ``If-None-Match`` has it.

        Raises:
            flask_smorest.etag.NotModified: The client's copy is current.
        """
        etag = version_etag(etag_data)
        if etag is None:
            super().set_etag(etag_data, etag_schema)
            return
        if request.method not in self.METHODS_ALLOWING_SET_ETAG:
            warnings.warn(f"ETag cannot be set on {request.method} request.", stacklevel=2)
        if self._is_etag_enabled():
            self._check_not_modified(etag)
            _get_etag_ctx()["etag"] = etag

    def _etag_authorized_first(self, func: Callable[..., Any]) -> Callable[..., Any]:
        with_etag = flask_smorest.etag.EtagMixin.etag(self, func)
        authorize = getattr(func, AUTHORIZE_ATTRIBUTE, None)

        @wraps(with_etag)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if authorize is not None:
                authorize()
            _get_etag_ctx()[_ETAG_VIEW] = True
            return with_etag(*args, **kwargs)

        return wrapper

    def _set_version_etag(self, result: Any) -> None:
        ctx = _get_etag_ctx()
        if not ctx.get(_ETAG_VIEW) or "etag" in ctx or request.method not in self.METHODS_ALLOWING_SET_ETAG:
            return
        if self._is_etag_enabled() and (etag := version_etag(result)) is not None:
            self._check_not_modified(etag)
            ctx["etag"] = etag

    def _check_precondition(self) -> None:
        if request.method in self.METHODS_NEEDING_CHECK_ETAG and not request.if_match:
            sent = request.headers.get("If-Match")
            if sent is not None:  # werkzeug found no ETag in it: "," or '"a""b"'
                abort(
                    http.HTTPStatus.BAD_REQUEST,
                    f"The If-Match header {quoted(sent)} holds no ETag: send the resource's ETag from a GET, in "
                    'double quotes ("...").',
                )
            abort(http.HTTPStatus.PRECONDITION_REQUIRED, _PRECONDITION_REQUIRED)

    def _check_not_modified(self, etag: str) -> None:
        if request.method in self.METHODS_CHECKING_NOT_MODIFIED and request.if_none_match.contains_weak(etag):
            not_modified = flask_smorest.etag.NotModified()
            not_modified.data = {"headers": {"ETag": quote_etag(etag)}}  # RFC 9110: a 304 repeats the ETag
            raise not_modified
