"""The amr/acr vocabulary (RFC 8176 §2; OIDC Core §2, §3.1.2.1)."""

from __future__ import annotations

import pytest

from authbridge.middleware.authn import (
    ACR_1FA,
    ACR_MFA,
    REGISTERED_AMR,
    acr_for,
    acr_satisfies,
    clean_amr,
    is_multi_factor,
    recorded_amr,
)


def test_the_registry_is_rfc_8176s_initial_set() -> None:
    assert len(REGISTERED_AMR) == 21
    assert {"pwd", "otp", "mfa", "hwk", "swk", "pin", "fpt", "sms", "wia"} <= REGISTERED_AMR
    assert "fed" not in REGISTERED_AMR  # Entra's own: RFC 8176 has no "federated" value


@pytest.mark.parametrize(
    ("amr", "multi"),
    [
        (["pwd"], False),
        (["otp"], False),
        (["pwd", "kba"], False),  # two things known are one kind of factor
        (["pwd", "mca"], False),  # several channels are not several factors
        (["hwk", "user"], False),  # presence is not a factor
        (["wiaormfa"], False),
        (["pwd", "otp"], True),
        (["hwk", "pin"], True),
        (["swk", "face"], True),
        (["mfa"], True),
        (["ngcmfa"], True),
    ],
)
def test_multi_factor_means_mfa_or_two_kinds(amr: list[str], multi: bool) -> None:
    assert is_multi_factor(amr) is multi
    assert acr_for(amr) == (ACR_MFA if multi else ACR_1FA)


def test_clean_amr_keeps_tokens_only() -> None:
    assert clean_amr(["pwd", "pwd", "otp", 3, "", "a b", "x" * 40]) == ("pwd", "otp")
    assert clean_amr("pwd") == ()  # not a list: no claim
    assert clean_amr(["pwd", "ngcmfa"], registered_only=True) == ("pwd",)


def test_a_higher_level_satisfies_a_lower_one_and_unknown_values_match_exactly() -> None:
    assert acr_satisfies(ACR_MFA, [ACR_1FA])
    assert acr_satisfies(ACR_MFA, [ACR_MFA])
    assert not acr_satisfies(ACR_1FA, [ACR_MFA])
    assert acr_satisfies(ACR_1FA, ["urn:other", ACR_1FA])
    assert not acr_satisfies(None, [ACR_1FA])
    assert acr_satisfies(None, [])
    assert acr_satisfies("urn:other", ["urn:other"])
    assert not acr_satisfies(ACR_MFA, ["urn:other"])


def test_a_multi_factor_sign_in_is_recorded_with_mfa() -> None:
    assert recorded_amr(["pwd", "otp"]) == ("pwd", "otp", "mfa")
    assert recorded_amr(["pwd"]) == ("pwd",)
    assert recorded_amr(["mfa", "pwd"]) == ("mfa", "pwd")
    # Entra's ngcmfa: MFA, but only registered values are passed on.
    assert recorded_amr(["ngcmfa"], registered_only=True) == ("mfa",)
