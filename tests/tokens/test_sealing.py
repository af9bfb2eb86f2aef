"""Private signing keys encrypted at rest with tokens.keyEncryptionKey."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authbridge.storage import Storage
from authbridge.tokens import KeyRing, Principal, TokenIssuer
from authbridge.tokens.sealing import KeySealer, SealingError

ADA = Principal(subject="u-1", username="ada")


def ring(storage: Storage, secret: str | None) -> KeyRing:
    return KeyRing(
        storage.keys,
        algorithm="ES256",
        publish_ahead=timedelta(minutes=10),
        max_token_lifetime=timedelta(hours=1),
        sealer=KeySealer(secret),
    )


def test_keys_are_stored_encrypted_and_still_sign(storage: Storage) -> None:
    keys = ring(storage, "kek-one")
    keys.ensure_key()
    (row,) = storage.keys.all()
    assert row.private_pem.startswith("aesgcm:v1:") and "PRIVATE KEY" not in row.private_pem
    issuer = TokenIssuer(keys, issuer="https://a", access_token_lifetime=60, id_token_lifetime=60)
    assert issuer.access_token(ADA, audience=["x"], client_id="c").token.count(".") == 2


def test_wrong_or_missing_key_encryption_key_is_a_clear_error(storage: Storage) -> None:
    ring(storage, "kek-one").ensure_key()
    with pytest.raises(SealingError, match="does not open"):
        ring(storage, "kek-two").ensure_key()
    with pytest.raises(SealingError, match=r"set tokens\.keyEncryptionKey"):
        ring(storage, None).ensure_key()


def test_plaintext_keys_are_sealed_when_encryption_is_turned_on(storage: Storage) -> None:
    plain = ring(storage, None)
    plain.ensure_key()
    kid = plain.current().signing.kid
    assert "PRIVATE KEY" in storage.keys.all()[0].private_pem
    sealed = ring(storage, "kek-one")
    sealed.ensure_key()
    assert storage.keys.all()[0].private_pem.startswith("aesgcm:v1:")
    assert sealed.current().signing.kid == kid  # the same key, now sealed


def test_a_sealed_key_cannot_be_moved_to_another_kid() -> None:
    sealer = KeySealer("kek")
    sealed = sealer.seal("-----BEGIN PRIVATE KEY-----", "kid-a")
    assert sealer.unseal(sealed, "kid-a") == "-----BEGIN PRIVATE KEY-----"
    with pytest.raises(SealingError):
        sealer.unseal(sealed, "kid-b")
