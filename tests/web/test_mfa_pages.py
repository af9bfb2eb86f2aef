"""The second sign-in step through the ASGI app: a user with TOTP gets `/login/mfa` after
the right password and no session until a code holds; the pending login is bound to the
browser, single-use and short-lived; wrong codes are throttled; `next` survives; a policy
that requires a second factor makes the user enrol before any session."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient

from authbridge.audit.events import Actor, AuditEvent
from authbridge.clock import utcnow
from authbridge.web.services import Ready
from tests.web.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up

STEP_START = 1_800_000_000 - 1_800_000_000 % 30
NEXT = "/oauth2/authorize?client_id=x&response_type=code&state=s%20t"


class Clock:
    def __init__(self) -> None:
        self.now = float(STEP_START)

    def __call__(self) -> float:
        return self.now


class Recorded:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


def ready_of(client: TestClient) -> Ready:
    ready: Ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    return ready


def frozen(client: TestClient) -> Clock:
    """The app's TOTP clock held still, so every code is of a step the test chooses."""
    clock = Clock()
    factors = ready_of(client).second_factors
    assert factors is not None
    factors._clock = clock
    return clock


def enrol_from_account(client: TestClient, clock: Clock) -> tuple[str, list[str]]:
    page = client.get("/account/mfa/enrol")
    assert page.status_code == 200
    secret = re.search(r'<code id="secret"[^>]*>([A-Z2-7]+)</code>', page.text)
    assert secret and "<svg" in page.text and "<script" not in page.text.split("<svg")[1]
    done = client.post(
        "/account/mfa/enrol",
        data={"code": pyotp.TOTP(secret[1]).at(clock.now), "csrf_token": csrf(page.text)},
    )
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.text)
    assert len(codes) == 10
    return secret[1], codes


def enrolled_user(client: TestClient) -> tuple[Clock, str, list[str]]:
    clock = frozen(client)
    assert sign_up(client).status_code == 303
    secret, codes = enrol_from_account(client, clock)
    client.cookies.clear()
    return clock, secret, codes


def post_code(client: TestClient, code: str, path: str = "/login/mfa") -> Any:
    page = client.get(path)
    token = csrf(page.text) if page.status_code == 200 else csrf(client.get("/login").text)
    return client.post(path, data={"code": code, "csrf_token": token}, follow_redirects=False)


def test_a_user_with_totp_gets_no_session_until_the_code(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    first = sign_in(client)
    assert first.status_code == 303 and first.headers["location"] == "/login/mfa"
    assert "authbridge_session" not in first.cookies
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"
    clock.now += 30
    done = post_code(client, pyotp.TOTP(secret).at(clock.now))
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert client.get("/account").status_code == 200


def test_the_apps_next_survives_the_second_step(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    page = client.get("/login")
    client.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": PASSWORD,
            "next": NEXT,
            "csrf_token": csrf(page.text),
        },
        follow_redirects=False,
    )
    clock.now += 30
    done = post_code(client, pyotp.TOTP(secret).at(clock.now))
    assert done.headers["location"] == NEXT


def test_a_wrong_or_replayed_code_is_refused(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    sign_in(client)
    # The enrolment's own code, within its window: used already.
    assert post_code(client, pyotp.TOTP(secret).at(clock.now)).status_code == 401
    assert post_code(client, "12345").status_code == 401
    assert "authbridge_session" not in client.cookies


def test_a_recovery_code_signs_in_once(client: TestClient) -> None:
    _, _, codes = enrolled_user(client)
    sign_in(client)
    assert post_code(client, codes[0]).status_code == 303
    client.cookies.clear()
    sign_in(client)
    assert post_code(client, codes[0]).status_code == 401


def test_the_pending_login_is_single_use_and_bound_to_the_browser(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    sign_in(client)
    pending = client.cookies.get("authbridge_mfa")
    assert pending
    clock.now += 30
    assert post_code(client, pyotp.TOTP(secret).at(clock.now)).status_code == 303
    # The same pending login again (its cookie copied), with a fresh, valid code: gone.
    client.cookies.clear()
    client.cookies.set("authbridge_mfa", pending)
    clock.now += 30
    assert post_code(client, pyotp.TOTP(secret).at(clock.now)).status_code == 400
    # Another browser, without the cookie, cannot finish someone's pending login.
    client.cookies.clear()
    sign_in(client)
    client.cookies.delete("authbridge_mfa")
    clock.now += 30
    assert post_code(client, pyotp.TOTP(secret).at(clock.now)).status_code == 400


def test_the_pending_login_expires(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    sign_in(client)
    pending = client.cookies.get("authbridge_mfa")
    assert pending
    values = ready_of(client).storage.values
    digest = hashlib.sha256(pending.encode()).digest()
    key = "mfa-login:" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    record = values.get(key)
    assert record is not None and json.loads(record)["step"] == "verify"
    assert values.expires_at(key) is not None
    assert values.expires_at(key) <= utcnow() + timedelta(minutes=5)  # type: ignore[operator]
    values.put(key, record, expires_at=utcnow() - timedelta(seconds=1))  # lapsed
    clock.now += 30
    assert post_code(client, pyotp.TOTP(secret).at(clock.now)).status_code == 400


def test_wrong_codes_are_throttled_like_wrong_passwords(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    recorded = Recorded()
    ready_of(client).audit = recorded  # type: ignore[misc]
    sign_in(client)
    right = pyotp.TOTP(secret).at(clock.now + 30)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for _ in range(5):  # rateLimit.perAccountAndAddress
        assert post_code(client, wrong).status_code == 401
    clock.now += 30
    refused = post_code(client, right)  # even the right code waits now
    assert refused.status_code == 429 and refused.headers["retry-after"]
    assert "authbridge_session" not in client.cookies
    failed = [e for e in recorded.events if e.type == "signin.failed"]
    assert len(failed) == 5 and failed[0].details["method"] == "totp"


def test_csrf_is_checked_on_the_second_step(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    sign_in(client)
    clock.now += 30
    refused = client.post(
        "/login/mfa", data={"code": pyotp.TOTP(secret).at(clock.now)}, follow_redirects=False
    )
    assert refused.status_code in (400, 403)
    assert "authbridge_session" not in client.cookies


def test_required_policy_enrols_before_any_session(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__MFA="required")
    clock = frozen(client)
    started = sign_up(client)
    assert started.status_code == 303 and started.headers["location"] == "/login/mfa/enrol"
    assert "authbridge_session" not in client.cookies
    page = client.get("/login/mfa/enrol")
    secret = re.search(r'<code id="secret"[^>]*>([A-Z2-7]+)</code>', page.text)
    assert secret
    done = post_code(client, pyotp.TOTP(secret[1]).at(clock.now), "/login/mfa/enrol")
    assert done.status_code == 200 and "recovery-codes" in done.text
    assert client.get("/account").status_code == 200
    # Next time: the code, not the enrolment.
    client.cookies.clear()
    assert sign_in(client).headers["location"] == "/login/mfa"


def test_admins_must_enrol_when_the_admin_switch_is_on(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__MFA_REQUIRED_FOR_ADMINS="true")
    assert sign_up(client, "viewer@example.com").headers["location"] == "/account"
    ready = ready_of(client)
    user = ready.storage.users.by_username("viewer@example.com")
    assert user is not None
    ready.bindings.grant("admin", user_id=user.id, origin="test")
    client.cookies.clear()
    assert sign_in(client, "viewer@example.com").headers["location"] == "/login/mfa/enrol"


def test_account_page_regenerates_and_removes(client: TestClient) -> None:
    clock, secret, codes = enrolled_user(client)
    sign_in(client)
    clock.now += 30
    post_code(client, pyotp.TOTP(secret).at(clock.now))
    page = client.get("/account/mfa")
    assert "10 recovery codes left" in page.text
    wrong = client.post(
        "/account/mfa/recovery-codes", data={"code": "000001", "csrf_token": csrf(page.text)}
    )
    assert wrong.status_code == 400
    clock.now += 30
    fresh = client.post(
        "/account/mfa/recovery-codes",
        data={"code": pyotp.TOTP(secret).at(clock.now), "csrf_token": csrf(page.text)},
    )
    assert fresh.status_code == 200 and codes[0] not in fresh.text
    refused = client.post(
        "/account/mfa/remove", data={"proof": "not it", "csrf_token": csrf(page.text)}
    )
    assert refused.status_code == 400
    removed = client.post(
        "/account/mfa/remove",
        data={"proof": PASSWORD, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert removed.headers["location"] == "/account/mfa?notice=removed"
    client.cookies.clear()
    assert sign_in(client).headers["location"] == "/account"


@pytest.mark.parametrize("path", ["/login/mfa", "/login/mfa/enrol"])
def test_second_step_pages_without_a_pending_login(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 400


def test_the_right_password_again_does_not_reset_the_code_count(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    right = pyotp.TOTP(secret).at(clock.now + 30)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    sign_in(client)
    for _ in range(4):
        assert post_code(client, wrong).status_code == 401
    client.cookies.clear()
    assert sign_in(client).headers["location"] == "/login/mfa"  # password right again
    assert post_code(client, wrong).status_code == 401  # the fifth wrong code
    assert post_code(client, right).status_code == 429


def _revoke(client: TestClient, how: str) -> None:
    ready = ready_of(client)
    user = ready.storage.users.by_username("ada@example.com")
    assert user is not None
    operator = Actor("cli", id="root")
    if how == "sign_out_everywhere":  # the account page's button, and the admin's "revoke"
        ready.admin.users.revoke(operator, user.id)
    elif how == "password_reset":
        assert ready.resets is not None
        link = ready.resets.issue(user)
        assert link is not None
        ready.resets.reset(link.rsplit("/", 1)[1], "another horse battery staple")
    elif how == "disabled":
        ready.admin.users.disable(operator, user.id)
    else:
        ready.admin.users.delete(operator, user.id)


@pytest.mark.parametrize("how", ["sign_out_everywhere", "password_reset", "disabled", "deleted"])
def test_a_revocation_voids_the_pending_second_step_at_once(client: TestClient, how: str) -> None:
    """Whoever typed the password before the revocation holds a pending login: the
    revocation ends it at once (not when it lapses), on the code page and the passkey step."""
    clock, secret, _ = enrolled_user(client)
    assert sign_in(client).headers["location"] == "/login/mfa"
    _revoke(client, how)
    clock.now += 30
    refused = post_code(client, pyotp.TOTP(secret).at(clock.now))
    assert refused.status_code == 400 and "Sign in again" in refused.text
    assert client.get("/login/mfa").status_code == 400
    assert "authbridge_session" not in client.cookies


def test_a_pending_login_begun_after_a_revocation_still_works(client: TestClient) -> None:
    clock, secret, _ = enrolled_user(client)
    user = ready_of(client).storage.users.by_username("ada@example.com")
    assert user is not None
    ready_of(client).revocation.revoke_user(user.id)
    sign_in(client)
    clock.now += 30
    assert post_code(client, pyotp.TOTP(secret).at(clock.now)).status_code == 303


def test_an_enrolment_key_is_never_shown_to_another_sign_in(app_factory: AppFactory) -> None:
    """Someone holding the password reaches the required enrolment step too: the key
    they are shown must not be the one the owner then sets up (else they would hold the
    owner's second factor), nor may a key shown to one sign-in be confirmed by another."""
    client = app_factory(AUTH__LOCAL__MFA="required")
    clock = frozen(client)
    assert sign_up(client).headers["location"] == "/login/mfa/enrol"
    client.cookies.clear()
    secret = r'<code id="secret"[^>]*>([A-Z2-7]+)</code>'
    assert sign_in(client).headers["location"] == "/login/mfa/enrol"
    attacker = re.search(secret, client.get("/login/mfa/enrol").text)
    attacker_pending = client.cookies.get("authbridge_mfa")
    client.cookies.clear()
    assert sign_in(client).headers["location"] == "/login/mfa/enrol"  # the owner
    owner = re.search(secret, client.get("/login/mfa/enrol").text)
    assert attacker and owner and owner[1] != attacker[1]
    owner_pending = client.cookies.get("authbridge_mfa")
    # The attacker's key was replaced: it confirms nothing, in either sign-in.
    client.cookies.set("authbridge_mfa", attacker_pending or "")
    code = pyotp.TOTP(attacker[1]).at(clock.now)
    assert post_code(client, code, "/login/mfa/enrol").status_code == 400
    client.cookies.set("authbridge_mfa", owner_pending or "")
    assert post_code(client, code, "/login/mfa/enrol").status_code == 400
    clock.now += 30
    done = post_code(client, pyotp.TOTP(owner[1]).at(clock.now), "/login/mfa/enrol")
    assert done.status_code == 200 and "recovery-codes" in done.text
