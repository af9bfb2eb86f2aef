"""Shared by the examples: the verifier from environment variables, OpenMetadata-style.

AUTHBRIDGE_PUBLIC_KEYS   comma-separated JWKS URLs (OpenMetadata's publicKeys)
AUTHBRIDGE_AUTHORITY     the IdP issuer owning non-authbridge URLs (optional)
AUTHBRIDGE_AUDIENCES     comma-separated accepted audiences
AUTHBRIDGE_PRINCIPAL_DOMAIN  e.g. example.com (optional)
AUTHBRIDGE_REVOCATION_FEED   authbridge's revocation feed URL, followed in the background
                             (optional; e.g. http://localhost:8080/api/v1/system/revocations)
"""

from __future__ import annotations

import os

from authbridge.middleware import TokenVerifier, VerifierConfig


def verifier_from_env() -> TokenVerifier:
    def split(name: str) -> list[str]:
        return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]

    mapping: dict[str, object] = {
        "publicKeys": split("AUTHBRIDGE_PUBLIC_KEYS")
        or ["http://localhost:8080/api/v1/system/config/jwks"],
        "audiences": split("AUTHBRIDGE_AUDIENCES") or ["api://platform"],
    }
    if os.environ.get("AUTHBRIDGE_AUTHORITY"):
        mapping["authority"] = os.environ["AUTHBRIDGE_AUTHORITY"]
    if os.environ.get("AUTHBRIDGE_PRINCIPAL_DOMAIN"):
        mapping["principalDomain"] = os.environ["AUTHBRIDGE_PRINCIPAL_DOMAIN"]
    if os.environ.get("AUTHBRIDGE_REVOCATION_FEED"):
        mapping["revocationFeedUrl"] = os.environ["AUTHBRIDGE_REVOCATION_FEED"]
    return TokenVerifier(VerifierConfig.from_mapping(mapping))
