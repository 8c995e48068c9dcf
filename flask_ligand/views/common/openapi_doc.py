"""OpenAPI documentation fragments for views."""

from __future__ import annotations

from typing import Any

#: The security requirement of a bearer-token view: ``@BLP.doc(security=BEARER_AUTH)`` shows it in Swagger UI.
BEARER_AUTH: list[dict[str, Any]] = [{"bearerAuth": []}]
