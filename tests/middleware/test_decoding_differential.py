"""Differential test of the compact-form decoding (RFC 7515 §7.1, RFC 4648 §5) against PyJWT
and joserfc: every text shape around a validly signed token.

Each case re-signs its mutated signing input, so the only thing that can refuse it is the
decoding. Where all three libraries agree the case says ``agree``; where ours is stricter
(it refuses what a lenient base64 decoder or JSON parser lets through) the case says so,
and the verdict of each library is pinned, so a change on either side shows up here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from authbridge.middleware.errors import InvalidToken
from authbridge.middleware.jws import verify_compact
from authbridge.middleware.keys import load_jwk

from .forge import Signer, b64, b64json

SIGNER = Signer("ES256", "es-1", ec.generate_private_key(ec.SECP256R1()))
# "???>>>" in base64url holds both "_" and "-", so the alphabet cases change something.
HEADER = {"alg": "ES256", "kid": "es-1", "typ": "at+jwt"}
CLAIMS = {"iss": "https://auth.example.com", "q": "???>>>", "exp": 2**70}


def signed(header: str, payload: str) -> str:
    return f"{header}.{payload}.{b64(SIGNER.sign(f'{header}.{payload}'.encode()))}"


def noncanonical(segment: str) -> str:
    """The same octets with the unused low bits of the last character set (RFC 4648 §3.5)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    rem = len(segment) % 4
    assert rem in (2, 3)
    index = alphabet.index(segment[-1]) | (0xF if rem == 2 else 0x3)
    return segment[:-1] + alphabet[index]


def padded(segment: str) -> str:
    assert len(segment) % 4
    return segment + "=" * (-len(segment) % 4)


def std_alphabet(segment: str) -> str:
    out = segment.replace("-", "+").replace("_", "/")
    assert out != segment
    return out


H, P = b64json(HEADER), b64json(CLAIMS)
assert "-" in P and "_" in P
VALID = signed(H, P)
_, _, SIG = VALID.split(".")
while not ("-" in SIG and "_" in SIG):  # ECDSA is randomized: sign until both show
    VALID = signed(H, P)
    _, _, SIG = VALID.split(".")


def on_signature(change: Callable[[str], str]) -> str:
    return f"{H}.{P}.{change(SIG)}"


# name -> (token, ours accepts, PyJWT accepts, joserfc accepts)
CASES: dict[str, tuple[str, bool, bool, bool]] = {
    "valid": (VALID, True, True, True),
    # RFC 7515 §2 base64url has no padding; PyJWT strips it before decoding.
    "payload-padded": (signed(H, padded(P)), False, True, False),
    "signature-padded": (on_signature(padded), False, True, False),
    # Every library refuses these: no standard alphabet, no whitespace, no foreign byte,
    # and (RFC 4648 §3.5) one encoding per octet string.
    "payload-std-alphabet": (signed(H, std_alphabet(P)), False, False, False),
    "signature-std-alphabet": (on_signature(std_alphabet), False, False, False),
    "payload-space": (signed(H, P[:8] + " " + P[8:]), False, False, False),
    "payload-newline": (signed(H, P[:8] + "\n" + P[8:]), False, False, False),
    "signature-newline": (on_signature(lambda s: s[:8] + "\n" + s[8:]), False, False, False),
    "payload-noncanonical": (signed(H, noncanonical(P)), False, False, False),
    "signature-noncanonical": (on_signature(noncanonical), False, False, False),
    "payload-foreign-byte": (signed(H, P[:8] + "!" + P[8:]), False, False, False),
    "payload-length-1-mod-4": (signed(H, P + "A" * ((1 - len(P)) % 4)), False, False, False),
    "four-parts": (VALID + "." + SIG, False, False, False),
    "two-parts": (f"{H}.{P}", False, False, False),
    # An empty payload is a valid JWS, but never a JWT (RFC 7519 §7.2 step 10): ours is a
    # JWT verifier and refuses it at the split.
    "empty-payload": (signed(H, ""), False, True, True),
    "non-ascii": (signed(H, P[:8] + "\u00e9" + P[8:]), False, False, False),
    "header-not-json": (signed(b64(b"{alg"), P), False, False, False),
    # RFC 7515 §4: header names MUST be unique; ours takes the "reject" option, the others
    # keep the last value (here the same algorithm, so only the duplicate decides).
    "header-duplicate-name": (
        signed(b64(b'{"alg":"ES256","alg":"ES256","kid":"es-1"}'), P),
        False,
        True,
        True,
    ),
}


def ours(token: str) -> bytes | None:
    try:
        _, payload = verify_compact(token, [load_jwk(SIGNER.jwk())], ["ES256"])
    except InvalidToken:
        return None
    return payload


def with_pyjwt(token: str) -> bytes | None:
    try:
        return pyjwt.api_jws.PyJWS().decode_complete(
            token, SIGNER.private.public_key(), algorithms=["ES256"]
        )["payload"]
    except (pyjwt.PyJWTError, ValueError):
        return None


def with_joserfc(token: str) -> bytes | None:
    try:
        got: Any = jws.deserialize_compact(token, import_key(SIGNER.jwk()), algorithms=["ES256"])
    except (JoseError, ValueError):
        return None
    return got.payload


@pytest.mark.parametrize("name", list(CASES))
def test_decoding_verdicts_are_pinned(name: str) -> None:
    token, mine, theirs_pyjwt, theirs_joserfc = CASES[name]
    got = {"ours": ours(token), "pyjwt": with_pyjwt(token), "joserfc": with_joserfc(token)}
    expected = {"ours": mine, "pyjwt": theirs_pyjwt, "joserfc": theirs_joserfc}
    assert {k: v is not None for k, v in got.items()} == expected
    accepted = {v for v in got.values() if v is not None}
    assert len(accepted) <= 1, "libraries that accept must agree on the payload"


def test_huge_token_is_refused_before_decoding() -> None:
    """Sizes are bounded before any decoding (an unauthenticated party controls them)."""
    token = signed(H, b64json(CLAIMS | {"pad": "x" * 20_000}))
    assert with_pyjwt(token) is not None  # a valid token: only the bound refuses it
    assert ours(token) is None
