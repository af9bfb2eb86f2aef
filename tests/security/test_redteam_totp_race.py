"""Red team: the second step's code throttle under concurrency.

The throttle was read before the code was checked and a wrong code counted after: requests
sent together all read the same count, so one pending login (five minutes, reusable for
wrong codes) took as many guesses as the attacker could send at once, not the ten a window
allows. Each attempt is now counted before its code is checked (one atomic increment per
counter), so however many race, only the limit's worth reach the check."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pyotp
from fastapi.testclient import TestClient

from tests.web.conftest import AppFactory
from tests.web.test_mfa_pages import enrolled_user, ready_of
from tests.web.test_pages import csrf, sign_in

RACERS = 8
LIMIT = 2  # rateLimit.perAccountAndAddress


def _racing_guesses(client: TestClient, wrong: str) -> tuple[int, list[int]]:
    """Send RACERS wrong codes at once; how many reached the code check, and the statuses."""
    factors = ready_of(client).second_factors
    assert factors is not None
    original = factors.verify
    barrier = threading.Barrier(RACERS, timeout=3)
    reached: list[str] = []

    def held_verify(user_id: str, code: str) -> str | None:
        reached.append(code)
        # Every racer past the throttle waits for the others; a broken barrier means the
        # others were refused before the check: nobody more is coming.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return original(user_id, code)

    factors.verify = held_verify  # type: ignore[method-assign]
    token = csrf(client.get("/login/mfa").text)

    def guess(_: int) -> int:
        answer = client.post(
            "/login/mfa", data={"code": wrong, "csrf_token": token}, follow_redirects=False
        )
        return answer.status_code

    with ThreadPoolExecutor(RACERS) as pool:
        statuses = list(pool.map(guess, range(RACERS)))
    factors.verify = original  # type: ignore[method-assign]
    return len(reached), statuses


def test_racing_codes_get_no_more_guesses_than_the_limit(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ACCOUNT_AND_ADDRESS=str(LIMIT))
    clock, secret, _ = enrolled_user(client)
    assert sign_in(client).headers["location"] == "/login/mfa"
    right = pyotp.TOTP(secret).at(clock.now + 30)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    checked, statuses = _racing_guesses(client, wrong)
    assert checked <= LIMIT, f"{checked} codes checked in one window (limit {LIMIT})"
    assert statuses.count(401) <= LIMIT and statuses.count(429) >= RACERS - LIMIT
    assert "authbridge_session" not in client.cookies
