"""RFC 7636: S256 only, syntax of challenges and verifiers, and the downgrade check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authbridge.provider import pkce
from authbridge.provider.errors import OAuthError

DATA = Path(__file__).parents[1] / "data" / "provider"


def test_rfc7636_appendix_b_example() -> None:
    example = json.loads((DATA / "rfc7636_appendix_b.json").read_text())
    assert pkce.s256(example["code_verifier"]) == example["code_challenge"]
    pkce.verify(example["code_challenge"], example["code_verifier"])


def test_plain_and_missing_method_are_refused() -> None:
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    for method in ("plain", None, "S512", "s256"):
        with pytest.raises(OAuthError) as exc:
            pkce.check_challenge(challenge, method, required=False)
        assert exc.value.error == "invalid_request"


def test_required_for_public_clients_and_syntax_checked() -> None:
    with pytest.raises(OAuthError, match="required"):
        pkce.check_challenge(None, None, required=True)
    with pytest.raises(OAuthError, match="malformed"):
        pkce.check_challenge("short", "S256", required=True)
    assert pkce.check_challenge(None, None, required=False) is None


def test_verifier_without_challenge_is_a_downgrade() -> None:
    """RFC 9700 §4.8.2: a verifier for a code issued without a challenge is refused."""
    with pytest.raises(OAuthError) as exc:
        pkce.verify(None, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
    assert exc.value.error == "invalid_grant"


def test_wrong_or_missing_verifier() -> None:
    challenge = pkce.s256("a" * 43)
    for verifier in (None, "", "b" * 43, "a" * 42, "a" * 43 + "!"):
        with pytest.raises(OAuthError):
            pkce.verify(challenge, verifier)
