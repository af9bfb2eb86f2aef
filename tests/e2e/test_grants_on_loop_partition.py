"""Red team of the grants on the event loop (storage/loop_io.py) against a real server and
PostgreSQL behind a TCP proxy: a refresh of the built-in public client needs no database
before its rotation (`Q_ROTATE`), so it waits on the loop's own asyncio connections
(storage/loop_connections.py), not on a grant thread. With the database gone silent those
requests must answer 503 within the statement deadline or the pool wait, /healthz must stay
live (the loop is not blocked), clients hanging up must free their slots, and once the
database heals the endpoint must serve again on new connections."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import AuthbridgeServer, timed_post, wait_status
from tests.e2e.tcp_proxy import proxy_for

TIMEOUTS = {
    "DATABASE__STATEMENT_TIMEOUT": "1",
    "DATABASE__CONNECT_TIMEOUT": "1",
    "DATABASE__POOL_TIMEOUT": "1",
    "DATABASE__POOL_SIZE": "4",  # the loop's connections: max(2, 4 // 2) = 2
}
# The `authbridge login` client (static, public): no lookup, no throttle read; the grant's
# first statement is the rotation on the loop's connection (RFC 6749 §5.2 invalid_grant
# once the database answers: the token is unknown).
GRANT = {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "authbridge-cli"}


def _token(url: str, timeout: float = 30) -> tuple[int, float]:
    return timed_post(url, GRANT, timeout)


@pytest.mark.postgres
def test_a_silent_database_gives_grants_on_the_loop_a_fast_503_and_they_heal(
    e2e_postgres_url: str, tmp_path: Path
) -> None:
    proxy, url = proxy_for(e2e_postgres_url)
    server = AuthbridgeServer(tmp_path, url, **TIMEOUTS)
    token = server.url + "/oauth2/token"
    try:
        proxy.restore()
        server.start()
        assert _token(token, timeout=10)[0] == 400  # warm: a loop connection is idle

        proxy.partition()
        with ThreadPoolExecutor(max_workers=16) as pool:
            waiting = [pool.submit(_token, token) for _ in range(8)]
            time.sleep(0.3)
            started = time.monotonic()
            live = [httpx.get(server.url + "/healthz", timeout=5).status_code for _ in range(3)]
            healthz_took = time.monotonic() - started
            answers = [f.result() for f in waiting]
        assert live == [200, 200, 200]
        assert healthz_took < 1.0, healthz_took  # the loop was never blocked
        for status, took in answers:
            # 2 hold the loop's connections until the deadline (1 s + 1 s margin); the
            # others wait at most the pool wait (1 s) for one. Before the fix in
            # storage/loop_connections.py the first took 11 s (psycopg's cancel request).
            assert status == 503, answers
            assert took < 3.5, answers

        # Clients that hang up while waiting for a slot or for the silent database.
        with ThreadPoolExecutor(max_workers=16) as pool:
            hung_up = list(pool.map(lambda _: _token(token, timeout=0.05), range(20)))
        assert all(status in (0, 503) for status, _ in hung_up)

        proxy.heal()
        wait_status(server.url + "/readyz", 200)
        with ThreadPoolExecutor(max_workers=4) as pool:
            after = list(pool.map(lambda _: _token(token, timeout=10), range(8)))
        assert all(status == 400 for status, _ in after), after
        assert all(took < 3.0 for _, took in after), after
        assert "Traceback" not in server.output, server.output[-3000:]
        assert "Task exception was never retrieved" not in server.output
    finally:
        server.stop()
        proxy.heal()
        proxy.cut()
