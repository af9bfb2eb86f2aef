"""A SILENT database partition (packets dropped, no connection closed) against the real
server on PostgreSQL: requests fail fast with 503 + Retry-After (SCIM in its own error
format), /healthz stays 200 at once, and the service recovers by itself when it heals."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import AuthbridgeServer, wait_status
from tests.e2e.tcp_proxy import proxy_for

TIMEOUTS = {
    "DATABASE__STATEMENT_TIMEOUT": "1",
    "DATABASE__CONNECT_TIMEOUT": "1",
    "DATABASE__POOL_TIMEOUT": "1",
    "DATABASE__POOL_SIZE": "2",
}
# Worst case for one request: a pooled connection's statement waits out the client deadline
# (statement + 1 s), then a new connection its connect timeout. Asserted with room to spare
# (a loaded CI machine), but far below "the partition's whole length".
BOUND = 15.0  # seconds; measured 3-5 s on a loaded 2-core machine
SCIM_AUTH = ("okta", "secret")


def _timed(method: str, url: str, **options: object) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.request(method, url, timeout=60, **options)  # type: ignore[arg-type]
    return response, time.monotonic() - started


@pytest.mark.postgres
def test_a_silent_partition_answers_503_fast_and_healthz_stays_live(
    e2e_postgres_url: str, tmp_path: Path
) -> None:
    proxy, url = proxy_for(e2e_postgres_url)
    server = AuthbridgeServer(
        tmp_path,
        url,
        SCIM__OKTA__AUTH_CODE=":".join(SCIM_AUTH),
        **TIMEOUTS,
    )
    users = server.url + "/v1/scim/v2/okta/Users"
    account = server.url + "/account"
    stranger = {"cookies": {"authbridge_session": "x" * 43}}  # looked up in the database
    try:
        proxy.restore()
        server.start()
        assert httpx.get(users, auth=SCIM_AUTH, timeout=10).status_code == 200

        proxy.partition()
        # More requests at once than the pool has connections (2 + 2 overflow), and than the
        # server has worker threads (40): some wait on stalled connections, some for a free
        # connection, some for a thread. /healthz must not wait behind any of them.
        with ThreadPoolExecutor(max_workers=48) as pool:
            scim = [pool.submit(_timed, "GET", users, auth=SCIM_AUTH) for _ in range(24)]
            pages = [pool.submit(_timed, "GET", account, **stranger) for _ in range(24)]
            time.sleep(0.5)  # every worker thread is taken now
            live = [_timed("GET", server.url + "/healthz") for _ in range(3)]
            answers = [f.result() for f in scim + pages]

        for response, took in live:
            assert response.status_code == 200 and took < 2.0, took
        slowest = max(took for _, took in answers)
        print(
            f"\npartition: {len(answers)} requests, slowest 503 after {slowest:.2f}s; "
            f"/healthz in {max(took for _, took in live) * 1000:.0f} ms"
        )
        for response, took in answers:
            assert response.status_code == 503, (response.status_code, response.text[:200])
            assert response.headers["retry-after"].isdigit()
            assert took < BOUND, took
        for future in scim:
            error = future.result()[0].json()
            assert error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
            assert error["status"] == "503"

        proxy.heal()
        wait_status(server.url + "/readyz", 200)
        assert httpx.get(users, auth=SCIM_AUTH, timeout=10).status_code == 200
    finally:
        server.stop()
        proxy.heal()
        proxy.cut()
