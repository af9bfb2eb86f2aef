"""Pending second-step logins: the state between a right password and a second factor.

A pending login is a random value the browser holds (an HttpOnly cookie, web/mfa_pages.py)
whose SHA-256 names a record in the key-value store: the user, the app's `next`, the step
("verify" a code, or "enrol" one first). It lapses after `PENDING_TTL` (storage owns the
expiry) and is deleted when the sign-in completes: that delete is the single-use gate, so
of two requests racing, one wins.

Revocation (directory/revocation.py: a user disabled, deleted, their password reset or
changed, "sign out everywhere") voids the user's pending logins at once. The store cannot
list a user's records, so each record carries the user's revocation epoch as it was when
the record was made, and a revocation writes a new epoch: a record whose epoch is not the
current one is void. The epoch outlives every record made before it (`_EPOCH_TTL`), so an
absent epoch means no revocation since any live record began.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from authbridge.clock import utcnow
from authbridge.directory.accounts import LOCAL_CONNECTOR
from authbridge.storage.keyvalues import KeyValueStore

__all__ = ["ENROL", "PENDING_TTL", "VERIFY", "PendingLogin", "PendingLogins"]

PENDING_TTL = timedelta(minutes=5)
VERIFY, ENROL = "verify", "enrol"
_PREFIX = "mfa-login:"
_EPOCH_PREFIX = "mfa-epoch:"
# Longer than any record made before the epoch can live, with room for replicas' clocks.
_EPOCH_TTL = 2 * PENDING_TTL


def _key(value: str) -> str:
    # base64url, not hex: prefix and digest fit the 64-character key name (PostgreSQL
    # refused the 74 characters a hex digest made).
    digest = hashlib.sha256(value.encode()).digest()
    return _PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _epoch_key(user_id: str) -> str:
    digest = hashlib.sha256(user_id.encode()).digest()
    return _EPOCH_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass(frozen=True)
class PendingLogin:
    """A live pending login: `key` names its record (and binds what belongs to this one
    sign-in, such as an enrolment's unconfirmed secret)."""

    key: str
    user_id: str
    next: str
    step: str
    epoch: str = field(default="", repr=False)
    # Whose password began it: local accounts, or a directory's (LDAP) administrator.
    connector: str = LOCAL_CONNECTOR


class PendingLogins:
    def __init__(self, values: KeyValueStore) -> None:
        self._values = values

    def start(
        self, user_id: str, next_url: str, step: str, connector: str = LOCAL_CONNECTOR
    ) -> str:
        """A new pending login for `user_id`; returns the value the browser keeps."""
        value = secrets.token_urlsafe(32)
        record = {
            "user_id": user_id,
            "connector": connector,
            "next": next_url,
            "step": step,
            # Read before the record is written: a revocation in between voids it.
            "epoch": self._values.get(_epoch_key(user_id)) or "",
        }
        self._values.put(_key(value), json.dumps(record), expires_at=utcnow() + PENDING_TTL)
        return value

    def get(self, value: str | None) -> PendingLogin | None:
        """The pending login `value` names, if it is live and no revocation voided it."""
        if not value or not 32 <= len(value) <= 128:
            return None
        key = _key(value)
        raw = self._values.get(key)
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        user_id = str(record.get("user_id", ""))
        found = PendingLogin(
            key,
            user_id,
            str(record.get("next", "")),
            str(record.get("step", "")),
            str(record.get("epoch", "")),
            str(record.get("connector", LOCAL_CONNECTOR)),
        )
        if not self._current(found):
            self._values.delete(key)
            return None
        return found

    def _current(self, pending: PendingLogin) -> bool:
        epoch = self._values.get(_epoch_key(pending.user_id))
        return epoch is None or secrets.compare_digest(epoch.encode(), pending.epoch.encode())

    def finish(self, pending: PendingLogin) -> bool:
        """Use the pending login up; True for exactly one caller, and only while no
        revocation voided it (asked again after the delete, which a revocation that
        came since the code was checked must not slip past). The caller asks `current`
        once more after writing the session: see there."""
        return self._values.delete(pending.key) and self._current(pending)

    def current(self, pending: PendingLogin) -> bool:
        """Whether no revocation voided `pending` yet. Asked after the session it starts is
        written: a revocation voids pending logins first and ends sessions next, so one
        landing after `finish` either ended that session already or is seen here."""
        return self._current(pending)

    def void_user(self, user_id: str) -> None:
        """Void every pending login of `user_id` made until now (`Revocation` calls it)."""
        self._values.put(
            _epoch_key(user_id), secrets.token_urlsafe(16), expires_at=utcnow() + _EPOCH_TTL
        )
