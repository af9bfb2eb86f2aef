"""Following authbridge's revocation feed, so that a revoked token is refused locally.

authbridge serves ``GET /api/v1/system/revocations?since=<cursor>``: revoked access-token ids
(``jti``) and deactivated subjects (``sub``: every token of it issued before ``revoked_at``),
each until the tokens it covers have expired. :class:`RevocationFeed` polls it in the
background (a thread for WSGI and scripts, an asyncio task for ASGI) every ``bound / 2``
seconds and keeps two dictionaries; :meth:`RevocationFeed.check` is two dictionary lookups,
so verification stays local and fast. A revocation is refused by every follower within
``bound`` seconds (default 10) of its commit, without a call per request (RFC 7662
introspection would cost one round trip per token).

When the feed is unreachable past the bound, ``fail_closed=False`` (the default) goes on
verifying with the revocations already learned and logs a warning on each failed poll: a
feed outage then only delays revocations made during it, and never turns an authbridge
outage into an outage of every service. ``fail_closed=True`` refuses every token of the
issuer (``revocations_unavailable``) until the feed answers again, and also until its
first answer after start-up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from .config import RevocationPolicy
from .errors import InvalidToken, Reason, RevocationsUnavailable
from .jwks import Fetcher, UrllibFetcher

__all__ = ["RevocationFeed"]

log = logging.getLogger("authbridge.middleware")

# Entries are kept this long past their ``exp``: a verifier accepts a token up to its clock
# tolerance (at most 600 s) after the token's own expiry.
_TOLERANCE = 600.0
_MAX_PAGES = 100  # per poll; the rest comes at the next one
_MAX_FEED_BYTES = 4 * 1024 * 1024


class RevocationFeed:
    """The revocations of one issuer, followed from its feed. Thread- and task-safe: the
    poller swaps whole dictionaries; :meth:`check` only reads them."""

    def __init__(
        self,
        policy: RevocationPolicy,
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.issuer = policy.issuer
        self._fetch = fetcher or UrllibFetcher(policy.timeout, _MAX_FEED_BYTES)
        self._clock = clock
        self._jtis: dict[str, float] = {}
        # sub -> (revoked_at, exp): tokens with iat < revoked_at are refused.
        self._subjects: dict[str, tuple[float, float]] = {}
        self._cursor: str | None = None
        self._synced_at: float | None = None
        self._fail_closed = policy.fail_closed
        self._interval = max(0.2, policy.bound / 2)
        self._lock = threading.Lock()  # one poll at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        # Plain attributes, read on every verification: whether a poller runs, and the
        # event loop of the polling task (a new loop, as in tests, gets a task of its own).
        self.polling = False
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- the hot path --------------------------------------------------------------------

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise ``InvalidToken(revoked)`` for a revoked token of this feed's issuer."""
        jtis = self._jtis
        if jtis:
            jti = claims.get("jti")
            if type(jti) is str and jti in jtis:
                raise InvalidToken(Reason.REVOKED)
        subjects = self._subjects
        if subjects:
            sub = claims.get("sub")
            entry = subjects.get(sub) if type(sub) is str else None
            if entry is not None:
                iat = claims.get("iat")
                # No usable iat: it cannot show it was issued after the deactivation.
                if not isinstance(iat, (int, float)) or iat < entry[0]:
                    raise InvalidToken(Reason.REVOKED)
        if self._fail_closed and not self.fresh():
            raise RevocationsUnavailable()

    def fresh(self) -> bool:
        """Whether the feed answered within the bound."""
        synced = self._synced_at
        return synced is not None and self._clock() - synced <= self.policy.bound

    @property
    def revoked_count(self) -> int:
        return len(self._jtis) + len(self._subjects)

    # -- polling -------------------------------------------------------------------------

    def poll(self) -> bool:
        """Fetch what was revoked since the last poll and apply it; False on failure (logged,
        never raised: the next poll tries again)."""
        with self._lock:
            try:
                self._poll()
            except Exception as exc:
                stale = "" if self.fresh() else " past the bound"
                log.warning(
                    "revocation feed unreachable%s (%s); %s",
                    stale,
                    type(exc).__name__,
                    "refusing tokens" if self._fail_closed and stale else "verifying on",
                )
                return False
            return True

    def _poll(self) -> None:
        jtis, subjects = self._jtis, self._subjects
        # The cursor moves with the entries it covers, at the end: a page that fails after
        # an earlier one succeeded must not leave the cursor past entries thrown away.
        position = self._cursor
        changed = False
        for _ in range(_MAX_PAGES):
            url = self.policy.url
            if position is not None:
                url += ("&" if "?" in url else "?") + "since=" + quote(position, safe="")
            page = json.loads(self._fetch(url).body)
            cursor, entries = page["cursor"], page["entries"]
            if type(cursor) is not str or type(entries) is not list:
                raise ValueError("not a revocation feed page")
            if page.get("reset") or position is None:
                jtis, subjects = {}, {}
                changed = True
            else:
                if entries and not changed:
                    jtis, subjects = dict(jtis), dict(subjects)
                changed = changed or bool(entries)
            for entry in entries:
                kind, value, exp = entry.get("kind"), entry.get("value"), entry.get("exp")
                if type(value) is not str or type(exp) not in (int, float):
                    continue
                if kind == "jti":
                    jtis[value] = float(exp)
                elif kind == "sub":
                    revoked_at = entry.get("revoked_at")
                    if type(revoked_at) in (int, float):
                        known = subjects.get(value)
                        if known is None or known[0] < revoked_at:
                            subjects[value] = (float(revoked_at), float(exp))
                # Other kinds are a newer feed's; this follower ignores them.
            position = cursor
            if not page.get("more"):
                break
        now = self._clock()
        horizon = now - _TOLERANCE
        if any(exp < horizon for exp in jtis.values()) or any(
            exp < horizon for _, exp in subjects.values()
        ):
            jtis = {k: v for k, v in jtis.items() if v >= horizon}
            subjects = {k: v for k, v in subjects.items() if v[1] >= horizon}
            changed = True
        if changed:
            self._jtis, self._subjects = jtis, subjects
        self._cursor = position
        self._synced_at = now

    def start(self) -> None:
        """Poll on a daemon thread (WSGI servers, scripts) until :meth:`stop`."""
        with self._lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run_thread, name="authbridge-revocation-feed", daemon=True
            )
            self._thread.start()
            self.polling = True

    def start_task(self) -> None:
        """Poll from an asyncio task of the running loop (ASGI); the fetch runs on a worker
        thread, never blocking the loop. A task is started on each new loop (the one it ran
        on may have ended); a thread already polling makes it unnecessary."""
        loop = asyncio.get_running_loop()
        self.loop = loop
        if self._thread is not None or self._stop.is_set():
            return
        self._task = loop.create_task(self._run_task())
        self.polling = True

    def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
        if self._thread is not None:
            self._thread.join(self.policy.timeout + 1.0)

    def _run_thread(self) -> None:
        while True:
            self.poll()
            if self._stop.wait(self._interval):
                return

    async def _run_task(self) -> None:
        while not self._stop.is_set():
            await asyncio.to_thread(self.poll)
            await asyncio.sleep(self._interval)
