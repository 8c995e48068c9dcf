"""The development signing key that lets ``local`` and ``testing`` verify tokens without an identity provider.

Tokens signed with it go through the same RS256 verification as a provider's; production never loads it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_KEY_SIZE = 2048


def load_dev_signing_key(path: Path | None = None) -> tuple[str, str]:
    """Return a development RSA key pair as PEM ``(private, public)``.

    Args:
        path: Where the private key is kept (``local`` keeps it in the instance folder, so tokens survive a
            restart); it is created with owner-only permissions when missing. ``None`` gives one key per process.
    """
    if path is None:
        return _process_key()
    if path.exists():
        private_pem = path.read_text()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        private_pem = _generate_private_pem()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private_pem)
    return private_pem, _public_pem(private_pem)


@functools.cache
def _process_key() -> tuple[str, str]:
    private_pem = _generate_private_pem()
    return private_pem, _public_pem(private_pem)


def _generate_private_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_SIZE)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
