"""A software authenticator for tests, built from WebAuthn Level 2's byte layouts: an ES256
key (COSE §7.1 EC2 key, alg -7), authenticator data (§6.1: rpIdHash, flags, signCount,
attested credential data §6.5.1), attestation "none" (§8.7) and clientDataJSON (§5.8.1)."""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, encode_cbor

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(data: bytes) -> str:
    return bytes_to_base64url(data)


@dataclass
class SoftAuthenticator:
    """One credential on one authenticator; `origin` and `rp_id` are what the browser
    would report, so a test can play a phishing site by changing them."""

    origin: str
    rp_id: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    sign_count: int = 0
    user_handle: bytes | None = None
    user_verifying: bool = True
    backup_eligible: bool = False

    def _flags(self, extra: int = 0) -> int:
        flags = UP | extra
        if self.user_verifying:
            flags |= UV
        if self.backup_eligible:
            flags |= BE
        return flags

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return encode_cbor(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def create(self, options_json: str, **overrides: Any) -> str:
        """navigator.credentials.create's result, as the JSON the page posts."""
        options = json.loads(options_json)
        self.user_handle = base64url_to_bytes(options["user"]["id"])
        rp_hash = hashlib.sha256(overrides.get("rp_id", self.rp_id).encode()).digest()
        attested = (
            bytes(16)  # AAGUID: none
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        auth_data = rp_hash + bytes([self._flags(AT)]) + struct.pack(">I", self.sign_count)
        auth_data += attested
        attestation = encode_cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            "webauthn.create", overrides.get("challenge", options["challenge"])
        )
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "attestationObject": b64(attestation),
                    "transports": ["internal"],
                },
                "clientExtensionResults": {},
            }
        )

    def get(self, options_json: str, *, counter_step: int = 1, **overrides: Any) -> str:
        """navigator.credentials.get's result: the counter moves by `counter_step` (0: a
        counter-less authenticator; negative: a clone behind the original)."""
        options = json.loads(options_json)
        self.sign_count += counter_step
        rp_hash = hashlib.sha256(overrides.get("rp_id", self.rp_id).encode()).digest()
        auth_data = rp_hash + bytes([self._flags()]) + struct.pack(">I", self.sign_count)
        client_data = self._client_data(
            "webauthn.get", overrides.get("challenge", options["challenge"])
        )
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        handle = overrides.get("user_handle", self.user_handle)
        return json.dumps(
            {
                "id": b64(self.credential_id),
                "rawId": b64(self.credential_id),
                "type": "public-key",
                "response": {
                    "clientDataJSON": b64(client_data),
                    "authenticatorData": b64(auth_data),
                    "signature": b64(signature),
                    "userHandle": None if handle is None else b64(handle),
                },
                "clientExtensionResults": {},
            }
        )
