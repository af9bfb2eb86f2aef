"""Claim checks against RFC 7519 §4.1, RFC 9068 §4, OIDC Core §3.1.3.7 and principalDomain.

Tokens are minted with PyJWT. Each time claim gets a boundary test: exactly at the tolerance
edge accepted, one second past refused.
"""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import pytest

from authbridge.middleware import (
    InsufficientScope,
    InvalidToken,
    Reason,
    TokenTypeRule,
    TokenVerifier,
)

from .conftest import FakeClock, JwksServer, make_verifier
from .forge import AUDIENCE, NOW, Signer, access_claims

LEEWAY = 30


def mint(signer: Signer, typ: str = "at+jwt", **claims: Any) -> str:
    return pyjwt.encode(
        access_claims(**claims),
        signer.private,
        algorithm=signer.alg,
        headers={"kid": signer.kid, "typ": typ},
    )


@pytest.fixture
def lenient(jwks_server: JwksServer, clock: FakeClock) -> TokenVerifier:
    return make_verifier(jwks_server.url, clock, clock_tolerance=LEEWAY)


def _verdict(verifier: TokenVerifier, token: str) -> Reason | None:
    try:
        verifier.verify(token)
    except InvalidToken as exc:
        return exc.reason
    return None


# -- exp: RFC 7519 §4.1.4 -------------------------------------------------------------------


def test_exp_at_tolerance_edge_accepted_one_second_past_refused(lenient, clock, signers):
    token = mint(signers["ES256"], exp=NOW, iat=NOW - 600)
    clock.now = NOW + LEEWAY
    assert _verdict(lenient, token) is None
    clock.now = NOW + LEEWAY + 1
    assert _verdict(lenient, token) is Reason.EXPIRED


def test_exp_without_tolerance_is_strictly_before(verifier, clock, signers):
    """RFC 7519 §4.1.4: the current time MUST be before exp."""
    token = mint(signers["ES256"], exp=NOW, iat=NOW - 600)
    clock.now = NOW - 1
    assert _verdict(verifier, token) is None
    clock.now = NOW
    assert _verdict(verifier, token) is Reason.EXPIRED


# -- nbf: RFC 7519 §4.1.5 -------------------------------------------------------------------


def test_nbf_at_tolerance_edge_accepted_one_second_past_refused(lenient, clock, signers):
    token = mint(signers["ES256"], nbf=NOW + LEEWAY, iat=NOW - 10)
    assert _verdict(lenient, token) is None
    token = mint(signers["ES256"], nbf=NOW + LEEWAY + 1, iat=NOW - 10)
    assert _verdict(lenient, token) is Reason.NOT_YET_VALID


def test_nbf_without_tolerance_accepts_equal(verifier, signers):
    """RFC 7519 §4.1.5: "after or equal to" nbf."""
    assert _verdict(verifier, mint(signers["ES256"], nbf=NOW)) is None
    assert _verdict(verifier, mint(signers["ES256"], nbf=NOW + 1)) is Reason.NOT_YET_VALID


# -- iat: RFC 7519 §4.1.6 -------------------------------------------------------------------


def test_iat_in_future_at_tolerance_edge_accepted_one_second_past_refused(lenient, signers):
    assert _verdict(lenient, mint(signers["ES256"], iat=NOW + LEEWAY)) is None
    assert _verdict(lenient, mint(signers["ES256"], iat=NOW + LEEWAY + 1)) is (
        Reason.ISSUED_IN_FUTURE
    )


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud"])
def test_required_claims(verifier, signers, claim):
    reason = _verdict(verifier, mint(signers["ES256"], **{claim: None}))
    assert reason is Reason.MISSING_CLAIM


def test_float_times_are_numeric_dates(verifier, signers):
    assert _verdict(verifier, mint(signers["ES256"], exp=NOW + 0.5, iat=NOW - 0.5)) is None


# -- aud / azp: RFC 7519 §4.1.3, OIDC Core §3.1.3.7 ------------------------------------------


def test_audience_list_containing_ours_with_azp(verifier, signers):
    token = mint(signers["ES256"], aud=["api://other", AUDIENCE], azp=AUDIENCE)
    assert verifier.verify(token).audiences == ("api://other", AUDIENCE)


def test_audience_must_be_strings(verifier, signers):
    assert _verdict(verifier, mint(signers["ES256"], aud=[AUDIENCE, 3])) is Reason.INVALID_CLAIM


def test_authorized_parties_can_differ_from_audiences(jwks_server, clock, signers):
    verifier = make_verifier(jwks_server.url, clock, authorized_parties=("spa-client",))
    token = mint(signers["ES256"], aud=[AUDIENCE, "account"], azp="spa-client")
    assert verifier.verify(token).subject == "user-123"
    assert _verdict(verifier, mint(signers["ES256"], azp=AUDIENCE)) is Reason.WRONG_AZP


# -- token type: RFC 9068 §2.1/§4 and the claim-based IdP rule --------------------------------


def test_rfc9068_typ_accepts_media_type_form(verifier, signers):
    """RFC 9068 §4: at+jwt or application/at+jwt; RFC 7515 §4.1.9 case-insensitive."""
    for typ in ("at+jwt", "application/at+jwt", "AT+JWT"):
        assert _verdict(verifier, mint(signers["ES256"], typ=typ)) is None


def test_idp_access_rule_tells_okta_tokens_apart(jwks_server, clock, signers):
    verifier = make_verifier(jwks_server.url, clock, token_type=TokenTypeRule.idp_access())
    okta_access = {"cid": "0oa1", "scp": ["openid", "dags"], "scope": None, "client_id": None}
    token = verifier.verify(mint(signers["RS256"], typ="JWT", **okta_access))
    assert token.scopes == {"openid", "dags"}
    okta_id = {"scope": None, "client_id": None, "nonce": "n", "at_hash": "x"}
    assert _verdict(verifier, mint(signers["RS256"], typ="JWT", **okta_id)) is (
        Reason.WRONG_TOKEN_TYPE
    )
    bare = {"scope": None, "client_id": None, "roles": None}
    assert _verdict(verifier, mint(signers["RS256"], typ="JWT", **bare)) is (
        Reason.WRONG_TOKEN_TYPE
    )


# -- principalDomain -------------------------------------------------------------------------


def test_principal_domain(jwks_server, clock, signers):
    verifier = make_verifier(jwks_server.url, clock, principal_domains=("example.com",))
    assert verifier.verify(mint(signers["ES256"])).principal == "jane@example.com"
    for email in (
        "jane@evil.com",
        "jane@example.com.evil.com",
        "jane@sub.example.com",
        "jane@evil.com@example",
        "example.com",
    ):
        assert _verdict(verifier, mint(signers["ES256"], email=email)) is (
            Reason.PRINCIPAL_DOMAIN
        ), email
    assert _verdict(verifier, mint(signers["ES256"], email="Jane@EXAMPLE.com")) is None
    no_email = {"email": None}
    assert _verdict(verifier, mint(signers["ES256"], **no_email)) is Reason.PRINCIPAL_DOMAIN
    unverified = {"email_verified": False}
    assert _verdict(verifier, mint(signers["ES256"], **unverified)) is Reason.EMAIL_UNVERIFIED


def test_principal_domain_ending_shortcut_agrees_with_the_last_at(jwks_server, clock, signers):
    """A lower-case principal ending in "@domain" is accepted without splitting it; the
    shortcut must never accept what the general rule (the domain after the last "@")
    refuses: a domain configured with an "@" in it, a bare "@domain", suffixes."""
    verifier = make_verifier(
        jwks_server.url, clock, principal_domains=("example.com", "corp@example.org")
    )
    for email, expected in (
        ("x@corp@example.org", Reason.PRINCIPAL_DOMAIN),  # last "@" leaves "example.org"
        ("corp@example.org", Reason.PRINCIPAL_DOMAIN),
        ("jane@evil.com@example.com", None),  # the last "@" decides, as in the general rule
        ("@example.com", None),
        ("jane@notexample.com", Reason.PRINCIPAL_DOMAIN),
        ("jane@EXAMPLE.COM", None),
        ("jane@example.com.", Reason.PRINCIPAL_DOMAIN),
    ):
        assert _verdict(verifier, mint(signers["ES256"], email=email)) is expected, email


# -- scopes and roles: RFC 6750 §3.1 ---------------------------------------------------------


def test_required_scopes_and_roles_give_403(jwks_server, clock, signers):
    verifier = make_verifier(
        jwks_server.url, clock, required_scopes=("read:dags",), required_roles=("viewer",)
    )
    assert verifier.verify(mint(signers["ES256"])).roles == {"viewer"}
    with pytest.raises(InsufficientScope) as info:
        verifier.verify(mint(signers["ES256"], scope="openid"))
    assert info.value.status == 403 and info.value.error == "insufficient_scope"
    assert info.value.scopes == ("read:dags",)
    with pytest.raises(InsufficientScope):
        verifier.verify(mint(signers["ES256"], roles=["editor"]))


def test_per_call_scopes(verifier, signers):
    token = mint(signers["ES256"])
    assert verifier.verify(token, scopes=("write:dags",)).subject == "user-123"
    with pytest.raises(InsufficientScope):
        verifier.verify(token, scopes=("admin",))
    with pytest.raises(InsufficientScope):
        verifier.verify(token, roles=("admin",))


def test_scope_is_space_delimited_not_substring(verifier, signers):
    token = mint(signers["ES256"], scope="read:dags-extra")
    with pytest.raises(InsufficientScope):
        verifier.verify(token, scopes=("read:dags",))


def test_claims_view_is_read_only(verifier, signers):
    token = verifier.verify(mint(signers["ES256"]))
    with pytest.raises(TypeError):
        token.claims["sub"] = "admin"  # type: ignore[index]


# -- claim value types: RFC 7519 §4.1.3 (aud), RFC 9068 §2.2.3 (scope/scp, roles) -----------


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"roles": ["viewer", 3]}, Reason.INVALID_CLAIM),
        ({"roles": ["viewer", ["op"]]}, Reason.INVALID_CLAIM),
        ({"roles": {"viewer": True}}, Reason.INVALID_CLAIM),
        ({"roles": 7}, Reason.INVALID_CLAIM),
        ({"roles": "viewer"}, None),  # one role as a bare string
        ({"roles": []}, None),
        ({"scp": ["read:dags", None]}, Reason.INVALID_CLAIM),
        ({"scope": 5}, Reason.INVALID_CLAIM),
        ({"scope": "read:dags", "scp": "write:dags"}, None),
        ({"aud": None}, Reason.INVALID_CLAIM),
        ({"aud": [True]}, Reason.INVALID_CLAIM),
        ({"sub": ""}, Reason.MISSING_CLAIM),
        ({"sub": 12}, Reason.MISSING_CLAIM),
        ({"exp": True}, Reason.INVALID_CLAIM),
        ({"exp": "9999999999"}, Reason.INVALID_CLAIM),
        ({"iat": None}, Reason.MISSING_CLAIM),
        ({"nbf": [NOW]}, Reason.INVALID_CLAIM),
    ],
)
def test_claim_value_types(verifier, signers, claims, expected):
    # aud: None must reach the verifier as JSON null, not be dropped by access_claims.
    body = access_claims(**{k: v for k, v in claims.items() if v is not None})
    body.update({k: v for k, v in claims.items() if v is None})
    token = pyjwt.encode(
        body, signers["ES256"].private, algorithm="ES256", headers={"kid": "es-1", "typ": "at+jwt"}
    )
    assert _verdict(verifier, token) is expected


def test_roles_and_scopes_sets(verifier, signers):
    token = verifier.verify(mint(signers["ES256"], roles="viewer", scp=["a", "b"], scope="c d"))
    assert token.roles == {"viewer"}
    assert token.scopes == {"a", "b", "c", "d"}


def test_remembered_role_lists_vouch_for_no_look_alike(verifier, signers):
    """Role lists are remembered per issuer once checked (a pure function of the list): the
    same list gives the same set, and lists that equal none remembered (a non-string
    member, an unhashable one, another order or length) are checked from scratch."""
    es = signers["ES256"]
    first = verifier.verify(mint(es, roles=["viewer", "op"]))
    again = verifier.verify(mint(es, roles=["viewer", "op"]))
    assert first.roles == again.roles == {"viewer", "op"}
    assert verifier.verify(mint(es, roles=["op", "viewer", "op"])).roles == {"viewer", "op"}
    assert verifier.verify(mint(es, roles=["viewer"])).roles == {"viewer"}
    assert _verdict(verifier, mint(es, roles=["viewer", 1])) is Reason.INVALID_CLAIM
    assert _verdict(verifier, mint(es, roles=["viewer", ["op"]])) is Reason.INVALID_CLAIM
    assert _verdict(verifier, mint(es, roles=["viewer", True])) is Reason.INVALID_CLAIM
    assert _verdict(verifier, mint(es, roles=["viewer", None])) is Reason.INVALID_CLAIM
