"""Password hashing (argon2id) and the password policy.

Policy after NIST SP 800-63B §5.1.1.2: at least 8 characters, at least 128 accepted and
never truncated (argon2 hashes the whole input), no composition rules, and passwords
found in a list of commonly used ones refused.
"""

from __future__ import annotations

import contextlib
import os
import threading
import unicodedata
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordHashing",
    "PasswordRejected",
    "check_policy",
    "policy_summary",
]

MIN_PASSWORD_LENGTH = 8
# Far above the 128 the issue asks; the bound only keeps a request from feeding megabytes in.
MAX_PASSWORD_LENGTH = 1024


# argon2 releases the GIL, so hashes run in parallel up to one per core; more at once adds
# no throughput and costs memory_cost each (19 MiB), so a burst of sign-ins on a 40-thread
# pool could otherwise hold most of a gigabyte. Callers queue here instead.
_CORES = threading.BoundedSemaphore(
    max(
        1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
)


class PasswordRejected(ValueError):
    """The password does not meet the policy; the message says why, for the user."""


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships a 30,000-entry frequency list drawn from leaked password sets.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


def _normalize(password: str) -> str:
    # NIST SP 800-63B §5.1.1.2: apply NFKC so the same password typed on two keyboards matches.
    return unicodedata.normalize("NFKC", password)


def policy_summary() -> str:
    """The policy `check_policy` applies, in words for a form's hint."""
    return (
        f"At least {MIN_PASSWORD_LENGTH} characters (at most {MAX_PASSWORD_LENGTH}); not your "
        "email address; common passwords are refused. Long passphrases are welcome."
    )


def check_policy(password: str, *, username: str | None = None) -> None:
    """Raise PasswordRejected if `password` may not be used."""
    length = len(_normalize(password))
    if length < MIN_PASSWORD_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    if length > MAX_PASSWORD_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_PASSWORD_LENGTH} characters.")
    folded = _normalize(password).casefold()
    if folded in _common_passwords():
        raise PasswordRejected("This password is too common; choose another.")
    if username and folded == username.casefold():
        raise PasswordRejected("The password must not be the username.")


@dataclass(frozen=True)
class PasswordHashing:
    """argon2id with configurable cost (OWASP minimum: m=19 MiB, t=2, p=1)."""

    memory_cost: int = 19456
    time_cost: int = 2
    parallelism: int = 1

    @property
    def _hasher(self) -> PasswordHasher:
        return _hasher(self.memory_cost, self.time_cost, self.parallelism)

    def hash(self, password: str) -> str:
        with _CORES:
            return str(self._hasher.hash(_normalize(password)))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Check a password, doing the same argon2 work whatever the outcome.

        Without a stored hash (unknown user), or with one that is not a valid argon2 hash, a
        dummy hash made with the CURRENT parameters is checked instead; when the stored hash
        was made with weaker parameters (the cost was raised since) and the password is
        wrong, the shortfall is spent on a dummy check. Either way a wrong password costs
        the current parameters' work, so timing tells no account from an unknown one
        (OWASP Authentication Cheat Sheet, "Authentication Responses")."""
        if stored_hash is None:
            self._spend(self.work)
            return False
        try:
            with _CORES:
                return bool(self._hasher.verify(stored_hash, _normalize(password)))
        except VerifyMismatchError:
            self._spend(self.work - _work(stored_hash))
        except (VerificationError, InvalidHashError):
            self._spend(self.work)
        return False

    @property
    def work(self) -> int:
        """argon2 work of one check at the current parameters: memory blocks x passes."""
        return self.memory_cost * self.time_cost

    def _spend(self, work: int) -> None:
        """Check a dummy hash of about `work` argon2 work (nothing when there is none to
        make up): the current time cost and lanes, with the memory that makes up the rest."""
        if work <= 0:
            return
        # argon2 needs at least 8 KiB per lane; a shortfall under that is rounded up to it.
        memory = max(-(-work // self.time_cost), 8 * self.parallelism)
        dummy = _dummy(memory, self.time_cost, self.parallelism)
        with contextlib.suppress(VerificationError), _CORES:
            _hasher(memory, self.time_cost, self.parallelism).verify(dummy, "not-the-password")

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the stored hash was made with lower cost than the current parameters."""
        return bool(self._hasher.check_needs_rehash(stored_hash))


def _work(stored_hash: str) -> int:
    """argon2 work (memory blocks x passes) a stored hash costs to check."""
    try:
        params = extract_parameters(stored_hash)
    except InvalidHashError:
        return 0
    return params.memory_cost * params.time_cost


@cache
def _hasher(memory_cost: int, time_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


@cache
def _dummy(memory_cost: int, time_cost: int, parallelism: int) -> str:
    return str(_hasher(memory_cost, time_cost, parallelism).hash("authbridge-timing-equaliser"))
