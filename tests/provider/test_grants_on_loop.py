"""On PostgreSQL the token endpoint's grants run on the event loop (storage/loop_io.py):
their hot statements on the loop's own connections, the rest in the grant threads. The
answers are the threads' answers: a grant reads the database at the moment it is made."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.provider.conftest import ISSUER
from tests.provider.test_token import TOKEN, _refresh, code_for, provider_of, redeem

GRANTS = "authbridge_grants_total"


def _postgres_only(op: TestClient) -> None:
    if not provider_of(op).loop_io:
        pytest.skip("SQLite grants run in place")


def test_client_credentials_read_the_service_account_on_the_loop(op: TestClient, rp) -> None:
    _postgres_only(op)
    storage = op.app.state.services.ready().storage
    created = provider_of(op).add_service_account("etl", "editor", lifetime=600)
    session = rp(created.client.client_id, client_secret=created.secret)
    assert session.fetch_token(ISSUER + TOKEN, grant_type="client_credentials")["access_token"]
    connections = storage.db.loop_connections
    assert connections is not None and connections.idle >= 1  # the read ran on the loop

    # Disabled between two grants: the next one is refused at once (the write was seen).
    assert created.client.service_user_id is not None
    storage.users.set_active(created.client.service_user_id, False)
    refused = op.post(
        TOKEN,
        data={"grant_type": "client_credentials"},
        auth=(created.client.client_id, created.secret),
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_a_refresh_rotates_on_the_loop_and_a_replay_revokes_the_family(
    browser: TestClient,
) -> None:
    """RFC 9700 §4.14.2: the rotation on the loop's connection, the replay judged in the
    grant threads' transaction, which revokes the family (the successor too)."""
    _postgres_only(browser)
    first = redeem(browser, code_for(browser)).json()
    rotated = _refresh(browser, first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    replay = _refresh(browser, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    successor = _refresh(browser, rotated.json()["refresh_token"])
    assert successor.status_code == 400 and successor.json()["error"] == "invalid_grant"


def test_client_credentials_in_memory_are_answered_in_place_and_counted_once(
    op: TestClient, rp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Client and service account cached: no greenlet. Not cached: the attempt in place ends
    at the first read and the grant runs on the loop from the start; either way one grant,
    one success counted, and a wrong secret counted as one failure."""
    from authbridge.web import token_endpoint
    from tests.web.metrics import scrape

    _postgres_only(op)
    on_loop: list[object] = []
    real = token_endpoint.run_on_loop

    async def counted(*args: object) -> object:
        on_loop.append(args[1])
        return await real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(token_endpoint, "run_on_loop", counted)
    created = provider_of(op).add_service_account("etl", "editor", lifetime=600)
    client_id, secret = created.client.client_id, created.secret
    for _ in range(3):
        answer = op.post(TOKEN, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
        assert answer.status_code == 200, answer.text
    assert len(on_loop) == 1  # the first grant read the client and the account
    wrong = op.post(TOKEN, data={"grant_type": "client_credentials"}, auth=(client_id, "nope"))
    assert wrong.status_code == 401
    metrics = scrape(op)
    cc = {"grant_type": "client_credentials"}
    assert metrics.value(GRANTS, **cc, client="registered", outcome="success") == 3
    # (a client whose secret failed did not authenticate: labelled "other")
    assert metrics.value(GRANTS, **cc, client="other", outcome="invalid_client") == 1
    for client in ("registered", "other"):
        assert metrics.value(GRANTS, **cc, client=client, outcome="server_error") == 0
