"""The discovery document and JWKS of a service that is its own token issuer (``local`` and ``testing``).

Other services, and clients that verify tokens themselves, find the development key here the way they would find an
identity provider's; the service's own verification reads the same documents.
"""

from __future__ import annotations

from flask import Blueprint, current_app

from flask_ligand.extensions.oidc import LOCAL_DISCOVERY_PATH, LOCAL_JWKS_PATH, local_documents

BLP = Blueprint("ligand_issuer", __name__)


@BLP.get(LOCAL_DISCOVERY_PATH)
def discovery() -> dict[str, object]:
    """The issuer's OpenID Connect discovery document: its identifier and where its keys are."""
    return local_documents(current_app.config)[LOCAL_DISCOVERY_PATH]


@BLP.get(LOCAL_JWKS_PATH)
def jwks() -> dict[str, object]:
    """The issuer's public signing keys (JWKS)."""
    return local_documents(current_app.config)[LOCAL_JWKS_PATH]
