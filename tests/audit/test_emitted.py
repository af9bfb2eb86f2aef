"""Events actually recorded and stored by the running app: a password sign-in (both
outcomes, with address and user agent), a refresh, a refresh token's reuse (its family
revoked), a revocation (RFC 7009), an inactive introspection and a SCIM write."""

from __future__ import annotations

from fastapi.testclient import TestClient

from authbridge.storage.audit import AuditFilter, AuditRecord
from authbridge.web.services import Ready
from tests.provider.conftest import SECRET
from tests.provider.test_token import BASIC, TOKEN, code_for, redeem
from tests.web.metrics import scrape
from tests.web.test_pages import sign_in


def _ready(client: TestClient) -> Ready:
    ready: Ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    return ready


def _events(client: TestClient, type: str) -> list[AuditRecord]:
    ready = _ready(client)
    assert ready.audit.flush()  # type: ignore[attr-defined]
    return ready.storage.audit.query(AuditFilter(type=type), limit=50)


def test_password_sign_ins_are_recorded_with_address_and_user_agent(browser: TestClient) -> None:
    browser.cookies.clear()
    headers = {"user-agent": "audit-test/1.0"}
    browser.headers.update(headers)
    assert sign_in(browser, password="wrong password, certainly").status_code == 401
    assert sign_in(browser).status_code == 303
    (failed,) = _events(browser, "signin.failed")
    assert failed.outcome == "failure" and failed.actor_name == "ada@example.com"
    assert failed.details == {"method": "password", "reason": "invalid_credentials"}
    assert failed.user_agent == "audit-test/1.0" and failed.address
    assert "wrong password" not in str(failed)
    (succeeded,) = _events(browser, "signin.succeeded")
    assert succeeded.actor_kind == "user" and succeeded.target_id == succeeded.actor_id
    assert succeeded.details == {"method": "password"} and succeeded.request_id


def _refresh(op: TestClient, token: str):
    return op.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": token},
        headers={"authorization": BASIC},
    )


def test_token_events_issue_refresh_reuse_revocation_and_inactive_introspection(
    browser: TestClient,
) -> None:
    first = redeem(browser, code_for(browser)).json()
    second = _refresh(browser, first["refresh_token"]).json()
    assert _refresh(browser, first["refresh_token"]).json()["error"] == "invalid_grant"

    (issued,) = _events(browser, "token.issued")
    assert (issued.actor_kind, issued.actor_id) == ("client", "webapp")
    assert issued.details == {"grantType": "authorization_code"}
    refreshed = _events(browser, "token.refreshed")
    assert [(r.outcome, r.details.get("error")) for r in refreshed] == [
        ("failure", "invalid_grant"),
        ("success", None),
    ]
    (reuse,) = _events(browser, "token.refresh_reuse_detected")
    assert reuse.target_type == "refresh_family" and reuse.target_id
    assert reuse.details["familyRevoked"] is True and reuse.details["client"] == "webapp"
    assert reuse.details["userId"]
    # The family is revoked: the successor issued before the replay is dead too.
    assert _refresh(browser, second["refresh_token"]).json()["error"] == "invalid_grant"

    revoke = browser.post(
        "/oauth2/revoke",
        data={"token": second["access_token"]},
        headers={"authorization": BASIC},
    )
    assert revoke.status_code == 200
    (revoked,) = _events(browser, "token.revoked")
    assert revoked.details == {"revoked": "access_token"} and revoked.actor_id == "webapp"
    introspect = browser.post(
        "/oauth2/introspect",
        data={"token": "not-a-token"},
        auth=("webapp", SECRET),
    )
    assert introspect.json() == {"active": False}
    assert [e.actor_id for e in _events(browser, "token.introspected_inactive")] == ["webapp"]
    # No secret of any kind reached a row.
    rows = _events(browser, "token.")
    text = str(rows)
    for secret in (first["refresh_token"], second["access_token"], SECRET):
        assert secret not in text
    # Token events are not admin actions; nothing was dropped.
    metrics = scrape(browser)
    assert not metrics.labels("authbridge_admin_actions_total")
    assert not metrics.labels("authbridge_audit_events_dropped_total")


def test_a_scim_write_is_in_the_audit_log(op: TestClient) -> None:
    service = _ready(op).scim["okta"]
    created = service.create_user(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "grace@example.com",
            "password": "never-stored-in-the-log",
        },
        actor="okta:test",
    )
    (event,) = _events(op, "scim.user.created")
    assert (event.actor_kind, event.actor_id, event.actor_name) == ("scim", "okta", "okta:test")
    assert (event.target_type, event.target_id) == ("user", created["id"])
    assert event.details["after"]["userName"] == "grace@example.com"
    assert "never-stored-in-the-log" not in str(event.details)
