"""Encryption at rest of private signing keys (AES-256-GCM, key derived by HKDF-SHA256).

With `tokens.keyEncryptionKey` set, a database dump no longer hands out the keys that sign
the platform's tokens. Sealed values are self-describing (`aesgcm:v1:`), so keys written
before the setting was turned on still load, and are sealed at the next start.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["KeySealer", "SealingError"]

PREFIX = "aesgcm:v1:"
INFO = b"authbridge signing-key encryption v1"


class SealingError(RuntimeError):
    """A stored key cannot be opened: wrong or missing keyEncryptionKey."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeySealer:
    def __init__(self, secret: str | None) -> None:
        self._aead: AESGCM | None = None
        if secret:
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=INFO).derive(
                secret.encode()
            )
            self._aead = AESGCM(key)

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(PREFIX)

    def seal(self, pem: str, kid: str) -> str:
        """Encrypt `pem`, bound to `kid` as associated data (a sealed key cannot be swapped
        onto another key id's row)."""
        if self._aead is None:
            return pem
        nonce = os.urandom(12)
        return PREFIX + _b64(nonce + self._aead.encrypt(nonce, pem.encode(), kid.encode()))

    def unseal(self, stored: str, kid: str) -> str:
        if not self.is_sealed(stored):
            return stored
        if self._aead is None:
            raise SealingError(
                "signing keys in the database are encrypted; set tokens.keyEncryptionKey"
            )
        raw = _unb64(stored.removeprefix(PREFIX))
        try:
            return self._aead.decrypt(raw[:12], raw[12:], kid.encode()).decode()
        except InvalidTag:
            raise SealingError(
                "tokens.keyEncryptionKey does not open the stored signing keys"
            ) from None
