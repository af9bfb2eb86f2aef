"""Red team of the grants run on the event loop (storage/loop_io.py) on PostgreSQL, with
Redis counters: every grant and every refusal of the four token-style endpoints, watched
for blocking I/O that reaches the loop without being offloaded (a sync psycopg statement or
a Redis command inside the loop's greenlet), and racing refreshes of one token on the loop
(RFC 9700 §4.14.2: exactly one rotation wins, the replay revokes the family)."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from authbridge.storage import loop_io
from tests.conftest import _fresh_postgres, make_settings
from tests.provider.conftest import CLIENTS, SECRET
from tests.provider.test_token import TOKEN, _refresh, code_for, provider_of, redeem
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_up

pytestmark = pytest.mark.postgres

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
BASIC = "Basic " + base64.b64encode(f"webapp:{SECRET}".encode()).decode()


@pytest.fixture
def blocking_on_loop(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every blocking database statement or Redis command run inside a grant's greenlet
    on the loop (where it would stop every other request for its round trip)."""
    seen: list[str] = []

    def watch(cls: type, name: str) -> None:
        original = getattr(cls, name)

        def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
            if loop_io.on_loop():
                seen.append(f"{cls.__name__}.{name}({str(args[0])[:60]!r})")
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, watched)

    watch(psycopg.Cursor, "execute")
    watch(psycopg.Connection, "execute")
    watch(redis.Redis, "execute_command")
    return seen


@pytest.fixture
def pg_redis_op(
    app_factory: AppFactory, postgres_server_url: str, redis_url: str, redis_prefix: str
) -> TestClient:
    settings = make_settings(
        _fresh_postgres(postgres_server_url),
        REDIS__URL=redis_url,
        REDIS__KEY_PREFIX=redis_prefix,
    ).model_copy(update={"clients": CLIENTS})
    op = app_factory(settings)
    assert provider_of(op).loop_io
    assert op.app.state.services.ready().counters.backend == "redis"
    return op


def _post(op: TestClient, path: str, data: dict[str, str], auth: bool = True) -> Any:
    headers = {"authorization": BASIC} if auth else {}
    return op.post(path, data=data, headers=headers)


def test_every_grant_and_refusal_keeps_blocking_io_off_the_loop(
    pg_redis_op: TestClient, blocking_on_loop: list[str]
) -> None:
    op = pg_redis_op
    assert sign_up(op).status_code == 303
    statuses: list[tuple[str, int, str]] = []

    def expect(label: str, response: Any, status: int, error: str | None = None) -> Any:
        body = response.json() if response.content else {}
        statuses.append((label, response.status_code, body.get("error", "")))
        assert response.status_code == status, (label, response.text)
        if error is not None:
            assert body["error"] == error, (label, body)
        return body

    # Authorization code: redeemed, replayed (RFC 6749 §4.1.2), of another client.
    code = code_for(op)
    replayed = expect("code", redeem(op, code), 200)
    expect("code replay", redeem(op, code), 400, "invalid_grant")
    expect("revoked by the replay", _refresh(op, replayed["refresh_token"]), 400)
    first = expect("code 1", redeem(op, code_for(op)), 200)
    other = code_for(op)
    expect(
        "code of another client",
        op.post(
            TOKEN,
            data={
                "grant_type": "authorization_code",
                "client_id": "native",
                "code": other,
                "redirect_uri": "http://127.0.0.1/callback",
            },
        ),
        400,
        "invalid_grant",
    )
    # The key set changed elsewhere (a rotation's notification): the grant reloads it,
    # under the key ring's lock, which must not be taken on the loop.
    op.app.state.services.ready().keyring.invalidate()
    # Refresh: rotated on the loop, narrowed (judged in a thread), widened, replayed.
    rotated = expect("refresh", _refresh(op, first["refresh_token"]), 200)
    narrowed = expect(
        "narrowed refresh", _refresh(op, rotated["refresh_token"], scope="openid"), 200
    )
    expect(
        "widened refresh",
        _refresh(op, narrowed["refresh_token"], scope="openid email groups"),
        400,
        "invalid_scope",
    )
    expect("refresh replay", _refresh(op, first["refresh_token"]), 400, "invalid_grant")
    expect("revoked family", _refresh(op, narrowed["refresh_token"]), 400, "invalid_grant")
    # Another client presenting a live token: refused, and the family dies.
    live = expect("code 2", redeem(op, code_for(op)), 200)
    expect(
        "refresh of another client",
        op.post(
            TOKEN,
            data={
                "grant_type": "refresh_token",
                "client_id": "native",
                "refresh_token": live["refresh_token"],
            },
        ),
        400,
        "invalid_grant",
    )
    expect("after the leak", _refresh(op, live["refresh_token"]), 400, "invalid_grant")
    # A disabled user: refused on the loop's one-statement rotation path.
    disabled = expect("code 3", redeem(op, code_for(op)), 200)
    storage = op.app.state.services.ready().storage
    user = storage.users.by_username("ada@example.com")
    storage.users.set_active(user.id, False)
    expect("disabled user", _refresh(op, disabled["refresh_token"]), 400, "invalid_grant")
    storage.users.set_active(user.id, True)
    # Revocation and introspection (RFC 7009, RFC 7662).
    alive = expect("code 4", redeem(op, code_for(op)), 200)
    expect(
        "introspect active",
        _post(op, "/oauth2/introspect", {"token": alive["access_token"]}),
        200,
    )
    expect("revoke access", _post(op, "/oauth2/revoke", {"token": alive["access_token"]}), 200)
    expect("revoke refresh", _post(op, "/oauth2/revoke", {"token": alive["refresh_token"]}), 200)
    gone = expect(
        "introspect revoked",
        _post(op, "/oauth2/introspect", {"token": alive["refresh_token"]}),
        200,
    )
    assert gone == {"active": False}
    expect("revoke unknown", _post(op, "/oauth2/revoke", {"token": "nope"}), 200)
    # Device grant (RFC 8628): authorization, pending, slow_down, unknown.
    started = expect(
        "device authorization",
        op.post("/oauth2/device_authorization", data={"client_id": "native"}),
        200,
    )
    poll = {
        "grant_type": DEVICE_GRANT,
        "client_id": "native",
        "device_code": started["device_code"],
    }
    expect("device pending", op.post(TOKEN, data=poll), 400, "authorization_pending")
    expect("device too fast", op.post(TOKEN, data=poll), 400, "slow_down")
    expect(
        "device unknown",
        op.post(TOKEN, data={**poll, "device_code": "nope"}),
        400,
        "invalid_grant",
    )
    # Client credentials of a service account, then of a disabled one.
    created = provider_of(op).add_service_account("etl", "editor", lifetime=600)
    service = (created.client.client_id, created.secret)
    cc = {"grant_type": "client_credentials"}
    expect("client credentials", op.post(TOKEN, data=cc, auth=service), 200)
    assert created.client.service_user_id is not None
    storage.users.set_active(created.client.service_user_id, False)
    expect("disabled service account", op.post(TOKEN, data=cc, auth=service), 400)
    # Unknown client; wrong secrets until throttled (Redis counters, RFC 6749 §2.3.1).
    expect(
        "unknown client",
        op.post(TOKEN, data={**cc, "client_id": "nobody"}),
        401,
        "invalid_client",
    )
    for _ in range(10):
        expect("wrong secret", op.post(TOKEN, data=cc, auth=("webapp", "wrong")), 401)
    expect("throttled", op.post(TOKEN, data=cc, auth=("webapp", "wrong")), 429)
    assert not [s for s in statuses if s[1] >= 500]
    assert blocking_on_loop == []


def test_racing_refreshes_of_one_token_on_the_loop_one_wins_and_the_family_dies(
    pg_redis_op: TestClient,
) -> None:
    """RFC 9700 §4.14.2 under concurrency: 8 uses of one refresh token at once on one
    event loop, half of them narrowing the scope (RFC 6749 §6). Exactly one rotation
    succeeds; the others are replays, which revoke the family, so the winner's successor
    is refused too."""
    op = pg_redis_op
    assert sign_up(op).status_code == 303
    token = redeem(op, code_for(op)).json()["refresh_token"]
    # Half narrow the scope: their rotation is judged in a grant thread's transaction while
    # the others rotate in one statement on the loop's connection; one arbiter for both.
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda n: _refresh(op, token, scope="openid") if n % 2 else _refresh(op, token),
                range(8),
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [400] * 7, [a.text for a in answers]
    assert all(a.json()["error"] == "invalid_grant" for a in answers if a.status_code == 400)
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert _refresh(op, winner["refresh_token"]).json()["error"] == "invalid_grant"


def test_the_loops_connections_killed_by_the_server_are_replaced_unseen(
    pg_redis_op: TestClient,
) -> None:
    """pg_terminate_backend of every connection of the app (a failover, an admin): the
    next grants find the loop's idle connections dead at checkout and open new ones, with
    no 503 for a statement that never reached the server."""
    from sqlalchemy import create_engine, text

    op = pg_redis_op
    assert sign_up(op).status_code == 303
    storage = op.app.state.services.ready().storage
    token = redeem(op, code_for(op)).json()["refresh_token"]
    token = _refresh(op, token).json()["refresh_token"]
    connections = storage.db.loop_connections
    assert connections is not None and connections.idle >= 1
    admin = create_engine(storage.db.engine.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND backend_type = 'client backend'"
                )
            ).scalar()
    finally:
        admin.dispose()
    assert killed
    import time

    time.sleep(0.2)  # the server's goodbye reaches the sockets
    again = _refresh(op, token)
    assert again.status_code == 200, again.text


def test_concurrent_key_reloads_on_the_loop_do_not_deadlock(pg_redis_op: TestClient) -> None:
    """The key ring's reload holds a threading.Lock across storage calls: were those
    offloaded one by one while the lock is held on the loop's thread, a second grant
    reloading on the same loop would wait for the lock with the loop stopped, and the
    first could never resume (a deadlock of the whole worker)."""
    import asyncio
    import threading

    from authbridge.storage.loop_io import run_on_loop
    from authbridge.web.grant_threads import GrantThreads

    keyring = pg_redis_op.app.state.services.ready().keyring
    keyring.invalidate()
    snapshots: list[object] = []

    def serve() -> None:
        async def main() -> list[object]:
            threads = GrantThreads(2, wait=5.0)
            return list(
                await asyncio.gather(*(run_on_loop(threads.run, keyring.current) for _ in range(4)))
            )

        snapshots.extend(asyncio.run(main()))

    loop = threading.Thread(target=serve, daemon=True)  # left behind if it deadlocks
    loop.start()
    loop.join(5.0)
    assert not loop.is_alive(), "the loop deadlocked on the key ring's lock"
    assert len(snapshots) == 4


def test_redis_down_during_client_authentication_on_the_loop_is_a_503(
    app_factory: AppFactory, postgres_server_url: str
) -> None:
    """The throttle's counters (Redis) cannot be reached while a grant on the loop counts
    a failed client authentication (offloaded to a grant thread): the error crosses back
    into the loop's greenlet and is answered 503, never let through unthrottled nor a 500."""
    from socket import socket

    with socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{probe.getsockname()[1]}/0"
    settings = make_settings(
        _fresh_postgres(postgres_server_url), REDIS__URL=dead, REDIS__TIMEOUT="0.5"
    ).model_copy(update={"clients": CLIENTS})
    op = app_factory(settings)
    assert provider_of(op).loop_io
    answer = op.post(TOKEN, data={"grant_type": "client_credentials"}, auth=("webapp", "wrong"))
    assert answer.status_code == 503, answer.text
