"""The revocation feed follower: a revoked jti, or a token of a deactivated subject issued
before the deactivation, is refused by local verification; everything else still passes;
an unreachable feed fails open (default) or closed, as configured."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from authbridge.middleware import (
    ConfigError,
    InvalidToken,
    Reason,
    RevocationFeed,
    RevocationPolicy,
    TokenVerifier,
    VerifierConfig,
)
from authbridge.middleware.jwks import FetchResult

from .conftest import FakeClock, JwksServer, make_verifier
from .forge import ISSUER, NOW, Signer, access_claims, at_header, compact

FEED_URL = ISSUER + "/api/v1/system/revocations"


class Feed:
    """The feed as authbridge documents it (web/revocation_feed.py): pages after a cursor."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.up = True
        self.requests: list[str] = []
        self.page_size = 1000

    def add(self, kind: str, value: str, revoked_at: int = NOW, exp: int = NOW + 3600) -> None:
        self.entries.append({"kind": kind, "value": value, "revoked_at": revoked_at, "exp": exp})

    def __call__(self, url: str) -> FetchResult:
        self.requests.append(url)
        if not self.up:
            raise OSError("connection refused")
        since = parse_qs(urlsplit(url).query).get("since", ["0"])[0]
        start = int(since)
        reset = start > len(self.entries)
        if reset:
            start = 0
        chunk = self.entries[start : start + self.page_size]
        end = start + len(chunk)
        page = {
            "cursor": str(end),
            "more": end < len(self.entries),
            "reset": reset,
            "entries": chunk,
        }
        return FetchResult(json.dumps(page).encode())


@pytest.fixture
def feed() -> Feed:
    return Feed()


def _follower(feed: Feed, clock: FakeClock, **options: Any) -> RevocationFeed:
    return RevocationFeed(RevocationPolicy(FEED_URL, ISSUER, **options), fetcher=feed, clock=clock)


@pytest.fixture
def follower(feed: Feed, clock: FakeClock) -> Iterator[RevocationFeed]:
    follower = _follower(feed, clock)
    yield follower
    follower.stop()


@pytest.fixture
def guarded(jwks_server: JwksServer, clock: FakeClock, follower: RevocationFeed) -> TokenVerifier:
    """A verifier of ISSUER's tokens that follows `follower`."""
    base = make_verifier(jwks_server.url, clock)
    return TokenVerifier(base.config, clock=clock, revocations=follower)


def _token(signer: Signer, **claims: Any) -> str:
    return compact(at_header(signer), access_claims(**claims), signer)


def test_a_revoked_jti_is_refused_and_others_pass(
    guarded: TokenVerifier, signers: dict[str, Signer], feed: Feed
) -> None:
    verifier, es = guarded, signers["ES256"]
    feed.add("jti", "stolen")
    assert guarded.revocations is not None and guarded.revocations.poll()
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(_token(es, jti="stolen"))
    assert caught.value.reason is Reason.REVOKED
    assert verifier.verify(_token(es, jti="fine")).subject == "user-123"


def test_a_deactivated_subject_is_refused_for_tokens_issued_before(
    guarded: TokenVerifier, signers: dict[str, Signer], feed: Feed
) -> None:
    verifier, es = guarded, signers["ES256"]
    feed.add("sub", "user-123", revoked_at=NOW - 5)
    assert guarded.revocations is not None and guarded.revocations.poll()
    with pytest.raises(InvalidToken):
        verifier.verify(_token(es, iat=NOW - 10))
    # Issued after the deactivation (the user was reactivated and signed in again).
    assert verifier.verify(_token(es, iat=NOW - 5)).subject == "user-123"
    # A token without iat cannot show it was issued later.
    with pytest.raises(InvalidToken):
        verifier.verify(_token(es, iat=None))
    assert verifier.verify(_token(es, sub="someone-else", iat=NOW - 10))


def test_the_follower_asks_only_for_what_is_new_and_pages(
    feed: Feed, follower: RevocationFeed
) -> None:
    feed.page_size = 2
    for i in range(5):
        feed.add("jti", f"t{i}")
    follower.poll()
    assert follower.revoked_count == 5
    assert feed.requests[0] == FEED_URL  # no cursor yet
    assert [u.rsplit("=", 1)[-1] for u in feed.requests[1:]] == ["2", "4"]
    feed.add("jti", "t5")
    follower.poll()
    assert feed.requests[-1].endswith("since=5") and follower.revoked_count == 6


def test_a_reset_replaces_what_was_known(feed: Feed, follower: RevocationFeed) -> None:
    feed.add("jti", "a")
    feed.add("jti", "b")
    follower.poll()
    feed.entries = [{"kind": "jti", "value": "c", "revoked_at": NOW, "exp": NOW + 60}]
    follower.poll()  # cursor 2 is ahead of a feed of one entry: reset
    assert follower.revoked_count == 1
    with pytest.raises(InvalidToken):
        follower.check({"jti": "c"})
    follower.check({"jti": "a"})


def test_entries_are_forgotten_once_their_tokens_expired(
    feed: Feed, follower: RevocationFeed, clock: FakeClock
) -> None:
    feed.add("jti", "short", exp=NOW + 60)
    feed.add("jti", "long", exp=NOW + 7200)
    follower.poll()
    clock.advance(60 + 601)
    follower.poll()
    assert follower.revoked_count == 1


def test_fail_open_keeps_what_it_knows_when_the_feed_is_down(
    feed: Feed, follower: RevocationFeed, clock: FakeClock
) -> None:
    feed.add("jti", "stolen")
    follower.poll()
    feed.up = False
    clock.advance(3600)
    assert not follower.poll()
    follower.check({"jti": "fine", "sub": "x", "iat": NOW})  # passes, with a warning
    with pytest.raises(InvalidToken):
        follower.check({"jti": "stolen"})


def test_fail_closed_refuses_past_the_bound_and_before_the_first_answer(
    feed: Feed, clock: FakeClock
) -> None:
    follower = _follower(feed, clock, fail_closed=True, bound=10)
    claims = {"jti": "fine", "sub": "x", "iat": NOW}
    with pytest.raises(InvalidToken) as caught:
        follower.check(claims)  # nothing learned yet
    assert caught.value.reason is Reason.REVOCATIONS_UNAVAILABLE
    assert follower.poll()
    follower.check(claims)
    feed.up = False
    clock.advance(10)
    follower.poll()
    follower.check(claims)  # within the bound
    clock.advance(1)
    with pytest.raises(InvalidToken):
        follower.check(claims)
    feed.up = True
    follower.poll()
    follower.check(claims)


def test_a_malformed_page_counts_as_unreachable(clock: FakeClock) -> None:
    def broken(url: str) -> FetchResult:
        return FetchResult(b'{"cursor": 1, "entries": "no"}')

    follower = RevocationFeed(RevocationPolicy(FEED_URL, ISSUER), fetcher=broken, clock=clock)
    assert not follower.poll()
    assert not follower.fresh()


def test_configuration_from_the_mapping(jwks_server: JwksServer) -> None:
    issuer = "http://127.0.0.1:8080"
    base = {
        "publicKeys": [issuer + "/api/v1/system/config/jwks"],
        "revocationFeedUrl": issuer + "/api/v1/system/revocations",
    }
    config = VerifierConfig.from_mapping(base)
    assert config.revocations == RevocationPolicy(issuer + "/api/v1/system/revocations", issuer)
    tuned = VerifierConfig.from_mapping(
        {**base, "revocationBound": 30, "revocationFailClosed": "true"}
    )
    assert tuned.revocations is not None
    assert (tuned.revocations.bound, tuned.revocations.fail_closed) == (30.0, True)
    assert VerifierConfig.from_mapping({"publicKeys": base["publicKeys"]}).revocations is None
    with pytest.raises(ConfigError, match="revocationIssuer"):
        VerifierConfig.from_mapping({**base, "revocationFeedUrl": "http://127.0.0.1/feed"})
    with pytest.raises(ConfigError, match="not a trusted issuer"):
        VerifierConfig.from_mapping(
            {**base, "revocationFeedUrl": "http://127.0.0.1:9/api/v1/system/revocations"}
        )
    with pytest.raises(ConfigError, match="revocationBound"):
        VerifierConfig.from_mapping({**base, "revocationBound": 0})
    with pytest.raises(ConfigError, match="https"):
        VerifierConfig.from_mapping(
            {
                "publicKeys": ["http://auth.example.com/api/v1/system/config/jwks"],
                "revocationFeedUrl": "http://auth.example.com/api/v1/system/revocations",
                "allowInsecureHttp": False,
            }
        )


def _until(check: Callable[[], bool], deadline: float = 10.0) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end and not check():
        time.sleep(0.01)
    return check()


def test_verify_starts_a_polling_thread(
    guarded: TokenVerifier, signers: dict[str, Signer], feed: Feed
) -> None:
    """WSGI servers and scripts: the first verify starts following the feed."""
    feed.add("jti", "stolen")
    guarded.verify(_token(signers["ES256"], jti="fine"))
    assert guarded.revocations is not None and guarded.revocations.polling
    assert _until(lambda: bool(feed.requests))
    with pytest.raises(InvalidToken):
        guarded.verify(_token(signers["ES256"], jti="stolen"))


def test_averify_polls_from_a_task_of_its_loop(
    guarded: TokenVerifier, signers: dict[str, Signer], feed: Feed
) -> None:
    """ASGI: the first averify starts a task on the running loop; the fetch runs on a
    worker thread."""
    feed.add("jti", "stolen")

    async def serve() -> None:
        await guarded.averify(_token(signers["ES256"], jti="fine"))
        for _ in range(500):
            if feed.requests:
                break
            await asyncio.sleep(0.01)
        with pytest.raises(InvalidToken):
            await guarded.averify(_token(signers["ES256"], jti="stolen"))

    asyncio.run(serve())
    assert feed.requests
