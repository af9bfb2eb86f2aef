"""JWKS cache against a real HTTP server on 127.0.0.1 (RFC 7517 §5), with an injected clock.

Single flight and cooldown under a flood of unknown kids (threads and asyncio tasks), the
stale window during an outage then failing closed, key rotation, Cache-Control max-age.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from authbridge.middleware import InvalidToken, JwksPolicy, Reason, TokenVerifier
from authbridge.middleware.jwks import parse_max_age

from .bad_keys import bad_keys
from .conftest import FakeClock, JwksServer, make_verifier
from .forge import Signer, access_claims, at_header, compact

POLICY = JwksPolicy(default_ttl=300, min_ttl=60, max_ttl=3600, cooldown=30, stale_window=600)


def long_lived(signer: Signer, **header: object) -> str:
    claims = access_claims(exp=10**10)
    return compact(at_header(signer, **header), claims, signer)


def outcome(verifier: TokenVerifier, token: str) -> Reason | None:
    try:
        verifier.verify(token)
    except InvalidToken as exc:
        return exc.reason
    return None


@pytest.fixture
def cached(jwks_server: JwksServer, clock: FakeClock) -> TokenVerifier:
    return make_verifier(jwks_server.url, clock, policy=POLICY)


def test_keys_fetched_once(cached, jwks_server, signers):
    for _ in range(50):
        for signer in signers.values():
            cached.verify(long_lived(signer))
    assert jwks_server.hits == 1


def test_unknown_kid_flood_threads_one_fetch_per_cooldown(cached, jwks_server, clock, signers):
    signer = signers["ES256"]
    cached.verify(long_lived(signer))
    assert jwks_server.hits == 1
    tokens = [long_lived(signer, kid=f"unknown-{i}") for i in range(200)]

    def flood() -> set[Reason | None]:
        with ThreadPoolExecutor(32) as pool:
            return set(pool.map(lambda t: outcome(cached, t), tokens))

    # The first unknown kid may refetch at once (a rotation right after start-up); the
    # other 199 join that fetch or find the gate shut.
    assert flood() == {Reason.UNKNOWN_KID}
    assert jwks_server.hits == 2
    clock.advance(POLICY.cooldown - 1)
    assert flood() == {Reason.UNKNOWN_KID}
    assert jwks_server.hits == 2
    clock.advance(1)
    assert flood() == {Reason.UNKNOWN_KID}
    assert jwks_server.hits == 3
    clock.advance(POLICY.cooldown - 1)
    assert flood() == {Reason.UNKNOWN_KID}
    assert jwks_server.hits == 3
    clock.advance(1)
    assert flood() == {Reason.UNKNOWN_KID}
    assert jwks_server.hits == 4


def test_key_rotated_right_after_start_up_is_found(cached, jwks_server, clock, signers):
    """The start-up fetch does not shut the unknown-kid gate: a key published a moment after
    it verifies at once; the next unknown kid waits a cooldown from *that* refetch."""
    old = signers["ES256"]
    assert outcome(cached, long_lived(old)) is None
    assert jwks_server.hits == 1
    second = Signer("ES256", "es-rot-2", ec.generate_private_key(ec.SECP256R1()))
    jwks_server.document = {"keys": [old.jwk(), second.jwk()]}
    clock.advance(1)  # well inside the cooldown opened by the start-up fetch
    assert outcome(cached, long_lived(second)) is None
    assert jwks_server.hits == 2

    third = Signer("ES256", "es-rot-3", ec.generate_private_key(ec.SECP256R1()))
    jwks_server.document = {"keys": [old.jwk(), second.jwk(), third.jwk()]}
    clock.advance(POLICY.cooldown - 1)  # one second short of a cooldown since the refetch
    assert outcome(cached, long_lived(third)) is Reason.UNKNOWN_KID
    assert jwks_server.hits == 2
    clock.advance(1)
    assert outcome(cached, long_lived(third)) is None
    assert jwks_server.hits == 3
    assert outcome(cached, long_lived(old)) is None  # known keys never wait for a gate
    assert jwks_server.hits == 3


def test_concurrent_threads_share_one_fetch_for_a_rotated_key(cached, jwks_server, clock, signers):
    """A new kid arriving on many threads at once: all wait for the same single fetch."""
    old = signers["ES256"]
    cached.verify(long_lived(old))
    clock.advance(POLICY.cooldown)
    new = Signer("ES256", "es-2", ec.generate_private_key(ec.SECP256R1()))
    jwks_server.document = {"keys": [old.jwk(), new.jwk()]}
    jwks_server.gate.clear()  # hold the response until every thread is waiting
    token = long_lived(new)
    barrier = threading.Barrier(40)
    results: list[Reason | None] = []

    def worker() -> None:
        barrier.wait()
        results.append(outcome(cached, token))

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # not a timing assertion: lets the flood pile up behind the gate
    jwks_server.gate.set()
    for t in threads:
        t.join(10)
    assert results == [None] * 40
    assert jwks_server.hits == 2


def test_concurrent_tasks_share_one_fetch(cached, jwks_server, clock, signers):
    old = signers["ES256"]
    cached.verify(long_lived(old))
    clock.advance(POLICY.cooldown)
    new = Signer("ES256", "es-3", ec.generate_private_key(ec.SECP256R1()))
    jwks_server.document = {"keys": [old.jwk(), new.jwk()]}
    good = long_lived(new)
    bad = [long_lived(old, kid=f"nope-{i}") for i in range(100)]

    async def run() -> list[object]:
        calls = [cached.averify(good) for _ in range(100)] + [cached.averify(t) for t in bad]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    assert all(not isinstance(r, BaseException) for r in results[:100])
    assert {r.reason for r in results[100:]} == {Reason.UNKNOWN_KID}  # type: ignore[union-attr]
    assert jwks_server.hits == 2


def test_outage_stale_window_then_fail_closed(cached, jwks_server, clock, signers):
    signer = signers["ES256"]
    token = long_lived(signer)
    assert outcome(cached, token) is None
    jwks_server.status = 503

    clock.advance(POLICY.default_ttl + 1)  # stale: served from cache, refresh fails behind
    assert outcome(cached, token) is None
    cached.join(5)
    assert jwks_server.hits == 2

    clock.advance(POLICY.stale_window - 2)  # last second of the stale window
    assert outcome(cached, token) is None
    cached.join(5)

    clock.advance(1)  # window over, upstream still down: fail closed
    assert outcome(cached, token) is Reason.JWKS_UNAVAILABLE
    # Within the cooldown no further fetch is attempted, and it stays closed.
    hits = jwks_server.hits
    assert outcome(cached, token) is Reason.JWKS_UNAVAILABLE
    assert jwks_server.hits == hits

    jwks_server.status = 200  # upstream back: next fetch after the cooldown reopens
    clock.advance(POLICY.cooldown)
    assert outcome(cached, token) is None


def test_unreachable_from_the_start_fails_closed(clock, signers):
    server = JwksServer()
    url = server.url
    server.close()  # nothing listens on that port any more
    verifier = make_verifier(url, clock, policy=POLICY)
    assert outcome(verifier, long_lived(signers["ES256"])) is Reason.JWKS_UNAVAILABLE


def test_garbage_jwks_keeps_previous_keys(cached, jwks_server, clock, signers):
    token = long_lived(signers["ES256"])
    assert outcome(cached, token) is None
    jwks_server.document = {"not": "a jwks"}  # type: ignore[dict-item]
    clock.advance(POLICY.default_ttl + 1)
    assert outcome(cached, token) is None
    cached.join(5)
    assert outcome(cached, token) is None


def test_rotation_picked_up_and_removed_key_dropped(cached, jwks_server, clock, signers):
    old = signers["ES256"]
    assert outcome(cached, long_lived(old)) is None
    clock.advance(POLICY.cooldown)
    new = Signer("ES256", "es-rotated", ec.generate_private_key(ec.SECP256R1()))
    jwks_server.document = {"keys": [new.jwk()]}
    assert outcome(cached, long_lived(new)) is None  # unknown kid → refetch → accepted
    assert outcome(cached, long_lived(old)) is Reason.UNKNOWN_KID  # gone upstream
    assert jwks_server.hits == 2


@pytest.mark.parametrize(
    ("header", "fresh_for"),
    [
        ("max-age=120", 120),
        ("public, max-age=5", 60),  # clamped up to min_ttl
        ("max-age=999999", 3600),  # clamped down to max_ttl
        ("no-store", 60),
        (None, 300),  # default_ttl
    ],
)
def test_cache_control_max_age_honoured_within_bounds(
    jwks_server, clock, signers, header, fresh_for
):
    jwks_server.cache_control = header
    verifier = make_verifier(jwks_server.url, clock, policy=POLICY)
    token = long_lived(signers["ES256"])
    start = clock.now
    assert outcome(verifier, token) is None
    clock.now = start + fresh_for - 1
    assert outcome(verifier, token) is None
    verifier.join(5)
    assert jwks_server.hits == 1
    clock.now = start + fresh_for
    assert outcome(verifier, token) is None
    verifier.join(5)
    assert jwks_server.hits == 2


def test_parse_max_age() -> None:
    """RFC 9111 §5.2.2.1."""
    assert parse_max_age("max-age=60") == 60
    assert parse_max_age('public, max-age="60", must-revalidate') == 60
    assert parse_max_age("s-maxage=10") is None
    assert parse_max_age("no-cache") == 0
    assert parse_max_age(None) is None


# -- one bad key among good ones (issue 10, defect 10) ---------------------------------------


@pytest.mark.parametrize("kind", sorted(bad_keys({"y": ""})))
def test_a_bad_key_is_skipped_and_the_good_ones_kept(
    jwks_server, clock, signers, caplog, kind
) -> None:
    good = signers["ES256"].jwk()
    bad = bad_keys(good)[kind]
    # Before and after the good key: neither position may cost the set.
    jwks_server.document = {"keys": [bad, good, bad]}
    verifier = make_verifier(jwks_server.url, clock, policy=POLICY)
    with caplog.at_level("WARNING", logger="authbridge.middleware"):
        assert outcome(verifier, long_lived(signers["ES256"])) is None
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any("key 0" in m for m in skipped) and any("key 2" in m for m in skipped)
    if isinstance(bad, dict) and isinstance(bad.get("kid"), str):
        assert all(repr(bad["kid"]) in m for m in skipped)
    # The log names the key, never its material.
    for message in skipped:
        assert good["x"] not in message and good["y"] not in message


def test_every_kind_of_bad_key_at_once_leaves_the_good_ones(jwks_server, clock, signers):
    good = [s.jwk() for s in signers.values()]
    jwks_server.document = {"keys": [*bad_keys(good[0]).values(), *good]}
    verifier = make_verifier(jwks_server.url, clock, policy=POLICY)
    for signer in signers.values():
        assert outcome(verifier, long_lived(signer)) is None
    assert jwks_server.hits == 1


def test_verifiers_sharing_sources_fetch_once(jwks_server, clock, signers):
    """One JWKS cache for several token profiles of one issuer (the connectors' use)."""
    shared: dict = {}
    config = make_verifier(jwks_server.url, clock, policy=POLICY).config
    first = TokenVerifier(config, clock=clock, sources=shared)
    second = TokenVerifier(config, clock=clock, sources=shared)
    assert outcome(first, long_lived(signers["ES256"])) is None
    assert outcome(second, long_lived(signers["RS256"])) is None
    assert jwks_server.hits == 1 and list(shared) == [jwks_server.url]


def test_verify_signature_checks_the_signature_not_the_claims(cached, signers):
    signer = signers["ES256"]
    expired = compact(at_header(signer), access_claims(exp=1, aud="someone-else"), signer)
    assert outcome(cached, expired) is Reason.EXPIRED
    header, claims = cached.verify_signature(expired)
    assert header["kid"] == signer.kid and claims["aud"] == "someone-else"
    impostor = Signer("ES256", signer.kid, ec.generate_private_key(ec.SECP256R1()))
    forged = compact(at_header(signer), access_claims(), impostor)
    with pytest.raises(InvalidToken) as info:
        cached.verify_signature(forged)
    assert info.value.reason is Reason.BAD_SIGNATURE
