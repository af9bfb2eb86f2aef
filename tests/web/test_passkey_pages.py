"""Passkeys through the ASGI app, with the software authenticator: registered from the
account page (listed, removed after a confirmation), used as the second step after the
password and to sign in without one; a counter that goes back is refused and audited;
every ceremony needs the CSRF token and a challenge this browser was given."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.directory.webauthn_authenticator import SoftAuthenticator
from tests.web.conftest import AppFactory
from tests.web.test_mfa_pages import Recorded, ready_of
from tests.web.test_pages import csrf, sign_in, sign_up


def _authenticator(client: TestClient) -> SoftAuthenticator:
    passkeys = ready_of(client).passkeys
    assert passkeys is not None
    return SoftAuthenticator(passkeys.origin, passkeys.rp_id)


def _ceremony(
    client: TestClient, page: str, options: str, verify: str, make: Any, **fields: str
) -> Any:
    token = csrf(client.get(page).text)
    answer = client.post(options, data={"csrf_token": token})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    credential = make(answer.text)
    return client.post(verify, data={"csrf_token": token, "credential": credential, **fields})


def _register(client: TestClient, authenticator: SoftAuthenticator, name: str) -> Any:
    return _ceremony(
        client,
        "/account/mfa",
        "/account/passkeys/options",
        "/account/passkeys",
        authenticator.create,
        name=name,
    )


def _registered_user(client: TestClient) -> SoftAuthenticator:
    assert sign_up(client).status_code == 303
    authenticator = _authenticator(client)
    done = _register(client, authenticator, "Laptop")
    assert done.status_code == 200 and done.json() == {
        "redirect": "/account/mfa?notice=passkey-added"
    }
    client.cookies.clear()
    return authenticator


def test_register_list_and_remove_from_the_account_page(client: TestClient) -> None:
    recorded = Recorded()
    ready_of(client).audit = recorded  # type: ignore[assignment]
    assert sign_up(client).status_code == 303
    assert _register(client, _authenticator(client), "Laptop").status_code == 200
    assert _register(client, _authenticator(client), "Security key").status_code == 200
    page = client.get("/account/mfa?notice=passkey-added")
    assert "Passkey added." in page.text
    assert "Laptop" in page.text and "Security key" in page.text
    assert '<script src="/static/passkeys.js"></script>' in page.text
    passkeys = ready_of(client).passkeys
    assert passkeys is not None
    user = ready_of(client).storage.users.by_username("ada@example.com")
    assert user is not None
    first = passkeys.list(user.id)[0]
    confirm = client.get(f"/account/passkeys/{first.id}/remove")
    assert confirm.status_code == 200 and "Remove the passkey" in confirm.text
    refused = client.post(f"/account/passkeys/{first.id}/remove", data={"csrf_token": "x"})
    assert refused.status_code == 403 and len(passkeys.list(user.id)) == 2
    done = client.post(
        f"/account/passkeys/{first.id}/remove",
        data={"csrf_token": csrf(confirm.text)},
        follow_redirects=False,
    )
    assert done.headers["location"] == "/account/mfa?notice=passkey-removed"
    assert [p.name for p in passkeys.list(user.id)] == ["Security key"]
    types = [e.type for e in recorded.events]
    assert types.count("user.passkey_added") == 2 and "user.passkey_removed" in types


def test_a_passkey_is_the_second_step_after_the_password(client: TestClient) -> None:
    authenticator = _registered_user(client)
    first = sign_in(client)
    assert first.status_code == 303 and first.headers["location"] == "/login/mfa"
    step = client.get("/login/mfa")
    assert "Use a passkey" in step.text and 'name="code"' not in step.text  # no TOTP
    done = _ceremony(
        client,
        "/login/mfa",
        "/login/mfa/passkey/options",
        "/login/mfa/passkey",
        authenticator.get,
    )
    assert done.status_code == 200 and done.json() == {"redirect": "/account"}
    assert client.get("/account").status_code == 200


def test_passwordless_sign_in(client: TestClient) -> None:
    authenticator = _registered_user(client)
    login = client.get("/login")
    assert "Sign in with a passkey" in login.text
    done = _ceremony(
        client, "/login", "/login/passkey/options", "/login/passkey", authenticator.get
    )
    assert done.status_code == 200 and done.json() == {"redirect": "/account"}
    assert client.get("/account").status_code == 200


def test_a_cloned_authenticator_is_refused_and_audited(client: TestClient) -> None:
    authenticator = _registered_user(client)
    recorded = Recorded()
    ready_of(client).audit = recorded  # type: ignore[assignment]
    for _ in range(2):
        ok = _ceremony(
            client, "/login", "/login/passkey/options", "/login/passkey", authenticator.get
        )
        assert ok.status_code == 200
        client.cookies.clear()
    clone = _ceremony(
        client,
        "/login",
        "/login/passkey/options",
        "/login/passkey",
        lambda options: authenticator.get(options, counter_step=-1),
    )
    assert clone.status_code == 403 and "copied" in clone.json()["error"]
    assert client.get("/account", follow_redirects=False).status_code == 303
    failed = [e for e in recorded.events if e.type == "signin.failed"]
    assert len(failed) == 1 and failed[0].details["reason"] == "cloned_authenticator"
    assert failed[0].details["stored_count"] == 2 and failed[0].details["seen_count"] == 1
    assert failed[0].target is not None and failed[0].target.name == "ada@example.com"


def test_a_ceremony_needs_the_csrf_token_and_its_own_challenge(client: TestClient) -> None:
    authenticator = _registered_user(client)
    assert client.post("/login/passkey/options", data={"csrf_token": "x"}).status_code == 403
    token = csrf(client.get("/login").text)
    options = client.post("/login/passkey/options", data={"csrf_token": token}).text
    response = authenticator.get(options)
    other = TestClient(client.app)
    other_token = csrf(other.get("/login").text)
    stolen = other.post("/login/passkey", data={"csrf_token": other_token, "credential": response})
    assert stolen.status_code == 401  # the challenge was this browser's, not the other's
    assert "authbridge_session" not in stolen.cookies


def test_the_second_step_refuses_without_a_pending_login(client: TestClient) -> None:
    _registered_user(client)
    token = csrf(client.get("/login").text)
    answer = client.post("/login/mfa/passkey/options", data={"csrf_token": token})
    assert answer.status_code == 400 and json.loads(answer.text)["error"]


def test_under_a_required_policy_a_passkey_is_the_second_factor(
    app_factory: AppFactory,
) -> None:
    client = app_factory(AUTH__LOCAL__MFA="required")
    assert sign_up(client).headers["location"] == "/login/mfa/enrol"
    client.cookies.clear()
    ready = ready_of(client)
    passkeys = ready.passkeys
    user = ready.storage.users.by_username("ada@example.com")
    assert passkeys is not None and user is not None
    authenticator = _authenticator(client)
    options = passkeys.registration_options("elsewhere", user.id, user.username, "")
    passkeys.register("elsewhere", user.id, authenticator.create(options), "Key")
    # Enrolled now: the step verifies (a passkey) rather than enrols (TOTP).
    assert sign_in(client).headers["location"] == "/login/mfa"
    done = _ceremony(
        client, "/login/mfa", "/login/mfa/passkey/options", "/login/mfa/passkey", authenticator.get
    )
    assert done.status_code == 200
    client.cookies.clear()
    # Without a password, a user-verifying passkey is two factors: no further step.
    done = _ceremony(
        client, "/login", "/login/passkey/options", "/login/passkey", authenticator.get
    )
    assert done.status_code == 200 and client.get("/account").status_code == 200


def test_turned_off_passkeys_offer_nothing(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__PASSKEYS__ENABLED="false")
    assert "Sign in with a passkey" not in client.get("/login").text
    assert "passkeys.js" not in client.get("/login").text
    token = csrf(client.get("/login").text)
    assert client.post("/login/passkey/options", data={"csrf_token": token}).status_code == 404


def test_a_refused_passkey_at_the_second_step_is_audited_and_counted(
    client: TestClient,
) -> None:
    authenticator = _registered_user(client)
    recorded = Recorded()
    ready_of(client).audit = recorded  # type: ignore[assignment]
    assert sign_in(client).headers["location"] == "/login/mfa"
    stranger = _authenticator(client)
    stranger.user_handle = authenticator.user_handle
    refused = _ceremony(
        client, "/login/mfa", "/login/mfa/passkey/options", "/login/mfa/passkey", stranger.get
    )
    assert refused.status_code == 401
    assert client.get("/account", follow_redirects=False).status_code == 303
    failed = [e for e in recorded.events if e.type == "signin.failed"]
    assert [e.details for e in failed] == [{"method": "passkey", "reason": "unknown_credential"}]
    # The pending login still stands: the right passkey finishes it.
    done = _ceremony(
        client, "/login/mfa", "/login/mfa/passkey/options", "/login/mfa/passkey", authenticator.get
    )
    assert done.status_code == 200 and client.get("/account").status_code == 200


def test_a_required_second_factor_can_be_a_new_passkey(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__MFA="required")
    assert sign_up(client).headers["location"] == "/login/mfa/enrol"
    page = client.get("/login/mfa/enrol")
    assert "Use a passkey instead" in page.text and 'id="secret"' in page.text
    assert client.get("/account", follow_redirects=False).status_code == 303
    authenticator = _authenticator(client)
    done = _ceremony(
        client,
        "/login/mfa/enrol",
        "/login/mfa/enrol/passkey/options",
        "/login/mfa/enrol/passkey",
        authenticator.create,
        name="Passkey",
    )
    assert done.status_code == 200 and done.json() == {"redirect": "/account"}
    assert client.get("/account").status_code == 200
    client.cookies.clear()
    assert sign_in(client).headers["location"] == "/login/mfa"  # verify now, not enrol


def test_a_deactivated_user_cannot_sign_in_with_a_passkey(client: TestClient) -> None:
    authenticator = _registered_user(client)
    storage = ready_of(client).storage
    user = storage.users.by_username("ada@example.com")
    assert user is not None
    storage.users.set_active(user.id, False)
    refused = _ceremony(
        client, "/login", "/login/passkey/options", "/login/passkey", authenticator.get
    )
    assert refused.status_code == 401
    assert client.get("/account", follow_redirects=False).status_code == 303
