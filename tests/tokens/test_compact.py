"""The fast signer against joserfc and PyJWT (differential): same bytes for RS256 (PKCS#1
v1.5 is deterministic), and for ES256 signatures both libraries accept (RFC 7518 §3.4)."""

from __future__ import annotations

import json
from base64 import urlsafe_b64decode
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import BadSignatureError

from authbridge.tokens.compact import TOKEN_TYPES
from authbridge.tokens.keys import KeyMaterial, generate

CLAIMS: dict[str, Any] = {
    "iss": "https://auth.example.com",
    "aud": ["a", "b"],
    "iat": 1_700_000_000,
    "exp": 4_000_000_000,  # far ahead: PyJWT checks it
    "jti": "0f" * 16,
    "client_id": "etl",
    "sub": "u-1",
    "name": 'Zoë Ærø 名前 \u2028 "quoted" \\ </script>',
    "email_verified": True,
    "groups": [],
    "amr": ["pwd", "otp"],
}


@pytest.fixture(scope="module", params=["ES256", "RS256"])
def material(request: pytest.FixtureRequest) -> KeyMaterial:
    return generate(request.param)


def _segments(token: str) -> list[bytes]:
    return [urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")]


@pytest.mark.parametrize("typ", [*TOKEN_TYPES, "logout+jwt"])
def test_joserfc_and_pyjwt_verify_the_token(material: KeyMaterial, typ: str) -> None:
    token = material.signer.sign(typ, CLAIMS)
    decoded = jwt.decode(token, material.key, algorithms=[material.alg])
    assert decoded.claims == CLAIMS
    assert decoded.header == {"typ": typ, "alg": material.alg, "kid": material.kid}
    public = pyjwt.PyJWK.from_dict(material.public_jwk)
    assert pyjwt.decode(token, public, algorithms=[material.alg], audience="a") == CLAIMS


@pytest.mark.parametrize("typ", TOKEN_TYPES)
def test_header_and_payload_bytes_are_joserfcs(material: KeyMaterial, typ: str) -> None:
    """The same header and claims segments as joserfc's jwt.encode; for RS256 the whole
    token, signature included."""
    ours = material.signer.sign(typ, CLAIMS)
    header = {"alg": material.alg, "kid": material.kid, "typ": typ}
    theirs = jwt.encode(header, CLAIMS, material.key, algorithms=[material.alg])
    if material.alg == "RS256":
        assert ours == theirs
    else:
        assert ours.split(".")[:2] == theirs.split(".")[:2]


def test_es256_signature_is_raw_r_s_and_verifies_for_any_r_s() -> None:
    """R || S, 64 octets, each left-padded (RFC 7518 §3.4): over 512 signatures some R or S
    has a leading zero octet (probability ~98%); every one must verify under joserfc."""
    material = generate("ES256")
    for index in range(512):
        token = material.signer.sign("at+jwt", {**CLAIMS, "iat": index})
        assert len(_segments(token)[2]) == 64
        jwt.decode(token, material.key, algorithms=["ES256"])


def test_a_changed_payload_or_header_does_not_verify(material: KeyMaterial) -> None:
    token = material.signer.sign("at+jwt", CLAIMS)
    header, payload, signature = token.split(".")
    forged_claims = {**CLAIMS, "sub": "admin"}
    forged = material.signer.sign("at+jwt", forged_claims).split(".")[1]
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged}.{signature}", material.key, algorithms=[material.alg])
    other = material.signer.sign("JWT", CLAIMS).split(".")[0]
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{other}.{payload}.{signature}", material.key, algorithms=[material.alg])


def test_a_key_of_the_wrong_type_is_refused() -> None:
    from authbridge.tokens.compact import CompactSigner

    es = generate("ES256")
    rs = generate("RS256")
    with pytest.raises(ValueError):
        CompactSigner(rs.signer._private, "ES256", "k")
    with pytest.raises(ValueError):
        CompactSigner(es.signer._private, "RS256", "k")
    with pytest.raises(ValueError):
        CompactSigner(es.signer._private, "HS256", "k")
    with pytest.raises(ValueError):  # RFC 7518 §3.4: ES256 is P-256 only
        CompactSigner(ec.generate_private_key(ec.SECP384R1()), "ES256", "k")


def test_payload_is_compact_utf8_json(material: KeyMaterial) -> None:
    payload = _segments(material.signer.sign("JWT", CLAIMS))[1]
    assert payload == json.dumps(CLAIMS, ensure_ascii=False, separators=(",", ":")).encode()
