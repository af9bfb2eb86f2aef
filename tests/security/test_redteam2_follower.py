"""Red team (issue 15 part 3): the middleware's feed follower must never lose a revocation,
whatever the feed or the network between does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authbridge.middleware import InvalidToken, RevocationFeed, RevocationPolicy
from authbridge.middleware.jwks import FetchResult
from tests.middleware.forge import ISSUER, NOW

FEED_URL = ISSUER + "/api/v1/system/revocations"


class _FlakyFeed:
    """Two pages; the second request fails once, as a network blip between pages does."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, url: str) -> FetchResult:
        self.calls += 1
        pages: dict[str, dict[str, Any]] = {
            "": {
                "cursor": "1",
                "more": True,
                "reset": False,
                "entries": [
                    {"kind": "jti", "value": "first-page", "revoked_at": NOW, "exp": NOW + 3600}
                ],
            },
            "1": {
                "cursor": "2",
                "more": False,
                "reset": False,
                "entries": [
                    {"kind": "jti", "value": "second-page", "revoked_at": NOW, "exp": NOW + 3600}
                ],
            },
            "2": {"cursor": "2", "more": False, "reset": False, "entries": []},
        }
        since = url.partition("since=")[2]
        if since == "1" and self.calls == 2:
            raise OSError("connection reset between pages")
        return FetchResult(json.dumps(pages[since]).encode())


def test_a_failure_between_pages_does_not_skip_the_first_page() -> None:
    # Attack: the feed (or the path to it) fails after the first page of a poll. The
    # follower must not move its cursor past entries it then threw away.
    fetch = _FlakyFeed()
    follower = RevocationFeed(
        RevocationPolicy(FEED_URL, ISSUER), fetcher=fetch, clock=lambda: float(NOW)
    )
    assert follower.poll() is False
    follower.poll()
    for jti in ("first-page", "second-page"):
        with pytest.raises(InvalidToken):
            follower.check({"jti": jti, "sub": "u", "iat": NOW})
