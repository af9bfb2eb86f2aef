"""Red team of the OAuth endpoints' grant threads (web/grant_threads.py) on PostgreSQL
against the real server: a database gone silent holds every grant thread, the token
requests behind them are answered 503 within the pool wait (not queued until their clients
give up), /healthz stays live, and requests whose clients hung up (hundreds of them) leave
no thread token behind: once the database heals, the endpoint serves again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import AuthbridgeServer, timed_post, wait_status
from tests.e2e.tcp_proxy import proxy_for

TIMEOUTS = {
    "DATABASE__STATEMENT_TIMEOUT": "2",
    "DATABASE__CONNECT_TIMEOUT": "1",
    "DATABASE__POOL_TIMEOUT": "1",
    "DATABASE__POOL_SIZE": "8",
}
# An unknown client: its lookup needs the database, in a grant thread (RFC 6749 §5.2
# invalid_client once the database answers).
GRANT = {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "nobody"}


def _token(url: str, timeout: float = 60) -> tuple[int, float]:
    return timed_post(url, GRANT, timeout)


@pytest.mark.postgres
def test_a_silent_database_gives_token_requests_a_fast_503_and_leaks_no_thread(
    e2e_postgres_url: str, tmp_path: Path
) -> None:
    proxy, url = proxy_for(e2e_postgres_url)
    server = AuthbridgeServer(tmp_path, url, **TIMEOUTS)
    token = server.url + "/oauth2/token"
    try:
        proxy.restore()
        server.start()
        healthy = _token(token, timeout=10)[0]
        assert healthy in (400, 401), healthy

        proxy.partition()
        with ThreadPoolExecutor(max_workers=32) as pool:
            waiting = [pool.submit(_token, token) for _ in range(16)]
            time.sleep(0.3)
            live = [httpx.get(server.url + "/healthz", timeout=5).status_code for _ in range(3)]
            answers = [f.result() for f in waiting]
        assert live == [200, 200, 200]
        for status, took in answers:
            # Behind 4 stuck threads: 503 after the pool wait (1 s); the 4 that held the
            # threads: 503 after their statement's deadline. None waits much longer.
            assert status == 503, status
            assert took < 10.0, took

        # Clients that hang up while waiting for a thread or for the database.
        with ThreadPoolExecutor(max_workers=32) as pool:
            hung_up = list(pool.map(lambda _: _token(token, timeout=0.05), range(200)))
        assert all(status in (0, 503) for status, _ in hung_up)

        proxy.heal()
        wait_status(server.url + "/readyz", 200)
        time.sleep(3)  # the statements of the stuck threads end at their deadlines
        with ThreadPoolExecutor(max_workers=8) as pool:
            after = list(pool.map(lambda _: _token(token, timeout=10), range(16)))
        # 429: the client-authentication throttle (provider/service.py), which counted the
        # failures above; it answers from inside a grant thread all the same.
        assert all(status in (400, 401, 429) for status, _ in after), after
        assert all(took < 5.0 for _, took in after), after
    finally:
        server.stop()
        proxy.heal()
        proxy.cut()
