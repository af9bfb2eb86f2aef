"""argon2id hashing and the password policy (NIST SP 800-63B §5.1.1.2, OWASP minimums)."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
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


def _count_argon2_work(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the work (memory blocks x passes, read from each checked hash) of every argon2
    verification: the cost of an answer, measured without a clock."""
    work: list[int] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, encoded: str | bytes, password: str | bytes) -> bool:
        params = extract_parameters(encoded if isinstance(encoded, str) else encoded.decode())
        work.append(params.memory_cost * params.time_cost)
        return original(self, encoded, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    return work


def test_wrong_password_costs_the_current_work_whatever_the_stored_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The cost was raised (m 256 -> 1024 KiB, t 1 -> 2) after `old` was stored: checking
    # only the old hash would answer in an eighth of the time an unknown user takes.
    current = PasswordHashing(memory_cost=1024, time_cost=2, parallelism=1)
    old = PasswordHasher(memory_cost=256, time_cost=1, parallelism=1, type=Type.ID).hash("pw-old")
    fresh = current.hash("pw-new")
    work = _count_argon2_work(monkeypatch)

    answers = {}
    for case, stored in (("unknown", None), ("current", fresh), ("old", old), ("junk", "x$y")):
        work.clear()
        assert current.verify(stored, "a wrong password") is False
        answers[case] = sum(work)
    assert answers == dict.fromkeys(answers, 1024 * 2), answers

    # The right password is still accepted on the old hash (and then rehashed by the caller).
    assert current.verify(old, "pw-old") is True
    assert current.needs_rehash(old)


def test_a_stronger_stored_hash_spends_nothing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    current = PasswordHashing(memory_cost=256, time_cost=1, parallelism=1)
    strong = PasswordHashing(memory_cost=512, time_cost=2, parallelism=1).hash("pw")
    work = _count_argon2_work(monkeypatch)
    assert current.verify(strong, "wrong") is False
    assert work == [512 * 2]
