"""The decode memo: a token presented again skips base64url and JSON, and nothing else.

It holds decodings, never verdicts (RFC 8725 §3: every check on every use). Each test tries
to make a memorized token pass where a fresh one would fail: after expiry, after its key
left the JWKS, without a required scope, with a forged signature on memorized text, by
editing the claims an application was handed.
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from authbridge.middleware import InsufficientScope, InvalidToken, JwksPolicy, Reason

from .conftest import FakeClock, JwksServer, make_verifier
from .forge import NOW, Signer, access_claims, at_header, compact

POLICY = JwksPolicy(default_ttl=60, min_ttl=60, max_ttl=60, cooldown=0, stale_window=0)


def fresh(text: str) -> str:
    """An equal string that is a different object, as each request brings one."""
    return text.encode().decode()


def memorized(verifier) -> list[str]:
    """The token texts in the memo, oldest first."""
    return list(verifier._memo)


def admit(verifier, token: str) -> None:
    """Verify twice: a token enters the memo on its second verification."""
    verifier.verify(fresh(token))
    verifier.verify(fresh(token))
    assert token in memorized(verifier)


def reason(verify, token: str) -> Reason | None:
    try:
        verify(token)
    except InvalidToken as exc:
        return exc.reason
    return None


@pytest.fixture
def es(signers: dict[str, Signer]) -> Signer:
    return signers["ES256"]


def test_same_token_again_gives_equal_result(verifier, es) -> None:
    token = compact(at_header(es), access_claims(realm={"roles": ["a", ["b"]]}), es)
    first = verifier.verify(fresh(token))
    assert len(verifier._memo) == 0  # once is not enough to get in
    admit(verifier, token)
    second = verifier.verify(fresh(token))
    assert second == first
    assert second.claims["realm"] == {"roles": ["a", ["b"]]}


def test_editing_handed_claims_reaches_no_later_request(verifier, es) -> None:
    token = compact(at_header(es), access_claims(realm={"roles": ["viewer"]}), es)
    for _ in range(4):
        got = verifier.verify(fresh(token))
        assert got.roles == frozenset({"viewer"})
        assert got.claims["groups"] == ["data"]
        assert got.claims["realm"] == {"roles": ["viewer"]}
        # A careless application edits what it was handed, deep and shallow.
        got.claims["roles"].append("admin")
        got.claims["groups"].append("admins")
        got.claims["realm"]["roles"].append("admin")
        got.claims["realm"]["extra"] = True


def test_memorized_token_still_expires(verifier, clock: FakeClock, es) -> None:
    token = compact(at_header(es), access_claims(exp=NOW + 60), es)
    admit(verifier, token)
    clock.advance(60)
    assert reason(verifier.verify, fresh(token)) is Reason.EXPIRED


def test_memorized_token_needs_its_key_still_published(
    jwks_server: JwksServer, clock: FakeClock, es, signers
) -> None:
    verifier = make_verifier(jwks_server.url, clock, policy=POLICY)
    token = compact(at_header(es), access_claims(exp=NOW + 3600), es)
    admit(verifier, token)
    jwks_server.document = {"keys": [signers["RS256"].jwk()]}  # es-1 rotated out
    clock.advance(61)  # the key set goes stale; the refresh drops the key
    verifier.verify(
        compact(at_header(signers["RS256"]), access_claims(exp=NOW + 3600), signers["RS256"])
    )
    verifier.join(5)
    assert reason(verifier.verify, fresh(token)) is Reason.UNKNOWN_KID


def test_memorized_token_still_needs_the_scope_asked_for(verifier, es) -> None:
    token = compact(at_header(es), access_claims(), es)
    admit(verifier, token)
    verifier.verify(fresh(token), scopes=("read:dags",))
    with pytest.raises(InsufficientScope):
        verifier.verify(fresh(token), scopes=("admin",))


def test_signature_swapped_onto_memorized_text_is_refused(verifier, es) -> None:
    """Keyed by the whole text: a new signature is a new token, checked from scratch."""
    token = compact(at_header(es), access_claims(), es)
    admit(verifier, token)
    head, payload, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[-1] ^= 1
    forged = f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    assert reason(verifier.verify, forged) is Reason.BAD_SIGNATURE
    assert forged not in memorized(verifier)


def test_other_text_under_a_memorized_signature_is_checked_from_scratch(verifier, es) -> None:
    """Served only on the exact same text: a memorized signature under another payload or
    header must be verified (and fail) like any other."""
    token = compact(at_header(es), access_claims(), es)
    admit(verifier, token)
    head, _, sig = token.split(".")
    other_payload = compact(at_header(es), access_claims(sub="admin"), es).split(".")[1]
    other_head = compact(at_header(es) | {"x": 1}, access_claims(), es).split(".")[0]
    for forged in (f"{head}.{other_payload}.{sig}", f"{other_head}.{token.split('.')[1]}.{sig}"):
        for _ in range(3):  # twice would admit a token that verified: this one never does
            assert reason(verifier.verify, fresh(forged)) is Reason.BAD_SIGNATURE
    assert memorized(verifier) == [token]
    assert verifier.verify(fresh(token)).subject == "user-123"


def test_forged_and_refused_tokens_never_enter(verifier, es) -> None:
    stranger = Signer("ES256", es.kid, ec.generate_private_key(ec.SECP256R1()))
    forged = compact(at_header(stranger), access_claims(), stranger)
    for _ in range(3):
        assert reason(verifier.verify, fresh(forged)) is Reason.BAD_SIGNATURE
    assert reason(verifier.verify, "not.a.token") is Reason.MALFORMED
    assert len(verifier._memo) == 0
    assert len(verifier._seen) == 0


def test_memo_is_bounded_and_can_be_turned_off(jwks_server, clock, es) -> None:
    verifier = make_verifier(jwks_server.url, clock)
    verifier._memo_size, verifier._seen_size = 3, 12
    tokens = [compact(at_header(es), access_claims(jti=f"j{i}"), es) for i in range(5)]
    for token in tokens:
        admit(verifier, token)
    assert memorized(verifier) == tokens[2:]  # the oldest went first
    assert len(verifier._seen) == 5
    for i in range(20):  # one-off tokens: never in the memo, and the seen set stays bounded
        verifier.verify(compact(at_header(es), access_claims(jti=f"once-{i}"), es))
        assert len(verifier._seen) <= 12
    assert memorized(verifier) == tokens[2:]

    off = make_verifier(jwks_server.url, clock)
    off._memo_size = 0
    off.verify(fresh(tokens[0]))
    assert off.verify(fresh(tokens[0])).subject == "user-123"
    assert len(off._memo) == 0
    assert len(off._seen) == 0


def test_async_path_shares_the_memo(verifier, es) -> None:
    token = compact(at_header(es), access_claims(), es)
    first = asyncio.run(verifier.averify(fresh(token)))
    asyncio.run(verifier.averify(fresh(token)))
    assert len(verifier._memo) == 1
    assert asyncio.run(verifier.averify(fresh(token))) == first
    assert verifier.verify(fresh(token)) == first
