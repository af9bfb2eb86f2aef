"""Local accounts' second factor: TOTP (RFC 6238) and one-time recovery codes.

- Codes are RFC 6238 §4 TOTP over HMAC-SHA1, 6 digits, 30-second steps (`pyotp`): what
  every authenticator app reads from the Key Uri Format (`otpauth://totp/...`, Google
  Authenticator's wiki page) the enrolment shows as a QR code and as text.
- §5.2 "the verifier MUST NOT accept the second attempt of the OTP after the successful
  validation has been issued for the first OTP": a used (user, time step) is a replay
  marker in the shared counters (`storage/counters.py`: the database, or Redis), which
  expire on their own once the step is outside the window.
- §5.2's resynchronisation allowance is one step back and one ahead (`WINDOW`): a code
  is accepted from 30 s before its step starts until 30 s after it ends.
- The secret is sealed at rest with the signing keys' sealing (`tokens/sealing.py`,
  `tokens.keyEncryptionKey`), bound to the user id as associated data.
- An enrolment's secret, until its first code confirms it, serves that one enrolment only:
  it is bound to the session that started it (`binding`: the browser session, or the
  pending sign-in), one per user (starting again anywhere replaces it), lapses after
  `ENROLMENT_TTL`, and is deleted when confirmed. It lives in the key-value store (storage
  owns its expiry); only a confirmed credential is written to `MfaStore`. So a secret
  shown in one session is never shown in another, where someone else may be looking.
- Ten recovery codes, 50 random bits each, are shown once and stored as argon2id hashes
  by the password hasher. A check costs one argon2 verification per unused code (20 ms
  each measured here, so at most 200 ms): reachable only after the right password, and
  under the sign-in throttle, so a faster keyed hash was not needed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from authbridge.clock import utcnow
from authbridge.config import Settings
from authbridge.directory.passwords import PasswordHashing
from authbridge.middleware.authn import is_multi_factor
from authbridge.storage.counters import ReplayCache
from authbridge.storage.keyvalues import KeyValueStore
from authbridge.storage.mfa import MfaStore
from authbridge.tokens.sealing import KeySealer

__all__ = [
    "DIGITS",
    "ENROLMENT_TTL",
    "RECOVERY_CODES",
    "STEP",
    "WINDOW",
    "Enrolment",
    "SecondFactors",
    "TotpStatus",
    "admin_sign_in_falls_short",
    "mfa_needed",
    "normalize_recovery_code",
]

STEP = 30  # seconds (RFC 6238 §5.2 recommends 30)
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
RECOVERY_CODES = 10
# Recovery codes: lower-case letters and digits without the look-alikes (0/o, 1/l/i).
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_LENGTH = 10  # 31^10 ~ 2^49.5
# A used step's marker outlives the steps in which its code is accepted (2 * WINDOW + 1).
_MARKER_TTL = timedelta(seconds=STEP * (2 * WINDOW + 2))
# Time to scan the code and type the first one; then the enrolment starts over.
ENROLMENT_TTL = timedelta(minutes=10)
_ENROLMENT_PREFIX = "totp-enrol:"


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def _sealed_for(user_id: str) -> str:
    return "totp:" + user_id


def normalize_recovery_code(text: str) -> str:
    """A recovery code as typed (any case, spaces and hyphens) in its stored form."""
    return "".join(ch for ch in text.lower() if ch not in " -\t")


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def mfa_needed(settings: Settings, *, enrolled: bool, admin: bool) -> str | None:
    """What a password sign-in needs next under `auth.local.mfa` and
    `auth.local.mfaRequiredForAdmins`: "verify" (a code), "enrol" (a credential first),
    or None (the session starts)."""
    local = settings.auth.local
    forced = local.mfa == "required" or (admin and local.mfa_required_for_admins)
    if enrolled and (local.mfa != "off" or forced):
        return "verify"
    return "enrol" if forced else None


def admin_sign_in_falls_short(settings: Settings, amr: Iterable[str]) -> bool:
    """Whether, under `auth.local.mfaRequiredForAdmins`, a sign-in whose methods were `amr`
    (RFC 8176) may not administer: it proved one factor. Asked where an administrator
    signs in and again wherever they act (the console's session, the admin API's token),
    since the role or the key may be newer than the sign-in."""
    return settings.auth.local.mfa_required_for_admins and not is_multi_factor(amr)


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret for manual entry, its otpauth URI and
    that URI as an inline SVG QR code (drawn here: no external service, no script)."""

    secret: str
    uri: str
    qr_svg: str


@dataclass(frozen=True)
class TotpStatus:
    enrolled: bool
    recovery_codes_left: int


class SecondFactors:
    """Enrolment, verification and removal of a user's TOTP credential and recovery codes."""

    def __init__(
        self,
        store: MfaStore,
        values: KeyValueStore,
        replay: ReplayCache,
        sealer: KeySealer,
        hashing: PasswordHashing,
        issuer: str,
        clock: Callable[[], float] = lambda: utcnow().timestamp(),
    ) -> None:
        self._store = store
        self._values = values
        self._replay = replay
        self._sealer = sealer
        self._hashing = hashing
        self._issuer = issuer
        self._clock = clock

    @classmethod
    def of(
        cls,
        store: MfaStore,
        values: KeyValueStore,
        replay: ReplayCache,
        settings: Settings,
        hashing: PasswordHashing,
    ) -> SecondFactors:
        """Sealed with `tokens.keyEncryptionKey`, as the signing keys are; the authenticator
        app lists the account under the product's name (`branding.productName`)."""
        sealer = KeySealer(settings.tokens.key_encryption_key)
        return cls(store, values, replay, sealer, hashing, settings.branding.product_name)

    # Status ------------------------------------------------------------------------------

    def enrolled(self, user_id: str) -> bool:
        return self._store.totp(user_id) is not None

    def status(self, user_id: str) -> TotpStatus:
        enrolled = self.enrolled(user_id)
        left = self._store.recovery_codes_left(user_id) if enrolled else 0
        return TotpStatus(enrolled, left)

    # Enrolment ---------------------------------------------------------------------------

    def _pending(self, user_id: str, binding: str) -> str | None:
        """The sealed secret of `user_id`'s enrolment waiting in this session, if any."""
        raw = self._values.get(_ENROLMENT_PREFIX + _digest(user_id))
        if raw is None:
            return None
        record = json.loads(raw)
        bound = str(record.get("binding", "")).encode()
        if not hmac.compare_digest(bound, _digest(binding).encode()):
            return None  # another session's enrolment: never shown or usable here
        return str(record["secret"])

    def start_enrolment(self, user_id: str, account_name: str, *, binding: str) -> Enrolment | None:
        """This session's waiting enrolment (a reload, or a wrong first code, shows the
        same key), or a new one replacing any other session's; None when the user has a
        confirmed credential already. `binding` names the session (never shown)."""
        # pyotp and segno where they are used: most services never enrol a second factor.
        import pyotp
        import segno

        if self.enrolled(user_id):
            return None
        sealed = self._pending(user_id, binding)
        if sealed is not None:
            secret = self._sealer.unseal(sealed, _sealed_for(user_id))
        else:
            secret = pyotp.random_base32()  # 160 bits, RFC 4226 §4 R6's recommendation
            record = {
                "binding": _digest(binding),
                "secret": self._sealer.seal(secret, _sealed_for(user_id)),
            }
            self._values.put(
                _ENROLMENT_PREFIX + _digest(user_id),
                json.dumps(record),
                expires_at=utcnow() + ENROLMENT_TTL,
            )
        uri = pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(
            name=account_name, issuer_name=self._issuer
        )
        qr = segno.make(uri, error="m").svg_inline(
            scale=4, dark="#000", light="#fff", title="QR code of your authenticator key"
        )
        return Enrolment(secret, uri, str(qr))

    def confirm(self, user_id: str, code: str, *, binding: str) -> list[str] | None:
        """Confirm this session's waiting enrolment with its first code; the recovery codes
        (shown once) on success, None when the code is wrong or replayed, or nothing waits
        in this session (lapsed, replaced by another, or confirmed already)."""
        sealed = self._pending(user_id, binding)
        if sealed is None or not self._check_totp(user_id, sealed, code):
            return None
        # The delete is the single use: of two confirmations racing, one goes on.
        if not self._values.delete(_ENROLMENT_PREFIX + _digest(user_id)):
            return None
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        hashes = [self._hashing.hash(normalize_recovery_code(c)) for c in codes]
        if not self._store.enrol(user_id, sealed, hashes):
            return None
        return codes

    # Verification -------------------------------------------------------------------------

    def verify(self, user_id: str, code: str) -> str | None:
        """Check a second factor: "otp" for a TOTP code, "recovery" for a recovery code
        (used up by this call), None when neither holds."""
        text = code.strip().replace(" ", "")
        # ASCII only: `isdigit` holds for other scripts' digits, which compare_digest refuses.
        if text.isascii() and text.isdigit() and len(text) == DIGITS:
            return "otp" if self.verify_totp(user_id, text) else None
        return "recovery" if self._use_recovery_code(user_id, code) else None

    def verify_totp(self, user_id: str, code: str) -> bool:
        found = self._store.totp(user_id)
        return found is not None and self._check_totp(user_id, found.secret, code)

    def _check_totp(self, user_id: str, sealed: str, code: str) -> bool:
        import pyotp

        code = code.strip().replace(" ", "")
        if not (code.isascii() and code.isdigit() and len(code) == DIGITS):
            return False
        totp = pyotp.TOTP(self._sealer.unseal(sealed, _sealed_for(user_id)), digits=DIGITS)
        now_step = int(self._clock()) // STEP
        matched = None
        for step in range(now_step - WINDOW, now_step + WINDOW + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                matched = step
        if matched is None:
            return False
        # RFC 6238 §5.2: each code once; the marker is shared by every replica.
        return self._replay.first_use(f"totp:{user_id}:{matched}", _MARKER_TTL)

    def _use_recovery_code(self, user_id: str, typed: str) -> bool:
        text = normalize_recovery_code(typed)
        if len(text) != _RECOVERY_LENGTH or any(ch not in _ALPHABET for ch in text):
            return False  # not a recovery code's shape: no hashing spent on it
        for code_id, code_hash in self._store.unused_recovery_codes(user_id):
            if self._hashing.verify(code_hash, text):
                return self._store.use_recovery_code(user_id, code_id)
        return False

    # Changes ------------------------------------------------------------------------------

    def regenerate_recovery_codes(self, user_id: str, code: str) -> list[str] | None:
        """A fresh set of recovery codes (the old ones stop working), given a current
        TOTP code; None when the code does not hold."""
        if not self.verify_totp(user_id, code):
            return None
        codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
        hashes = [self._hashing.hash(normalize_recovery_code(c)) for c in codes]
        self._store.replace_recovery_codes(user_id, hashes)
        return codes

    def remove(self, user_id: str) -> bool:
        """Remove the TOTP credential and the recovery codes (the caller checked who asks)."""
        return self._store.remove(user_id)
