"""Red team of the first-time verification path (middleware/jws.py `split_compact`,
`b64url_decode`, `decode_payload`; verifier.py memo; claims.py remembered roles lists):
malformed variants of a token the verifier has accepted, and memorized, are refused with
the verifier's own error (401), never another exception and never accepted.

RFC 7515 §2 and §7.1: base64url without padding, in exactly three segments; RFC 4648
§3.5: only the canonical encoding (no set trailing bits)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from authbridge.middleware import InvalidToken, TokenVerifier

from .forge import Signer, access_claims, at_header, compact

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _fresh(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")


def _non_canonical(segment: str) -> Iterator[str]:
    """Each other last character that decodes to the same octets (set trailing bits)."""
    rem = len(segment) % 4
    if rem not in (2, 3):
        return
    spare = 4 if rem == 2 else 2  # the low bits of the last character that carry nothing
    index = _ALPHABET.index(segment[-1])
    for low in range(1, 1 << spare):
        yield segment[:-1] + _ALPHABET[(index & ~((1 << spare) - 1)) | low]


def _lookalikes(token: str) -> Iterator[str]:
    header, payload, signature = token.split(".")
    for i, segment in enumerate((header, payload, signature)):
        parts = [header, payload, signature]
        for variant in _non_canonical(segment):
            parts[i] = variant
            yield ".".join(parts)
        for foreign in ("+", "/", "=", "==", " ", "\t", "\n", "\x00", "\u00e9", "\ufeff", "%3D"):
            for where in (0, len(segment) // 2, len(segment)):
                parts = [header, payload, signature]
                parts[i] = segment[:where] + foreign + segment[where:]
                yield ".".join(parts)
        # Standard-alphabet spelling of the same octets ('-' → '+', '_' → '/').
        parts = [header, payload, signature]
        parts[i] = segment.replace("-", "+").replace("_", "/")
        if parts[i] != segment:
            yield ".".join(parts)
        parts = [header, payload, signature]
        parts[i] = segment + "A" * 4  # four more characters: more octets, same prefix
        yield ".".join(parts)
        parts[i] = segment[:-1]  # a character short
        yield ".".join(parts)
    yield token + "="
    yield token + "=="
    yield token + "."
    yield "." + token
    yield token.replace(".", "..", 1)
    yield token.replace(".", "..")
    yield f"{header}.{payload}.{payload}.{signature}"
    yield f"{header}.{payload}"
    yield f"{header}..{signature}"
    yield " " + token
    yield token + " "
    yield token + "\x00"
    yield token + "\r\n"
    yield token.upper()
    yield f"{header}.{payload}.{signature}{'A' * 20000}"
    yield f"{header}.{payload}{'A' * 40000}.{signature}"
    yield f"{'eyJ' * 10000}.{payload}.{signature}"
    yield token.replace("-", "\u2010").replace("_", "\uff3f")  # look-alike Unicode
    yield "\ud800" + token  # a lone surrogate: not encodable as UTF-8 either


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_lookalikes_of_a_memorized_token_are_refused_cleanly(
    verifier: TokenVerifier, signers: dict[str, Signer], alg: str
) -> None:
    signer = signers[alg]
    token = compact(
        at_header(signer), access_claims(roles=["reader", "writer"], scope="a b"), signer
    )
    for _ in range(3):  # the second verification memorizes it; the third reads the memo
        accepted = verifier.verify(_fresh(token))
    tried = 0
    for variant in _lookalikes(token):
        if variant == token:
            continue
        tried += 1
        for check in (verifier.verify, lambda t: asyncio.run(verifier.averify(t))):
            try:
                check(_fresh(variant))
            except InvalidToken as exc:
                assert exc.status == 401, repr(variant[:80])
            except Exception as exc:  # the finding this test exists for
                pytest.fail(f"{type(exc).__name__}: {exc} for {variant[:80]!r}")
            else:
                pytest.fail(f"accepted a look-alike: {variant[:80]!r}")
    assert tried > 150
    assert verifier.verify(_fresh(token)) == accepted  # and the original still verifies


def test_a_remembered_roles_list_vouches_for_no_other_list(
    verifier: TokenVerifier, signers: dict[str, Signer]
) -> None:
    """claims.py keeps checked roles lists by value: lists equal to a remembered one as
    tuples but not lists of strings (numbers, nested lists, booleans) are still refused."""
    signer = signers["ES256"]
    good = compact(at_header(signer), access_claims(roles=["1", "true"]), signer)
    assert verifier.verify(good).roles == frozenset({"1", "true"})
    for roles in ([1, "true"], ["1", True], [["1"], "true"], [{"1": 1}], ["1", None], [1.0]):
        token = compact(at_header(signer), access_claims(roles=roles), signer)
        with pytest.raises(InvalidToken) as refused:
            verifier.verify(token)
        assert refused.value.status == 401
