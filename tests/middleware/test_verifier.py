"""One forged token per refusal rule (RFC 8725 §3, RFC 7515 §4-5, RFC 7519 §7.2, RFC 9068 §4).

Every token is built by ``forge`` (raw ``cryptography`` + stdlib) or PyJWT, never by the code
under test. Each must be refused with a 401-class ``InvalidToken`` and the stated reason;
nothing may escape as another exception type (that would be a 500 in a web service).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authbridge.middleware import (
    InvalidToken,
    IssuerTrust,
    JwksPolicy,
    Reason,
    TokenError,
    TokenTypeRule,
    TokenVerifier,
    VerifierConfig,
)

from .conftest import FakeClock, JwksServer, make_verifier
from .forge import (
    AUDIENCE,
    ISSUER,
    OTHER_ISSUER,
    Signer,
    access_claims,
    at_header,
    b64,
    b64json,
    compact,
    hs256,
)

Forge = Callable[[dict[str, Signer]], str]


def _es(s: dict[str, Signer]) -> Signer:
    return s["ES256"]


def _with_header(**params: object) -> Forge:
    return lambda s: compact(at_header(_es(s), **params), access_claims(), _es(s))


def _none_token(s: dict[str, Signer]) -> str:
    return f"{b64json({'alg': 'none', 'typ': 'at+jwt'})}.{b64json(access_claims())}.AAAA"


def _none_unsigned(s: dict[str, Signer]) -> str:
    return f"{b64json({'alg': 'none'})}.{b64json(access_claims())}."


def _hs256_with_rsa_public(s: dict[str, Signer]) -> str:
    # The classic confusion: HMAC keyed with the PEM of the issuer's RSA public key.
    rsa_signer = s["RS256"]
    header = {"alg": "HS256", "kid": rsa_signer.kid, "typ": "at+jwt"}
    return hs256(header, access_claims(), rsa_signer.public_pem())


def _hs256_with_jwk_x(s: dict[str, Signer]) -> str:
    ec_signer = _es(s)
    header = {"alg": "HS256", "kid": ec_signer.kid, "typ": "at+jwt"}
    return hs256(header, access_claims(), json.dumps(ec_signer.jwk()).encode())


def _ps256_not_allowed(s: dict[str, Signer]) -> str:
    r = s["RS256"]
    return compact(at_header(r, alg="PS256"), access_claims(), r, alg="PS256")


def _es384_not_allowed(s: dict[str, Signer]) -> str:
    key = ec.generate_private_key(ec.SECP384R1())
    signer = Signer("ES384", "es-384", key)
    return compact(at_header(signer), access_claims(), signer)


def _embedded_jwk(s: dict[str, Signer]) -> str:
    # Self-signed with the attacker's key, which the header offers as the verification key.
    attacker = Signer("ES256", "es-1", ec.generate_private_key(ec.SECP256R1()))
    return compact(at_header(attacker, jwk=attacker.jwk()), access_claims(), attacker)


def _x5c(s: dict[str, Signer]) -> str:
    return compact(at_header(_es(s), x5c=["MIIBszCCAVmgAwIBAgIU"]), access_claims(), _es(s))


def _kid(kid: str) -> Forge:
    return lambda s: compact(at_header(_es(s), kid=kid), access_claims(), _es(s))


def _unknown_signer_same_kid(s: dict[str, Signer]) -> str:
    attacker = Signer("ES256", "es-1", ec.generate_private_key(ec.SECP256R1()))
    return compact(at_header(attacker), access_claims(), attacker)


def _rsa_kid_with_es_alg(s: dict[str, Signer]) -> str:
    # ES256 header pointing at the RSA key: the key cannot serve that algorithm.
    return compact(at_header(_es(s), kid=s["RS256"].kid), access_claims(), _es(s))


def _flip_signature(s: dict[str, Signer]) -> str:
    token = compact(at_header(_es(s)), access_claims(), _es(s))
    head, _, sig = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 0x01
    return f"{head}.{b64(bytes(raw))}"


def _der_signature(s: dict[str, Signer]) -> str:
    # RFC 7518 §3.4: R||S, not the DER that OpenSSL emits.
    signer = _es(s)
    h, p = b64json(at_header(signer)), b64json(access_claims())
    from cryptography.hazmat.primitives import hashes

    der = signer.private.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    return f"{h}.{p}.{b64(der)}"


def _tampered_payload(s: dict[str, Signer]) -> str:
    token = compact(at_header(_es(s)), access_claims(), _es(s))
    h, _, sig = token.split(".")
    return f"{h}.{b64json(access_claims(sub='admin'))}.{sig}"


def _id_token_as_access(s: dict[str, Signer]) -> str:
    claims = access_claims(nonce="n-0S6_WzA2Mj", at_hash="77QmUPtjPfzWtF2AnpK9RQ", scope=None)
    claims.pop("client_id")
    return pyjwt.encode(
        claims, _es(s).private, algorithm="ES256", headers={"kid": "es-1", "typ": "JWT"}
    )


def _wrong_aud(s: dict[str, Signer]) -> str:
    return compact(at_header(_es(s)), access_claims(aud="api://other"), _es(s))


def _multi_aud_no_azp(s: dict[str, Signer]) -> str:
    return compact(at_header(_es(s)), access_claims(aud=[AUDIENCE, "api://other"]), _es(s))


def _multi_aud_wrong_azp(s: dict[str, Signer]) -> str:
    claims = access_claims(aud=[AUDIENCE, "api://other"], azp="api://other")
    return compact(at_header(_es(s)), claims, _es(s))


def _expired(s: dict[str, Signer]) -> str:
    from .forge import NOW

    return compact(at_header(_es(s)), access_claims(exp=NOW - 1, iat=NOW - 100), _es(s))


def _unknown_issuer(s: dict[str, Signer]) -> str:
    return compact(at_header(_es(s)), access_claims(iss="https://evil.example"), _es(s))


def _raw(header: str, payload: str, sig: str = "c2ln") -> Forge:
    return lambda s: f"{header}.{payload}.{sig}"


_GOOD_H = b64json({"alg": "ES256", "kid": "es-1", "typ": "at+jwt"})
_GOOD_P = b64json(access_claims())


def _signed_raw_header(header_json: bytes) -> Forge:
    def build(s: dict[str, Signer]) -> str:
        h = b64(header_json)
        return compact(h, access_claims(), _es(s))

    return build


def _signed_raw_payload(payload_json: bytes) -> Forge:
    def build(s: dict[str, Signer]) -> str:
        return compact(at_header(_es(s)), b64(payload_json), _es(s))

    return build


FORGED: list[tuple[str, Forge, set[Reason]]] = [
    # alg none and algorithm confusion (RFC 8725 §3.1, §3.2)
    ("alg-none", _none_token, {Reason.UNSUPPORTED_ALG}),
    ("alg-none-empty-signature", _none_unsigned, {Reason.MALFORMED}),
    ("alg-None-case", _with_header(alg="None"), {Reason.UNSUPPORTED_ALG}),
    ("hs256-keyed-with-rsa-public-pem", _hs256_with_rsa_public, {Reason.UNSUPPORTED_ALG}),
    ("hs256-keyed-with-ec-jwk", _hs256_with_jwk_x, {Reason.UNSUPPORTED_ALG}),
    ("ps256-outside-allow-list", _ps256_not_allowed, {Reason.ALG_NOT_ALLOWED}),
    ("es384-outside-allow-list", _es384_not_allowed, {Reason.ALG_NOT_ALLOWED}),
    ("alg-not-a-string", _with_header(alg=["ES256"]), {Reason.MALFORMED}),
    # key-bearing headers are never followed (RFC 8725 §3.10, RFC 7515 §4.1.2-4.1.6)
    ("jku", _with_header(jku="https://evil.example/jwks"), {Reason.FORBIDDEN_HEADER}),
    ("x5u", _with_header(x5u="https://evil.example/cert.pem"), {Reason.FORBIDDEN_HEADER}),
    ("jwk", _embedded_jwk, {Reason.FORBIDDEN_HEADER}),
    ("x5c", _x5c, {Reason.FORBIDDEN_HEADER}),
    # RFC 7515 §4.1.11
    ("crit-unknown", _with_header(crit=["exp-ext"], **{"exp-ext": 1}), {Reason.UNKNOWN_CRIT}),
    ("crit-b64", _with_header(crit=["b64"], b64=False), {Reason.UNKNOWN_CRIT}),
    # kid tricks are just unknown kids
    ("kid-path-traversal", _kid("../../../../etc/passwd"), {Reason.UNKNOWN_KID}),
    ("kid-sql", _kid("' UNION SELECT 'secret' --"), {Reason.UNKNOWN_KID}),
    ("kid-nul", _kid("es-1\x00"), {Reason.UNKNOWN_KID}),
    ("kid-huge", _kid("k" * 5000), {Reason.UNKNOWN_KID, Reason.HEADER_TOO_LARGE}),
    ("kid-not-string", _with_header(kid=1), {Reason.MALFORMED}),
    ("kid-of-rsa-key-with-es256", _rsa_kid_with_es_alg, {Reason.UNKNOWN_KID}),
    # signatures
    ("attacker-key-known-kid", _unknown_signer_same_kid, {Reason.BAD_SIGNATURE}),
    ("flipped-signature-bit", _flip_signature, {Reason.BAD_SIGNATURE}),
    ("ecdsa-der-signature", _der_signature, {Reason.BAD_SIGNATURE}),
    ("tampered-payload", _tampered_payload, {Reason.BAD_SIGNATURE}),
    # token type (RFC 9068 §4) and claims (RFC 7519 §7.2)
    ("id-token-as-access-token", _id_token_as_access, {Reason.WRONG_TOKEN_TYPE}),
    ("typ-jwt", _with_header(typ="JWT"), {Reason.WRONG_TOKEN_TYPE}),
    ("typ-missing", _with_header(typ=None), {Reason.WRONG_TOKEN_TYPE}),
    ("wrong-aud", _wrong_aud, {Reason.WRONG_AUDIENCE}),
    ("multi-aud-without-azp", _multi_aud_no_azp, {Reason.WRONG_AZP}),
    ("multi-aud-wrong-azp", _multi_aud_wrong_azp, {Reason.WRONG_AZP}),
    ("expired", _expired, {Reason.EXPIRED}),
    ("unknown-issuer", _unknown_issuer, {Reason.UNKNOWN_ISSUER}),
    # malformed, every shape (RFC 7515 §7.1, RFC 7519 §7.2 steps 1-10)
    ("empty", lambda s: "", {Reason.MALFORMED}),
    ("one-segment", lambda s: _GOOD_H, {Reason.MALFORMED}),
    ("two-segments", lambda s: f"{_GOOD_H}.{_GOOD_P}", {Reason.MALFORMED}),
    ("four-segments", lambda s: f"{_GOOD_H}.{_GOOD_P}.c2ln.c2ln", {Reason.MALFORMED}),
    ("jwe-five-segments", lambda s: "a.b.c.d.e", {Reason.MALFORMED}),
    ("empty-header", _raw("", _GOOD_P), {Reason.MALFORMED}),
    ("bad-base64-char", _raw(_GOOD_H[:-1] + "!", _GOOD_P), {Reason.MALFORMED}),
    ("base64-padding", _raw(_GOOD_H + "==", _GOOD_P), {Reason.MALFORMED}),
    ("base64-standard-alphabet", _raw(_GOOD_H, _GOOD_P, "c2l+/w"), {Reason.MALFORMED}),
    ("base64-length-mod-4-is-1", _raw(_GOOD_H, _GOOD_P, "c2lnA"), {Reason.MALFORMED}),
    ("base64-noncanonical-bits", _raw(_GOOD_H, _GOOD_P, "c2lnAB"), {Reason.MALFORMED}),
    ("non-ascii", _raw(_GOOD_H, _GOOD_P, "sïg"), {Reason.MALFORMED}),
    ("whitespace", _raw(_GOOD_H, _GOOD_P, "c2 ln"), {Reason.MALFORMED}),
    ("header-not-json", _raw(b64(b"{alg:ES256}"), _GOOD_P), {Reason.MALFORMED}),
    ("header-json-array", _raw(b64json(["ES256"]), _GOOD_P), {Reason.MALFORMED}),
    ("header-invalid-utf8", _raw(b64(b'{"alg":"\xff"}'), _GOOD_P), {Reason.MALFORMED}),
    (
        "header-duplicate-alg",
        _signed_raw_header(b'{"alg":"none","alg":"ES256","kid":"es-1","typ":"at+jwt"}'),
        {Reason.MALFORMED},
    ),
    (
        "header-oversized",
        _raw(b64json({"alg": "ES256", "pad": "x" * 2000}), _GOOD_P),
        {Reason.HEADER_TOO_LARGE},
    ),
    ("token-oversized", _raw(_GOOD_H, "A" * 20000), {Reason.TOKEN_TOO_LARGE}),
    ("payload-not-json", _raw(_GOOD_H, b64(b"not json")), {Reason.MALFORMED}),
    ("payload-json-array", _raw(_GOOD_H, b64json([1, 2])), {Reason.MALFORMED}),
    ("payload-deep-nesting", _raw(_GOOD_H, b64(b"[" * 6000)), {Reason.MALFORMED}),
    (
        "payload-nan",
        _signed_raw_payload(b'{"iss":"' + ISSUER.encode() + b'","exp":NaN}'),
        {Reason.MALFORMED},
    ),
    (
        "payload-exp-infinite",
        _signed_raw_payload(
            json.dumps(access_claims()).replace('"exp": ', '"exp": 1e400, "x": ').encode()
        ),
        {Reason.INVALID_CLAIM},
    ),
    (
        "payload-exp-string",
        lambda s: compact(at_header(_es(s)), access_claims(exp="9999999999"), _es(s)),
        {Reason.INVALID_CLAIM},
    ),
    (
        "payload-exp-bool",
        lambda s: compact(at_header(_es(s)), access_claims(exp=True), _es(s)),
        {Reason.INVALID_CLAIM},
    ),
    (
        "payload-no-sub",
        lambda s: compact(at_header(_es(s)), access_claims(sub=None), _es(s)),
        {Reason.MISSING_CLAIM},
    ),
    ("not-a-string", lambda s: b"a.b.c", {Reason.MALFORMED}),  # type: ignore[return-value,arg-type]
]


@pytest.mark.parametrize(("name", "forge", "reasons"), FORGED, ids=[f[0] for f in FORGED])
def test_forged_token_is_refused(
    name: str, forge: Forge, reasons: set[Reason], verifier: TokenVerifier, signers
) -> None:
    token = forge(signers)
    with pytest.raises(InvalidToken) as info:
        verifier.verify(token)
    assert info.value.reason in reasons
    assert info.value.status == 401
    assert info.value.error == "invalid_token"


@pytest.mark.parametrize(("name", "forge", "reasons"), FORGED, ids=[f[0] for f in FORGED])
def test_forged_token_is_refused_async(
    name: str, forge: Forge, reasons: set[Reason], verifier: TokenVerifier, signers
) -> None:
    with pytest.raises(InvalidToken) as info:
        asyncio.run(verifier.averify(forge(signers)))
    assert info.value.reason in reasons


def test_error_message_never_echoes_the_token(verifier: TokenVerifier, signers) -> None:
    token = _kid("<script>alert(1)</script>")(signers)
    with pytest.raises(TokenError) as info:
        verifier.verify(token)
    assert "script" not in str(info.value) and "script" not in info.value.description


def test_valid_tokens_of_each_algorithm_verify(verifier: TokenVerifier, signers) -> None:
    for signer in signers.values():
        token = verifier.verify(compact(at_header(signer), access_claims(), signer))
        assert token.subject == "user-123"
        assert token.scopes == {"openid", "read:dags", "write:dags"}
        assert token.roles == {"viewer"}
        assert token.principal == "jane@example.com"


def test_pyjwt_minted_token_verifies(verifier: TokenVerifier, signers) -> None:
    for alg in ("ES256", "RS256", "EdDSA"):
        signer = signers[alg]
        token = pyjwt.encode(
            access_claims(),
            signer.private,
            algorithm=alg,
            headers={"kid": signer.kid, "typ": "at+jwt"},
        )
        assert verifier.verify(token).issuer == ISSUER


def test_issuer_a_token_signed_with_issuer_b_key_is_refused(clock: FakeClock, signers) -> None:
    """RFC 8725 §3.8: a key only vouches for its own issuer, even when kids collide."""
    a_key = signers["ES256"]
    b_key = Signer("ES256", "es-1", ec.generate_private_key(ec.SECP256R1()))  # same kid!
    b_only = Signer("ES256", "b-only", ec.generate_private_key(ec.SECP256R1()))
    server_a, server_b = JwksServer(), JwksServer()
    try:
        server_a.document = {"keys": [a_key.jwk()]}
        server_b.document = {"keys": [b_key.jwk(), b_only.jwk()]}
        config = VerifierConfig(
            (
                IssuerTrust(ISSUER, (server_a.url,), (AUDIENCE,), clock_tolerance=0),
                IssuerTrust(OTHER_ISSUER, (server_b.url,), (AUDIENCE,), clock_tolerance=0),
            )
        )
        verifier = TokenVerifier(config, clock=clock)
        # Both issuers' own tokens are fine.
        verifier.verify(compact(at_header(a_key), access_claims(), a_key))
        verifier.verify(compact(at_header(b_key), access_claims(iss=OTHER_ISSUER), b_key))
        for signer in (b_key, b_only):
            with pytest.raises(InvalidToken) as info:
                verifier.verify(compact(at_header(signer), access_claims(iss=ISSUER), signer))
            assert info.value.reason in {Reason.BAD_SIGNATURE, Reason.UNKNOWN_KID}
    finally:
        server_a.close()
        server_b.close()


def test_access_token_presented_as_id_token_is_refused(
    jwks_server: JwksServer, clock: FakeClock, signers
) -> None:
    verifier = make_verifier(jwks_server.url, clock, token_type=TokenTypeRule.id_token())
    signer = signers["ES256"]
    with pytest.raises(InvalidToken) as info:
        verifier.verify(compact(at_header(signer), access_claims(), signer))
    assert info.value.reason is Reason.WRONG_TOKEN_TYPE
    # An access token stripped of typ is still recognisable by its scope/client_id claims.
    with pytest.raises(InvalidToken) as info:
        verifier.verify(compact(at_header(signer, typ="JWT"), access_claims(), signer))
    assert info.value.reason is Reason.WRONG_TOKEN_TYPE
    id_claims = access_claims(scope=None, client_id=None, nonce="abc", auth_time=1)
    token = verifier.verify(compact(at_header(signer, typ="JWT"), id_claims, signer))
    assert token.kind == "id"


def test_weak_rsa_key_in_jwks_is_ignored(clock: FakeClock) -> None:
    weak = Signer("RS256", "weak", rsa.generate_private_key(65537, 1024))
    server = JwksServer()
    try:
        server.document = {"keys": [weak.jwk()]}
        verifier = make_verifier(server.url, clock, policy=JwksPolicy())
        with pytest.raises(InvalidToken) as info:
            verifier.verify(compact(at_header(weak), access_claims(), weak))
        assert info.value.reason is Reason.UNKNOWN_KID
    finally:
        server.close()
