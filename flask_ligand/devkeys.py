"""The development signing key that makes ``local`` and ``testing`` their own token issuer.

The service publishes the key's public half as a JWKS (``kid`` is its RFC 7638 thumbprint), and tokens signed with
it go through the same verification as a provider's; production never loads it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import get_default_algorithms
from jwt.exceptions import PyJWTError

from flask_ligand.errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

_KEY_SIZE = 2048
#: The members of a JWK its RFC 7638 thumbprint is computed over, by key type.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def load_dev_signing_key(path: Path | None = None) -> tuple[str, str]:
    """Return a development RSA key pair as PEM ``(private, public)``.

    Args:
        path: Where the private key is kept (``local`` keeps it in the instance folder, so tokens survive a
            restart); it is created with owner-only permissions when missing. ``None`` gives one key per process.
    """
    if path is None:
        return _process_key()
    if not path.exists():
        _create_key_file(path)
    private_pem = path.read_text()
    return private_pem, _public_pem(private_pem)


def _create_key_file(path: Path) -> None:
    # Several workers may start at once: each writes a complete key to a file of its own, then the first hard link
    # to ``path`` wins atomically, so nobody ever reads a half-written key.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0o600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(_generate_key_pair()[0])
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)


def public_jwk(public_pem: str, algorithm: str = "RS256") -> dict[str, Any]:
    """The JWK of a public key (PEM) as the service publishes it: ``kid`` is the key's RFC 7638 thumbprint.

    Raises:
        ConfigurationError: The key is not a public key ``algorithm`` verifies with.
    """
    return dict(_public_jwk(public_pem, algorithm))


def key_id(public_pem: str, algorithm: str = "RS256") -> str:
    """The ``kid`` development tokens carry: the RFC 7638 thumbprint of the public key that verifies them.

    Raises:
        ConfigurationError: The key is not a public key ``algorithm`` verifies with.
    """
    return str(public_jwk(public_pem, algorithm)["kid"])


@functools.cache
def _process_key() -> tuple[str, str]:
    return _generate_key_pair()


def _generate_key_pair() -> tuple[str, str]:
    # Both halves from the key object: loading the private PEM back would check the key again, which costs as much
    # as generating it (tens of milliseconds at every start of a test process).
    key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return private_pem, _public_half(key)


def _public_pem(private_pem: str) -> str:
    return _public_half(serialization.load_pem_private_key(private_pem.encode(), password=None))


def _public_half(key: PrivateKeyTypes) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@functools.cache
def _public_jwk(public_pem: str, algorithm: str) -> tuple[tuple[str, Any], ...]:
    try:
        verifier = get_default_algorithms()[algorithm]
        jwk = verifier.to_jwk(verifier.prepare_key(public_pem), as_dict=True)
        members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    except (KeyError, ValueError, PyJWTError) as exc:
        raise ConfigurationError(
            f"JWT_PUBLIC_KEY must be a public key (PEM) of the kind JWT_ALGORITHM '{algorithm}' signs with "
            f"(RSA, EC or Ed25519) for the service to be its own issuer ({type(exc).__name__}: {exc})."
        ) from exc
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    kid = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return tuple({**members, "kid": kid, "use": "sig", "alg": algorithm}.items())
