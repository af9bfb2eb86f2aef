"""JWK parsing rules: RFC 7517 §4, RFC 7518 §6 and §3.3-3.4, RFC 8037 §2."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from authbridge.middleware.keys import (
    JwkError,
    load_jwk,
    load_jwks,
    raw_to_der,
    signature_octets,
)

from .forge import Signer


def test_algorithms_bound_to_key_type(signers) -> None:
    es = signers["ES256"].jwk()
    es.pop("alg")
    assert set(load_jwk(es).verifiers) == {"ES256"}  # P-256 serves ES256 only
    rs = signers["RS256"].jwk()
    rs.pop("alg")
    assert set(load_jwk(rs).verifiers) == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert set(load_jwk(signers["RS256"].jwk()).verifiers) == {"RS256"}  # JWK alg narrows
    assert set(load_jwk(signers["EdDSA"].jwk()).verifiers) == {"EdDSA"}


@pytest.mark.parametrize(
    "mutate",
    [
        lambda j: j.update(d="AAAA"),  # private material
        lambda j: j.update(use="enc"),
        lambda j: j.update(key_ops=["encrypt"]),
        lambda j: j.update(alg="RS256"),  # EC key claiming RSA alg
        lambda j: j.update(crv="P-384"),  # coordinates of the wrong length
        lambda j: j.update(x=j["y"]),  # not on the curve
        lambda j: j.update(kty="oct", k="c2VjcmV0"),
        lambda j: j.update(kid=5),
    ],
)
def test_unusable_keys_are_refused(signers, mutate) -> None:
    jwk = signers["ES256"].jwk()
    mutate(jwk)
    with pytest.raises(JwkError):
        load_jwk(jwk)


def test_key_set_skips_bad_keys_and_bounds_size(signers) -> None:
    good = signers["ES256"].jwk()
    keys = load_jwks({"keys": [{"kty": "nope"}, good, "junk"]})
    assert [k.kid for k in keys] == ["es-1"]
    many = [
        Signer("ES256", f"k{i}", ec.generate_private_key(ec.SECP256R1())).jwk() for i in range(5)
    ]
    assert len(load_jwks({"keys": many}, max_keys=3)) == 3
    with pytest.raises(JwkError):
        load_jwks({"keys": "nope"})


@pytest.mark.parametrize(("alg", "size"), [("ES256", 32), ("ES384", 48), ("ES512", 66)])
def test_raw_to_der_matches_cryptography_encoder(alg: str, size: int) -> None:
    """RFC 7518 §3.4 R || S to RFC 3279 DER, against ``encode_dss_signature``: zero, high
    bit set (needs a 0x00), leading zero octets (must be stripped), all-ones, random, and
    ES512 lengths that need the long form of the SEQUENCE length (X.690 §8.1.3). Both the
    general conversion and the fixed-shape one ``signature_octets`` takes when neither
    value starts with a zero octet, on every combination of top bits."""
    top = (1 << (8 * size)) - 1
    values = [0, 1, 0x7F, 0x80, 0xFF, 0x100, 1 << (8 * size - 1), (1 << (8 * size - 1)) - 1, top]
    values += [int.from_bytes(os.urandom(size), "big") >> shift for shift in (0, 8, 9, 17)]
    # Full-length values with each top octet: 0x01 and 0x7F (no 0x00 needed), 0x80 and 0xFF.
    values += [
        (lead << (8 * size - 8)) | int.from_bytes(os.urandom(size - 1), "big")
        for lead in (1, 0x7F, 0x80, 0xFF)
    ]
    for r in values:
        for s in values:
            raw = r.to_bytes(size, "big") + s.to_bytes(size, "big")
            expected = encode_dss_signature(r, s)
            assert raw_to_der(raw, size) == expected
            assert signature_octets(alg, raw) == expected
    assert signature_octets(alg, b"\x01" * (2 * size + 1)) == b""  # refused by every key
    assert signature_octets(alg, b"\x01" * (2 * size - 1)) == b""
