"""``PATCH`` with JSON Merge Patch (RFC 7396), derived from a model's schema.

A merge patch of a flat resource is an object of the fields to change: a field sent is set (``null`` clears it, and is
a 422 if the field is not nullable), a field left out keeps its value, a read-only field is ignored and an unknown one
is a 422. :func:`patch_schema` makes the partial twin of a schema (no field required, no default applied), documented
as its own component; ``Blueprint.merge_patch_arguments`` is flask-smorest's ``arguments`` with that schema and the
``application/merge-patch+json`` content type (plain ``application/json`` is accepted too); ``AutoSchema.merge`` applies
the loaded patch to a model instance.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma

#: The media type of a JSON Merge Patch (RFC 7396); any ``application/json`` body is accepted as well.
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"

_T = TypeVar("_T")
#: The class attribute that marks :func:`patch_schema`'s twins.
_MERGE_PATCH = "__ligand_merge_patch__"


@functools.cache
def patch_schema(schema: type[ma.Schema]) -> type[ma.Schema]:
    """The partial twin of ``schema`` for merge patches: ``PetSchema`` gives ``PetPatchSchema``.

    Its instances are ``partial`` and have no ``load_default``: a missing field is neither an error nor given a
    default (nor documented with one), so only the fields a client sent reach the view. It is a named class so that
    OpenAPI documents it as its own component (``PetPatch``, without ``required``) and generated clients get a model
    whose fields are all optional.

    Args:
        schema: The resource's full schema class, as used for ``PUT``.

    Returns:
        A subclass of ``schema`` whose instances load partially.
    """
    base_name = schema.__name__.removesuffix("Schema")

    def __init__(self: ma.Schema, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        schema.__init__(self, *args, **kwargs)
        for schema_field in self.fields.values():
            # A field left out of a patch keeps its value: documenting a default would make clients send it.
            schema_field.load_default = ma.missing

    namespace = {
        "__init__": __init__,
        "__module__": schema.__module__,
        "__qualname__": f"{base_name}PatchSchema",
        "__doc__": f"A JSON Merge Patch of {base_name}: the fields to change, ``null`` to clear a nullable one.",
        _MERGE_PATCH: True,
    }
    return type(f"{base_name}PatchSchema", (schema,), namespace)


def is_merge_patch(schema: ma.Schema | type[ma.Schema]) -> bool:
    """Whether ``schema`` is (an instance of) a :func:`patch_schema` twin, which reads a JSON Merge Patch."""
    return bool(getattr(schema, _MERGE_PATCH, False))


class PatchMixin:
    """The ``PATCH`` half of ``flask_ligand.extensions.api.Blueprint``."""

    arguments: Callable[..., Callable[[Any], Any]]

    def merge_patch_arguments(self, schema: type[ma.Schema], **kwargs: Any) -> Callable[[_T], _T]:
        """Parse the body as a JSON Merge Patch of ``schema``: the view receives only the fields sent.

        Use it on a ``patch`` view, with ``check_etag`` like ``PUT``, and apply the patch with ``AutoSchema.merge``.

        Args:
            schema: The resource's full schema class; its partial twin (:func:`patch_schema`) is documented.
            **kwargs: Passed on to flask-smorest's ``arguments`` (``description``, ``example``...).

        Returns:
            The decorator.
        """
        kwargs.setdefault("content_type", MERGE_PATCH_CONTENT_TYPE)
        decorator: Callable[[_T], _T] = self.arguments(patch_schema(schema), **kwargs)
        return decorator
