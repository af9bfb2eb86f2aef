"""Each ID token check of OIDC Core §3.1.3.7 / §3.2.2.11, attacked with forged tokens."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from authbridge.connectors.errors import IdTokenInvalid
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.idtoken import IdTokenChecks, validate_id_token
from authbridge.connectors.jwks import IdpKeys
from authbridge.middleware import JwksPolicy
from authbridge.middleware.hashes import half_hash
from tests.connectors.conftest import StaticIdp
from tests.connectors.forge import Signer, hmac_signed, unsigned
from tests.middleware.bad_keys import bad_keys

DATA = Path(__file__).parents[1] / "data" / "connectors"
CLIENT = "client-abc"
NONCE = "n-0S6_WzA2Mj"


@pytest.fixture
def signer(static_idp: StaticIdp) -> Signer:
    signer = Signer(static_idp.url, CLIENT)
    static_idp.routes["/jwks"] = signer.jwks()
    return signer


@pytest.fixture
def keys(static_idp: StaticIdp) -> IdpKeys:
    return IdpKeys(OutboundHttp({}), lambda: static_idp.url + "/jwks", name="test")


def checks(signer: Signer, **overrides: object) -> IdTokenChecks:
    values: dict[str, object] = {
        "issuer": signer.issuer,
        "client_id": CLIENT,
        "nonce": NONCE,
        "allowed_algs": {"RS256", "ES256"},
    }
    values.update(overrides)
    return IdTokenChecks(**values)  # type: ignore[arg-type]


def rejected(token: str, keys: IdpKeys, signer: Signer, **overrides: object) -> str:
    with pytest.raises(IdTokenInvalid) as info:
        validate_id_token(token, keys, checks(signer, **overrides))
    return info.value.reason


def test_a_valid_token_gives_its_claims(signer: Signer, keys: IdpKeys) -> None:
    claims = validate_id_token(signer.sign(signer.claims()), keys, checks(signer))
    assert claims["sub"] == "user-1" and claims["email"] == "ada@example.com"


def test_hashes_match_the_spec_examples() -> None:
    data = json.loads((DATA / "oidc-core-hashes.json").read_text())
    for example in data["examples"]:
        assert half_hash(example["value"], data["alg"]) == example["hash"]


def test_signature_by_another_key_is_refused(signer: Signer, keys: IdpKeys) -> None:
    impostor = Signer(signer.issuer, CLIENT, kid=signer.kid)
    assert "signature" in rejected(impostor.sign(signer.claims()), keys, signer)


def test_changed_payload_is_refused(signer: Signer, keys: IdpKeys) -> None:
    header, _, sig = signer.sign(signer.claims()).split(".")
    other = Signer(signer.issuer, CLIENT).sign(signer.claims(sub="admin")).split(".")[1]
    assert "signature" in rejected(f"{header}.{other}.{sig}", keys, signer)


def test_alg_none_is_refused_before_any_key_lookup(
    signer: Signer, keys: IdpKeys, static_idp: StaticIdp
) -> None:
    assert "'none'" in rejected(unsigned(signer.claims()), keys, signer)
    assert static_idp.count("/jwks") == 0


def test_hs256_keyed_with_the_public_key_is_refused(signer: Signer, keys: IdpKeys) -> None:
    public_pem = signer.key.as_pem(private=False)
    for secret in (public_pem, json.dumps(signer.jwk()).encode()):
        token = hmac_signed(signer.claims(), secret)
        assert "'HS256'" in rejected(token, keys, signer)
    # Even when an operator's allow-list names HS256, the HMAC family stays refused.
    token = hmac_signed(signer.claims(), public_pem)
    assert "'HS256'" in rejected(token, keys, signer, allowed_algs={"HS256", "RS256"})


def test_alg_outside_the_providers_list_is_refused(signer: Signer, keys: IdpKeys) -> None:
    assert "'RS256'" in rejected(signer.sign(signer.claims()), keys, signer, allowed_algs={"ES256"})


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.example"}, "`iss`"),
        ({"aud": "another-client"}, "`aud`"),
        ({"aud": [CLIENT, "another-client"]}, "no `azp`"),
        ({"aud": [CLIENT, "another-client"], "azp": "another-client"}, "`azp`"),
        ({"azp": "another-client"}, "`azp`"),
        ({"nonce": "replayed-nonce"}, "`nonce`"),
        ({"nonce": None}, "`nonce`"),
        ({"nonce": "\u00e9t\u00e9"}, "`nonce`"),  # hmac.compare_digest refuses non-ASCII str
        ({"nonce": NONCE + "\u0301"}, "`nonce`"),
        ({"exp": None}, "`exp`"),
        ({"iat": None}, "`iat`"),
        ({"exp": "tomorrow"}, "`exp`"),
        ({"sub": None}, "`sub`"),
    ],
)
def test_claim_checks(
    signer: Signer, keys: IdpKeys, claims: dict[str, object], reason: str
) -> None:
    assert reason in rejected(signer.sign(signer.claims(**claims)), keys, signer)


def test_issuer_must_match_to_the_byte(signer: Signer, keys: IdpKeys) -> None:
    token = signer.sign(signer.claims(iss=signer.issuer + "/"))
    assert "`iss`" in rejected(token, keys, signer)


def test_several_audiences_with_our_azp_pass(signer: Signer, keys: IdpKeys) -> None:
    token = signer.sign(signer.claims(aud=[CLIENT, "api"], azp=CLIENT))
    assert validate_id_token(token, keys, checks(signer))["azp"] == CLIENT


def test_expiry_within_tolerance_passes_and_past_it_fails(signer: Signer, keys: IdpKeys) -> None:
    now = time.time()
    token = signer.sign(signer.claims(exp=int(now) - 20, iat=int(now) - 600))
    assert validate_id_token(token, keys, checks(signer, clock_tolerance=30))
    with pytest.raises(IdTokenInvalid, match="not accepted"):
        validate_id_token(token, keys, checks(signer, clock_tolerance=10))
    assert "expired" in rejected(token, keys, signer)


def test_issued_in_the_future_fails_past_tolerance(signer: Signer, keys: IdpKeys) -> None:
    now = time.time()
    token = signer.sign(signer.claims(iat=int(now) + 120, exp=int(now) + 600))
    assert "`iat`" in rejected(token, keys, signer, clock_tolerance=60)
    assert validate_id_token(token, keys, checks(signer, clock_tolerance=180))
    early = signer.sign(signer.claims(nbf=int(now) + 120))
    assert "`nbf`" in rejected(early, keys, signer)


def test_at_hash_must_match_the_access_token(signer: Signer, keys: IdpKeys) -> None:
    access = secrets.token_urlsafe(32)
    good = signer.sign(signer.claims(at_hash=signer.at_hash(access)))
    assert validate_id_token(
        good, keys, checks(signer, access_token=access, access_token_hash_required=True)
    )
    bad = signer.sign(signer.claims(at_hash=signer.at_hash("another-token")))
    assert "`at_hash`" in rejected(bad, keys, signer, access_token=access)
    missing = signer.sign(signer.claims())
    reason = rejected(missing, keys, signer, access_token=access, access_token_hash_required=True)
    assert "`at_hash` claim is missing" in reason


@pytest.mark.parametrize(
    ("at_hash", "access"),
    [("\u00e9t\u00e9", "at-1"), (None, "at-\u00e9"), ("\u00e9", "at-\u00e9")],
    ids=["non-ascii-claim", "non-ascii-token", "both"],
)
def test_non_ascii_hash_or_token_is_a_mismatch_not_a_crash(
    signer: Signer, keys: IdpKeys, at_hash: str | None, access: str
) -> None:
    """§3.1.3.6 hashes ASCII octets; RFC 6749 §A.12 allows only printable ASCII tokens."""
    token = signer.sign(signer.claims(at_hash=at_hash or signer.at_hash("at-")))
    assert "`at_hash`" in rejected(token, keys, signer, access_token=access)


def test_c_hash_must_match_the_code(signer: Signer, keys: IdpKeys) -> None:
    bad = signer.sign(signer.claims(c_hash=half_hash("other-code", "RS256")))
    assert "`c_hash`" in rejected(bad, keys, signer, code="the-code", code_hash_required=True)
    missing = signer.sign(signer.claims())
    assert "missing" in rejected(missing, keys, signer, code="the-code", code_hash_required=True)


def test_es256_tokens_verify(static_idp: StaticIdp, keys: IdpKeys) -> None:
    signer = Signer(static_idp.url, CLIENT, kid="ec1", alg="ES256")
    static_idp.routes["/jwks"] = signer.jwks()
    token = signer.sign(signer.claims(at_hash=signer.at_hash("tok")))
    assert validate_id_token(token, keys, checks(signer, access_token="tok"))["sub"] == "user-1"


def test_unknown_kid_flood_refetches_at_most_once_per_cooldown(
    signer: Signer, keys: IdpKeys, static_idp: StaticIdp
) -> None:
    keys.policy = JwksPolicy(cooldown=3600.0)
    validate_id_token(signer.sign(signer.claims()), keys, checks(signer))
    assert static_idp.count("/jwks") == 1
    for _ in range(50):
        token = signer.sign(signer.claims(), header={"kid": secrets.token_hex(8)})
        assert "kid" in rejected(token, keys, signer)
    # The middleware's rule: the first unknown kid may refetch at once (a key rotated just
    # after start-up), every other waits for the cool-down.
    assert static_idp.count("/jwks") == 2


def test_a_rotated_key_is_found_by_one_refetch(
    signer: Signer, keys: IdpKeys, static_idp: StaticIdp
) -> None:
    validate_id_token(signer.sign(signer.claims()), keys, checks(signer))
    rotated = Signer(signer.issuer, CLIENT, kid="k2")
    static_idp.routes["/jwks"] = {"keys": [signer.jwk(), rotated.jwk()]}
    assert validate_id_token(rotated.sign(rotated.claims()), keys, checks(signer))
    assert static_idp.count("/jwks") == 2


def test_a_jwks_with_private_keys_is_not_used(
    signer: Signer, keys: IdpKeys, static_idp: StaticIdp
) -> None:
    static_idp.routes["/jwks"] = {"keys": [{**signer.key.as_dict(private=True), "kid": "k1"}]}
    assert "kid" in rejected(signer.sign(signer.claims()), keys, signer)


def test_garbage_is_refused_not_crashed(signer: Signer, keys: IdpKeys) -> None:
    for token in ("", "a.b", "a.b.c", "!!!.???.***", "e30.e30.e30", "x" * 20000):
        rejected(token, keys, signer)


def test_bad_signatures_on_a_known_kid_refetch_at_most_once_per_cooldown(
    signer: Signer, keys: IdpKeys, static_idp: StaticIdp
) -> None:
    keys.policy = JwksPolicy(cooldown=3600.0)
    validate_id_token(signer.sign(signer.claims()), keys, checks(signer))
    impostor = Signer(signer.issuer, CLIENT, kid=signer.kid)
    for _ in range(20):
        assert "signature" in rejected(impostor.sign(signer.claims()), keys, signer)
    assert static_idp.count("/jwks") == 1


@pytest.mark.parametrize("kind", sorted(bad_keys({"y": ""})))
def test_a_bad_key_beside_the_good_one_is_skipped(
    static_idp: StaticIdp, keys: IdpKeys, kind: str
) -> None:
    """Issue 10, defect 10, through the one JWKS cache the connectors now share with the
    middleware: the IdP's good key keeps signing people in."""
    signer = Signer(static_idp.url, CLIENT, kid="ec1", alg="ES256")
    good = signer.jwk()
    bad = bad_keys(good)[kind]
    static_idp.routes["/jwks"] = {"keys": [bad, good, bad]}
    assert validate_id_token(signer.sign(signer.claims()), keys, checks(signer))["sub"] == "user-1"
    assert static_idp.count("/jwks") == 1
