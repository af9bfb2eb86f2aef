"""argon2id hashing and the password policy (NIST SP 800-63B §5.1.1.2, OWASP minimums)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerifyMismatchError

from authbridge.directory.passwords import (
    MAX_PASSWORD_LENGTH,
    PasswordHashing,
    PasswordRejected,
    check_policy,
)

HASHING = PasswordHashing()


def test_hash_is_argon2id_with_at_least_owasp_parameters() -> None:
    encoded = HASHING.hash("a perfectly fine passphrase")
    assert encoded.startswith("$argon2id$v=19$")
    params = dict(p.split("=") for p in encoded.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2 and int(params["p"]) >= 1
    # An independent verifier (argon2-cffi's own PasswordHasher) accepts it.
    assert PasswordHasher().verify(encoded, "a perfectly fine passphrase")
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(encoded, "a perfectly fine passphrasE")


def test_long_passwords_are_never_truncated() -> None:
    base = "x" * 200
    encoded = HASHING.hash(base + "A")
    assert HASHING.verify(encoded, base + "A")
    assert not HASHING.verify(encoded, base + "B")  # differs only at character 201
    assert not HASHING.verify(encoded, base)


def test_unicode_is_normalized_so_the_same_password_matches() -> None:
    composed, decomposed = "caf\u00e9 au lait ok", "cafe\u0301 au lait ok"
    assert HASHING.verify(HASHING.hash(composed), decomposed)


def test_unknown_user_verification_does_the_same_work_and_fails() -> None:
    assert HASHING.verify(None, "anything at all") is False
    assert HASHING.verify("not-a-hash", "anything at all") is False


def test_rehash_needed_when_parameters_rise() -> None:
    weak = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    encoded = weak.hash("a perfectly fine passphrase")
    assert not PasswordHashing(19456, 2, 1).needs_rehash(encoded)
    assert PasswordHashing(19456, 3, 1).needs_rehash(encoded)
    assert PasswordHashing(65536, 2, 1).needs_rehash(encoded)


@pytest.mark.parametrize(
    "password", ["password", "12345678", "iloveyou", "Password1", "qwertyuiop", "baseball1"]
)
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(PasswordRejected, match="too common"):
        check_policy(password)


def test_length_bounds() -> None:
    with pytest.raises(PasswordRejected, match="at least 8"):
        check_policy("Zx9#kq2")
    check_policy("Zx9#kq2w")  # 8 characters, uncommon
    check_policy("q" * 7 + "Zx9#" + "w" * 117)  # 128 characters are accepted
    with pytest.raises(PasswordRejected, match="at most"):
        check_policy("Zx9#" * (MAX_PASSWORD_LENGTH // 4 + 1))


def test_username_as_password_is_refused() -> None:
    with pytest.raises(PasswordRejected):
        check_policy("Ada@Example.com", username="ada@example.com")
