"""The token endpoint's events as metrics (provider/events.py, counted by web/observability.py):
grants by type, client and outcome (RFC 6749 §5.1/§5.2 codes), refresh-token reuse (RFC 9700
§4.14.2), and labels that stay bounded whatever a caller sends."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from authbridge.audit.events import AuditEvent, Target
from authbridge.provider import events as provider_events
from authbridge.provider.events import AuditedEvents, NoEvents
from tests.provider.test_token import BASIC, TOKEN, code_for, redeem
from tests.web.metrics import scrape

GRANTS = "authbridge_grants_total"


def _refresh(op: TestClient, token: str):
    return op.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"authorization": BASIC},
    )


def test_grants_are_counted_by_type_client_and_outcome(browser: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    assert _refresh(browser, first["refresh_token"]).status_code == 200
    code = code_for(browser)
    assert redeem(browser, code).status_code == 200
    # RFC 6749 §5.2: a code used twice is invalid_grant.
    assert redeem(browser, code).json()["error"] == "invalid_grant"
    metrics = scrape(browser)
    code_grants = {"grant_type": "authorization_code", "client": "webapp"}
    assert metrics.value(GRANTS, **code_grants, outcome="success") == 2
    assert metrics.value(GRANTS, **code_grants, outcome="invalid_grant") == 1
    assert (
        metrics.value(GRANTS, grant_type="refresh_token", client="webapp", outcome="success") == 1
    )


def test_reuse_of_a_refresh_token_is_counted(browser: TestClient) -> None:
    first = redeem(browser, code_for(browser)).json()
    assert _refresh(browser, first["refresh_token"]).status_code == 200
    replay = _refresh(browser, first["refresh_token"])  # a stolen copy comes back
    assert replay.json()["error"] == "invalid_grant"
    metrics = scrape(browser)
    assert metrics.value("authbridge_refresh_token_reuse_total", client="webapp") == 1
    assert (
        metrics.value(GRANTS, grant_type="refresh_token", client="webapp", outcome="invalid_grant")
        == 1
    )


def test_labels_stay_bounded_whatever_the_caller_sends(browser: TestClient) -> None:
    made_up = "Basic " + base64.b64encode(b"client-of-an-attacker-123:guess").decode()
    for n in range(3):
        refused = browser.post(
            TOKEN,
            data={"grant_type": f"urn:made-up:{n}", "code": "x"},
            headers={"authorization": made_up},
        )
        # RFC 6749 §5.2: client authentication failed.
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    wrong_type = browser.post(
        TOKEN, data={"grant_type": "password"}, headers={"authorization": BASIC}
    )
    assert wrong_type.json()["error"] == "unsupported_grant_type"
    metrics = scrape(browser)
    assert metrics.value(GRANTS, grant_type="other", client="other", outcome="invalid_client") == 3
    assert (
        metrics.value(GRANTS, grant_type="other", client="webapp", outcome="unsupported_grant_type")
        == 1
    )
    seen = {labels["client"] for labels in metrics.labels(GRANTS)}
    assert seen == {"webapp", "other"}  # nothing a caller made up became a label


class _Sink:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def test_each_grant_event_names_its_own_client_and_address() -> None:
    """AuditedEvents keeps the actor and target per (client, address): each event still
    carries the client that authenticated and the address it came from."""
    sink = _Sink()
    events = AuditedEvents(NoEvents(), sink)
    calls = [
        ("etl", "10.0.0.1"),
        ("etl", "10.0.0.2"),
        ("other", "10.0.0.1"),
        ("etl", "10.0.0.1"),
        (None, "10.0.0.1"),
        ("etl", None),
    ]
    for client_id, address in calls:
        events.grant("client_credentials", client_id, "success", address=address)
    for (client_id, address), event in zip(calls, sink.events, strict=True):
        assert event.actor.address == address
        assert event.actor.id == client_id
        assert event.actor.kind == ("client" if client_id else "anonymous")
        assert event.target == (Target("client", client_id) if client_id else None)
    assert sink.events[0].actor is sink.events[3].actor  # built once per caller


def test_the_kept_parties_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_events, "_PARTIES_MAX", 2)
    sink = _Sink()
    events = AuditedEvents(NoEvents(), sink)
    for n in range(5):
        events.grant("client_credentials", "etl", "success", address=f"10.0.0.{n}")
    assert len(events._parties) == 2
    assert [e.actor.address for e in sink.events] == [f"10.0.0.{n}" for n in range(5)]
