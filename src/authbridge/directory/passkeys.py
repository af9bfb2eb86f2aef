"""Passkeys for local accounts: WebAuthn Level 2 registration (§7.1) and authentication
(§7.2) ceremonies through `webauthn` (py_webauthn), several credentials per user.

- Relying party: its id is the issuer's host and the only origin accepted is the issuer's
  origin (§5.1.3 / §13.4.9): a page served under another name cannot use these passkeys.
- Challenges (§13.4.3): 32 random bytes per ceremony, kept server-side for `CHALLENGE_TTL`
  under a value only this browser holds (the caller's `binding`, an HttpOnly cookie) with
  its purpose and user, and deleted on first use: the delete is the single-use gate, so a
  replayed response finds no challenge.
- Signature counter (§6.1.1, §7.2 step 21): a counter that does not increase, when either
  it or the stored one is non-zero, means the credential may have been cloned; the
  sign-in is refused (`ClonedAuthenticator`, audited by the caller). The counter is
  checked only after the signature verified, so only the holder of a key can trip it.
- `amr` (RFC 8176 §2): "hwk" for a device-bound credential (its key never leaves the
  authenticator's hardware), "swk" for a backup-eligible one (§6.1.3 BE flag: a synced
  passkey, whose key is copied between devices by software). As a second factor the
  sign-in says ["pwd", "hwk"|"swk"]; without a password, where the authenticator must
  verify its user (PIN or biometric, not known which), ["hwk"|"swk", "user", "mfa"]:
  possession plus a user test, which is two factors.

py_webauthn (with cbor2 and its models) is imported by the ceremonies, not with this
module: `Passkeys` is built at every start-up, and most starts never see a passkey
(`tests/test_imports.py`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from authbridge.clock import utcnow
from authbridge.config import Settings
from authbridge.storage.keyvalues import KeyValueStore
from authbridge.storage.passkeys import PasskeyStore, StoredPasskey

if TYPE_CHECKING:
    from webauthn.helpers.structs import PublicKeyCredentialDescriptor

__all__ = [
    "CHALLENGE_TTL",
    "ClonedAuthenticator",
    "PasskeyError",
    "PasskeyUse",
    "Passkeys",
    "amr_of",
]

CHALLENGE_TTL = timedelta(minutes=5)
_PREFIX = "webauthn:"
REGISTER, SECOND_FACTOR, PASSWORDLESS = "register", "second-factor", "passwordless"
# WebAuthn §5.4.6 UserVerificationRequirement's values.
USER_VERIFICATION = ("required", "preferred", "discouraged")
NAME_LENGTH = 100


class PasskeyError(Exception):
    """A ceremony refused; `reason` is for the audit log, not for the person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ClonedAuthenticator(PasskeyError):
    """§6.1.1: the signature counter did not increase."""

    def __init__(self, passkey: StoredPasskey, seen: int) -> None:
        super().__init__("counter_regression")
        self.passkey = passkey
        self.seen = seen


@dataclass(frozen=True)
class PasskeyUse:
    """A verified assertion: whose, with which credential, and the RFC 8176 methods."""

    user_id: str
    passkey: StoredPasskey
    user_verified: bool
    amr: list[str]


class Passkeys:
    def __init__(
        self,
        store: PasskeyStore,
        values: KeyValueStore,
        issuer: str,
        rp_name: str,
        user_verification: str = "preferred",
    ) -> None:
        parts = urlsplit(issuer)
        self._store = store
        self._values = values
        self.rp_id = parts.hostname or ""
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._rp_name = rp_name
        if user_verification not in USER_VERIFICATION:
            raise ValueError(f"{user_verification!r} is not a user verification requirement")
        self._uv = user_verification

    @classmethod
    def of(cls, store: PasskeyStore, values: KeyValueStore, settings: Settings) -> Passkeys:
        return cls(
            store,
            values,
            settings.server.issuer,
            settings.branding.product_name,
            settings.auth.local.passkeys.user_verification,
        )

    # Credentials ---------------------------------------------------------------------------

    def list(self, user_id: str) -> list[StoredPasskey]:
        return self._store.list(user_id)

    def has(self, user_id: str) -> bool:
        return self._store.count(user_id) > 0

    def remove(self, user_id: str, passkey_id: int) -> StoredPasskey | None:
        return self._store.remove(user_id, passkey_id)

    def remove_all(self, user_id: str) -> int:
        return self._store.remove_all(user_id)

    # Challenges ----------------------------------------------------------------------------

    def _keep(self, binding: str, purpose: str, user_id: str, challenge: bytes) -> None:
        record = {"purpose": purpose, "user_id": user_id, "challenge": challenge.hex()}
        self._values.put(_key(binding), json.dumps(record), expires_at=utcnow() + CHALLENGE_TTL)

    def _take(self, binding: str, purpose: str, user_id: str) -> bytes:
        """The challenge issued to this browser for this purpose and user, used up."""
        key = _key(binding)
        raw = self._values.get(key)
        if raw is None or not self._values.delete(key):
            raise PasskeyError("no_challenge")
        record: dict[str, Any] = json.loads(raw)
        if record.get("purpose") != purpose or record.get("user_id") != user_id:
            raise PasskeyError("challenge_mismatch")
        return bytes.fromhex(str(record["challenge"]))

    # Registration (§7.1) -------------------------------------------------------------------

    def registration_options(
        self, binding: str, user_id: str, user_name: str, display_name: str
    ) -> str:
        """PublicKeyCredentialCreationOptions as JSON for `navigator.credentials.create`."""
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        challenge = secrets.token_bytes(32)
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=self._rp_name,
            user_id=user_id.encode(),  # a random id, no personal data (§14.6.1)
            user_name=user_name,
            user_display_name=display_name or user_name,
            challenge=challenge,
            # Discoverable, so the passkey can also sign in without a password.
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement(self._uv),
            ),
            exclude_credentials=[_descriptor(p) for p in self._store.list(user_id)],
        )
        self._keep(binding, REGISTER, user_id, challenge)
        return options_to_json(options)

    def register(self, binding: str, user_id: str, credential: str, name: str) -> StoredPasskey:
        """Verify an attestation response (format "none" or any py_webauthn reads, not
        checked against a trust anchor) and store the credential."""
        from webauthn import verify_registration_response
        from webauthn.helpers import parse_registration_credential_json
        from webauthn.helpers.exceptions import WebAuthnException
        from webauthn.helpers.structs import AuthenticatorTransport

        challenge = self._take(binding, REGISTER, user_id)
        try:
            parsed = parse_registration_credential_json(credential)
            verified = verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_verification=self._uv == "required",
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise PasskeyError(f"invalid_registration: {exc}") from exc
        known = {t.value for t in AuthenticatorTransport}
        transports = tuple(t.value for t in (parsed.response.transports or []) if t.value in known)
        stored = self._store.add(
            user_id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports,
            backup_eligible=verified.credential_device_type.value == "multi_device",
            name=(name.strip() or "Passkey")[:NAME_LENGTH],
        )
        if stored is None:
            raise PasskeyError("credential_registered_already")
        return stored

    # Authentication (§7.2) -----------------------------------------------------------------

    def authentication_options(self, binding: str, user_id: str | None) -> str:
        """PublicKeyCredentialRequestOptions as JSON: for `user_id`'s credentials (a second
        factor), or for any discoverable one (`user_id` None: no password, so the
        authenticator must verify its user)."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers.structs import UserVerificationRequirement

        challenge = secrets.token_bytes(32)
        if user_id is None:
            options = generate_authentication_options(
                rp_id=self.rp_id,
                challenge=challenge,
                user_verification=UserVerificationRequirement.REQUIRED,
            )
        else:
            options = generate_authentication_options(
                rp_id=self.rp_id,
                challenge=challenge,
                allow_credentials=[_descriptor(p) for p in self._store.list(user_id)],
                user_verification=UserVerificationRequirement(self._uv),
            )
        purpose = PASSWORDLESS if user_id is None else SECOND_FACTOR
        self._keep(binding, purpose, user_id or "", challenge)
        return options_to_json(options)

    def authenticate(self, binding: str, credential: str, user_id: str | None) -> PasskeyUse:
        """Verify an assertion for the ceremony this browser started; raises PasskeyError
        (ClonedAuthenticator for a counter that went backwards)."""
        from webauthn import verify_authentication_response
        from webauthn.helpers import parse_authentication_credential_json
        from webauthn.helpers.exceptions import WebAuthnException

        passwordless = user_id is None
        challenge = self._take(
            binding, PASSWORDLESS if passwordless else SECOND_FACTOR, user_id or ""
        )
        try:
            parsed = parse_authentication_credential_json(credential)
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise PasskeyError(f"invalid_assertion: {exc}") from exc
        passkey = self._store.by_credential_id(parsed.raw_id)
        if passkey is None:
            raise PasskeyError("unknown_credential")
        if not passwordless and passkey.user_id != user_id:
            raise PasskeyError("credential_of_another_user")  # §7.2 step 6
        handle = parsed.response.user_handle
        if passwordless and (handle is None or handle != passkey.user_id.encode()):
            raise PasskeyError("user_handle_mismatch")  # §7.2 step 6
        uv_required = passwordless or self._uv == "required"
        try:
            # The counter is compared below, after the signature holds.
            verified = verify_authentication_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=0,
                require_user_verification=uv_required,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise PasskeyError(f"invalid_assertion: {exc}") from exc
        seen = verified.new_sign_count
        if (seen or passkey.sign_count) and seen <= passkey.sign_count:
            raise ClonedAuthenticator(passkey, seen)
        if not self._store.record_use(passkey.id, passkey.sign_count, seen):
            raise ClonedAuthenticator(passkey, seen)  # another sign-in stored it first
        amr = amr_of(passkey, passwordless=passwordless)
        return PasskeyUse(passkey.user_id, passkey, verified.user_verified, amr)


def amr_of(passkey: StoredPasskey, *, passwordless: bool) -> list[str]:
    """RFC 8176 §2 methods of a sign-in with `passkey` (see the module's docstring)."""
    kind = "swk" if passkey.backup_eligible else "hwk"
    return [kind, "user", "mfa"] if passwordless else ["pwd", kind]


def _key(binding: str) -> str:
    # base64url, not hex: the prefix and the digest fit the 64-character key name.
    digest = hashlib.sha256(binding.encode()).digest()
    return _PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _descriptor(passkey: StoredPasskey) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    return PublicKeyCredentialDescriptor(
        id=passkey.credential_id,
        transports=[AuthenticatorTransport(t) for t in passkey.transports],
    )
