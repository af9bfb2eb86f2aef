"""Replicas sharing one Redis (`redis.url`): the sign-in throttle and the single-use
re-authentication marker hold across app instances that share nothing else, and a Redis
that is down refuses what needs it (503 + Retry-After, never a hang, never an unthrottled
try), says so on /readyz, and never logs its password.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis
import structlog
from fastapi.testclient import TestClient

from authbridge.clock import utcnow
from authbridge.config import Settings
from authbridge.web.observability import configure_logging
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS, location_params
from tests.provider.test_authorize import authorize_url
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_in, sign_up

REDIS_PASSWORD = "Hunter2-of-the-redis-" + "9" * 8


def _settings(tmp_path: Path, name: str, **env: str) -> Settings:
    return make_settings(f"sqlite:///{tmp_path / name}.db", **env).model_copy(
        update={"clients": CLIENTS}
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.redis
def test_a_lockout_on_one_replica_is_seen_by_another(
    app_factory: AppFactory, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """Two instances, each with its own database: only Redis is shared. The failures made
    on the first lock the account (per account and address, OWASP) on the second."""
    env = {"REDIS__URL": redis_url, "REDIS__KEY_PREFIX": redis_prefix}
    first = app_factory(_settings(tmp_path, "first", **env))
    second = app_factory(_settings(tmp_path, "second", **env))
    assert sign_up(second).status_code == 303
    second.cookies.clear()
    limit = first.app.state.services.settings.auth.local.rate_limit.per_account_and_address  # type: ignore[attr-defined]
    for _ in range(limit):
        assert sign_in(first, password="wrong-password-123").status_code == 401
    locked = sign_in(second)  # the right password, on the replica that saw no failure
    assert locked.status_code == 429
    assert locked.headers["retry-after"].isdigit()
    # Neither database holds a counter: Redis does, with a TTL.
    for app in (first, second):
        storage = app.app.state.services.ready().storage  # type: ignore[attr-defined]
        assert storage.rate_limits.garbage_collect(utcnow().replace(year=2100)) == 0
    raw = redis.Redis.from_url(redis_url)
    keys = list(raw.scan_iter(match=redis_prefix + "rl:*"))
    assert keys and all(raw.pttl(key) > 0 for key in keys)
    raw.close()


@pytest.mark.redis
def test_a_reauth_marker_used_on_one_replica_is_refused_on_another(
    app_factory: AppFactory, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """OIDC Core §3.1.2.1: prompt=login asks for a sign-in for this request; its marker
    counts once whichever replica the browser comes back to."""
    env = {
        "REDIS__URL": redis_url,
        "REDIS__KEY_PREFIX": redis_prefix,
        "SERVER__SECRET_KEY": "k" * 48,  # replicas share their CSRF key (as in production)
    }
    shared = _settings(tmp_path, "shared", **env)  # sessions live in the shared database
    first = app_factory(shared)
    second = app_factory(shared)
    assert sign_up(first).status_code == 303
    sent = first.get(authorize_url(prompt="login"), follow_redirects=False)
    next_url = dict(parse_qsl(urlsplit(sent.headers["location"]).query))["next"]
    assert sign_in(first).status_code == 303
    assert "code" in location_params(first.get(next_url, follow_redirects=False))
    second.cookies = first.cookies  # the same browser, sent to the other replica
    replayed = second.get(next_url, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login?next=")
    raw = redis.Redis.from_url(redis_url)
    markers = list(raw.scan_iter(match=redis_prefix + "seen:reauth:*"))
    assert len(markers) == 1 and raw.pttl(markers[0]) > 0
    raw.close()


@pytest.fixture
def json_logs() -> Iterator[None]:
    configure_logging("debug", "json")
    yield
    structlog.reset_defaults()


def _down_app(app_factory: AppFactory, tmp_path: Path) -> TestClient:
    url = f"redis://:{REDIS_PASSWORD}@127.0.0.1:{_closed_port()}/0"
    return app_factory(
        _settings(
            tmp_path,
            "down",
            REDIS__URL=url,
            REDIS__TIMEOUT="0.2",
            SCIM__OKTA__AUTH_CODE="okta:secret",
        )
    )


@pytest.fixture
def redis_down(app_factory: AppFactory, tmp_path: Path) -> TestClient:
    return _down_app(app_factory, tmp_path)


def test_redis_down_refuses_sign_in_with_503_not_a_free_try(redis_down: TestClient) -> None:
    response = sign_in(redis_down, password="any-password-123")
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert "Redis" in response.text


def test_redis_down_refuses_client_authentication_with_503(redis_down: TestClient) -> None:
    wrong = base64.b64encode(b"webapp:wrong").decode()
    response = redis_down.post(
        "/oauth2/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://x"},
        headers={"authorization": f"Basic {wrong}"},
    )
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["error"] == "temporarily_unavailable"


def test_redis_down_refuses_a_wrong_scim_credential_with_503(redis_down: TestClient) -> None:
    response = redis_down.get("/v1/scim/v2/okta/Users", auth=("okta", "wrong"))
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_readyz_reports_redis_down_and_what_needs_no_counter_is_served(
    redis_down: TestClient,
) -> None:
    ready = redis_down.get("/readyz")
    assert ready.status_code == 200  # every replica shares the Redis: no use draining them
    assert ready.json()["status"] == "degraded"
    assert ready.json()["storage"] == "ok"
    assert ready.json()["redis"].startswith("redis: ConnectionError")
    assert redis_down.get("/healthz").status_code == 200
    assert redis_down.get("/.well-known/openid-configuration").status_code == 200
    assert redis_down.get("/api/v1/system/config/jwks").status_code == 200
    # A provisioning client with the right credential made no failure to count.
    assert redis_down.get("/v1/scim/v2/okta/Users", auth=("okta", "secret")).status_code == 200


def test_the_redis_password_is_never_logged(
    app_factory: AppFactory,
    tmp_path: Path,
    json_logs: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = _down_app(app_factory, tmp_path)  # start-up logs which Redis, redacted
    sign_in(client, password="any-password-123")
    client.get("/readyz")
    out = capsys.readouterr()
    logged = out.out + out.err
    assert '"counters": "redis"' in logged  # the ready line was captured
    assert "redis://:***@127.0.0.1" in logged
    assert REDIS_PASSWORD not in logged


@pytest.mark.redis
def test_readyz_reports_redis_ok(
    app_factory: AppFactory, tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    env = {"REDIS__URL": redis_url, "REDIS__KEY_PREFIX": redis_prefix}
    response = app_factory(_settings(tmp_path, "up", **env)).get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "storage": "ok", "redis": "ok"}


def test_readyz_without_redis_reports_storage_only(app_factory: AppFactory) -> None:
    assert app_factory().get("/readyz").json() == {"status": "ok", "storage": "ok"}
