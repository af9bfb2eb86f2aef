"""`POST /api/v1/users/{id}/mfa/reset`: an administrator removes a user's second factors;
audited, `users.write` only, a missing user is a 404 problem."""

from __future__ import annotations

import pyotp

from authbridge.audit.events import AuditEvent
from tests.directory.webauthn_authenticator import SoftAuthenticator
from tests.web.api.conftest import Api, assert_problem


class Recorded:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def _enrol(api: Api, user_id: str) -> None:
    factors = api.ready.second_factors
    assert factors is not None
    enrolment = factors.start_enrolment(user_id, "someone", binding="a session")
    assert enrolment is not None
    code = pyotp.TOTP(enrolment.secret).now()
    assert factors.confirm(user_id, code, binding="a session") is not None


def test_reset_removes_the_second_factors_and_is_audited(api: Api) -> None:
    recorded = Recorded()
    api.ready.admin.mfa._audit = recorded
    user_id = api.user("viewer")
    _enrol(api, user_id)
    response = api.post(f"/api/v1/users/{user_id}/mfa/reset")
    assert response.status_code == 200 and response.json() == {"removed": True}
    factors = api.ready.second_factors
    assert factors is not None and not factors.enrolled(user_id)
    again = api.post(f"/api/v1/users/{user_id}/mfa/reset")
    assert again.json() == {"removed": False}
    assert [e.type for e in recorded.events] == ["user.mfa_reset", "user.mfa_reset"]
    event = recorded.events[0]
    assert event.target is not None and event.target.id == user_id
    assert event.details == {"removed": True, "passkeys_removed": 0}
    assert event.actor.kind == "user"


def test_reset_removes_passkeys_too(api: Api) -> None:
    user_id = api.user("viewer")
    passkeys = api.ready.passkeys
    assert passkeys is not None
    for name in ("Laptop", "Phone"):
        authenticator = SoftAuthenticator(passkeys.origin, passkeys.rp_id)
        options = passkeys.registration_options("browser", user_id, "someone", "")
        passkeys.register("browser", user_id, authenticator.create(options), name)
    assert api.ready.admin.mfa.enrolled(user_id)  # the console shows a second factor
    response = api.post(f"/api/v1/users/{user_id}/mfa/reset")
    assert response.json() == {"removed": True}
    assert passkeys.list(user_id) == []
    assert not api.ready.admin.mfa.enrolled(user_id)


def test_reset_needs_users_write(api: Api) -> None:
    user_id = api.user("viewer")
    _enrol(api, user_id)
    assert_problem(api.post(f"/api/v1/users/{user_id}/mfa/reset", role="viewer"), 403)
    assert_problem(api.post(f"/api/v1/users/{user_id}/mfa/reset", role=None), 401)
    factors = api.ready.second_factors
    assert factors is not None and factors.enrolled(user_id)


def test_reset_of_a_missing_user_is_404(api: Api) -> None:
    assert_problem(api.post("/api/v1/users/nobody/mfa/reset"), 404)


def test_the_route_is_in_the_openapi_document(api: Api) -> None:
    document = api.get("/api/v1/openapi.json", role=None).json()
    operation = document["paths"]["/api/v1/users/{user_id}/mfa/reset"]["post"]
    assert operation["operationId"] == "resetUserMfa"
