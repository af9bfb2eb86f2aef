"""Changes seen everywhere within seconds (issue 15 part 3), end to end.

- Two replicas (two `Services` on one PostgreSQL database): a key rotation on one is
  published by the other through LISTEN/NOTIFY, with the periodic reload an hour away;
  the same over Redis pub/sub (the real Redis at 127.0.0.1:6379).
- A middleware-protected example service (a tiny ASGI app with `JwtAuthMiddleware` whose
  verifier follows the feed of a live authbridge) refuses, within the bound, a robot token
  revoked on another replica and the token of a user deactivated over SCIM.
- The HTTP feed: cursor in, cursor out; a bad cursor is an RFC 9457 problem.

"Within the bound" is a poll with a deadline, never a timing assertion.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authbridge.config import Settings
from authbridge.middleware import TokenVerifier, VerifierConfig
from authbridge.middleware.asgi import JwtAuthMiddleware
from authbridge.provider import clients
from authbridge.provider.clients import Client
from authbridge.provider.principals import subject_principal
from authbridge.web.app import create_app
from authbridge.web.services import Services
from tests.conftest import REDIS_URL, make_settings
from tests.live import free_port, live_server
from tests.scim.conftest import HEADERS, SCIM_ENV

BOUND = 2.0  # the example service's revocationBound
DEADLINE = 15.0  # generous against a loaded machine; the bound is what is claimed
# A periodic key reload an hour away: whatever arrives sooner came by notification.
SLOW_RELOAD = {"TOKENS__KEY_RELOAD_INTERVAL": "3600", "TOKENS__KEY_PUBLISH_AHEAD": "3600"}


def within(deadline: float, check: Callable[[], bool]) -> bool:
    """Poll `check` until it holds or `deadline` seconds pass."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


@pytest.fixture
def replicas() -> Iterator[Callable[[Settings], Services]]:
    started: list[Services] = []

    def start(settings: Settings) -> Services:
        services = Services(settings)
        services.start(wait=True)
        started.append(services)
        return services

    yield start
    for services in started:
        services.stop()


def _rotation_seen(one: Services, two: Services) -> None:
    before = two.ready().keyring.current().jwks
    new = one.ready().keyring.rotate()
    assert new.kid.encode() not in before
    assert within(DEADLINE, lambda: new.kid.encode() in two.ready().keyring.current().jwks)


@pytest.mark.postgres
def test_a_key_rotation_reaches_the_other_replica_by_notify(
    postgres_server_url: str, replicas: Callable[[Settings], Services]
) -> None:
    settings = make_settings(postgres_server_url, **SLOW_RELOAD)
    one, two = replicas(settings), replicas(settings)
    two.ready().keyring.current()
    assert two._changes is not None and type(two._changes).__name__ == "PostgresBus"
    assert two._changes.listening.wait(DEADLINE)  # type: ignore[attr-defined]
    _rotation_seen(one, two)


def test_a_key_rotation_reaches_the_other_replica_over_redis(
    sqlite_url: str, redis_channel: str, replicas: Callable[[Settings], Services]
) -> None:
    settings = make_settings(sqlite_url, REDIS__URL=REDIS_URL, **SLOW_RELOAD)
    one, two = replicas(settings), replicas(settings)
    two.ready().keyring.current()
    assert type(two._changes).__name__ == "RedisBus"
    assert two._changes.listening.wait(DEADLINE)  # type: ignore[union-attr]
    _rotation_seen(one, two)


@pytest.mark.postgres
def test_a_removed_client_is_forgotten_by_the_other_replica(
    postgres_server_url: str,
    replicas: Callable[[Settings], Services],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A client cache that would hold a removed client for an hour: only the notification
    # can make the other replica let go of it.
    monkeypatch.setattr(clients, "CACHE_SECONDS", 3600.0)
    settings = make_settings(postgres_server_url)
    one, two = replicas(settings), replicas(settings)
    assert two._changes is not None and two._changes.listening.wait(DEADLINE)  # type: ignore[attr-defined]
    client = Client(
        client_id="airflow", name="Airflow", redirect_uris=("https://airflow.example.com/cb",)
    )
    one.ready().provider.add_client(client)
    registry = two.ready().provider.registry
    assert registry.get("airflow") is not None  # now cached on replica two
    assert one.ready().provider.remove_client("airflow")
    assert within(DEADLINE, lambda: registry.get("airflow") is None)


def protected_service(issuer: str) -> Starlette:
    """The platform's example service: every route needs an authbridge token, and the
    verifier follows authbridge's revocation feed."""
    config = VerifierConfig.from_mapping(
        {
            "publicKeys": [issuer + "/api/v1/system/config/jwks"],
            "revocationFeedUrl": issuer + "/api/v1/system/revocations",
            "revocationBound": BOUND,
        }
    )

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.user.identity})

    app = Starlette(routes=[Route("/whoami", whoami)])
    app.add_middleware(JwtAuthMiddleware, verifier=TokenVerifier(config))
    return app


def _refused_within_bound(client: TestClient, token: str) -> bool:
    headers = {"Authorization": f"Bearer {token}"}
    return within(DEADLINE, lambda: client.get("/whoami", headers=headers).status_code == 401)


@pytest.mark.postgres
def test_revoked_robot_and_deactivated_user_are_refused_by_a_protected_service(
    postgres_server_url: str, replicas: Callable[[Settings], Services]
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    settings = make_settings(postgres_server_url, SERVER__ISSUER=issuer, **SCIM_ENV)
    with live_server(settings, port) as base, TestClient(protected_service(issuer)) as service:
        other = replicas(settings)  # the replica where the operator and SCIM act
        ready = other.ready()
        robot, _jti, _ = ready.provider.issue_robot_token("etl", "viewer", 86400)
        scim = httpx.post(
            f"{base}/v1/scim/v2/microsoft/Users",
            headers=HEADERS["microsoft"],
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "grace@example.com",
                "active": True,
            },
        )
        assert scim.status_code == 201
        user_id = scim.json()["id"]
        subject = ready.provider.store.subject(user_id)
        assert subject is not None
        person = ready.issuer.access_token(
            subject_principal(subject), audience=[issuer], client_id="airflow"
        ).token
        for token in (robot, person):
            answer = service.get("/whoami", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text

        assert ready.revocation.revoke_robot_token(_jti)
        assert _refused_within_bound(service, robot)

        deactivate = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        }
        patched = httpx.patch(
            f"{base}/v1/scim/v2/microsoft/Users/{user_id}",
            headers=HEADERS["microsoft"],
            json=deactivate,
        )
        assert patched.status_code == 200
        assert _refused_within_bound(service, person)
        refused = service.get("/whoami", headers={"Authorization": f"Bearer {person}"})
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


def _feed(client: TestClient, since: str | None = None) -> Any:
    params = {} if since is None else {"since": since}
    response = client.get("/api/v1/system/revocations", params=params)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    return response.json()


def test_the_feed_over_http(sqlite_url: str) -> None:
    with TestClient(create_app(make_settings(sqlite_url))) as client:
        ready = client.app.state.services.ready()  # type: ignore[attr-defined]
        empty = _feed(client)
        assert empty == {"cursor": "0", "more": False, "reset": False, "entries": []}
        _token, jti, expires = ready.provider.issue_robot_token("ci", "viewer", 3600)
        assert ready.revocation.revoke_robot_token(jti)
        page = _feed(client, empty["cursor"])
        (entry,) = page["entries"]
        assert entry["kind"] == "jti" and entry["value"] == jti
        # Kept a clock tolerance past the token's own expiry.
        assert entry["exp"] >= int(expires.timestamp()) + 600
        assert _feed(client, page["cursor"])["entries"] == []
        for bad in ("-1", "abc", "1" * 40, "²"):
            refused = client.get("/api/v1/system/revocations", params={"since": bad})
            assert refused.status_code == 400
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["status"] == 400
