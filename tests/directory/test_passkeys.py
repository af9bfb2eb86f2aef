"""Passkeys (WebAuthn Level 2) against a software authenticator built from the spec's
byte layouts: registration (§7.1) and authentication (§7.2), as a second factor and
without a password; each rule that protects a sign-in tried and broken: another origin
(§7.1 step 9), another RP id (step 13), a replayed challenge, a counter that goes back
(§6.1.1), a credential of another user, a missing user verification."""

from __future__ import annotations

import json

import pytest

from authbridge.directory.passkeys import ClonedAuthenticator, PasskeyError, Passkeys
from authbridge.storage import Storage
from tests.directory.webauthn_authenticator import SoftAuthenticator

ISSUER = "https://auth.example.com"
ORIGIN = "https://auth.example.com"
RP_ID = "auth.example.com"
BROWSER = "browser-binding-value-0123456789abcdef"


def _passkeys(storage: Storage, uv: str = "preferred") -> Passkeys:
    return Passkeys(storage.passkeys, storage.values, ISSUER, "authbridge", uv)


def _registered(storage: Storage, **kw: object) -> tuple[Passkeys, str, SoftAuthenticator]:
    passkeys = _passkeys(storage)
    user = storage.users.create(username="ada@example.com")
    authenticator = SoftAuthenticator(ORIGIN, RP_ID, **kw)  # type: ignore[arg-type]
    options = passkeys.registration_options(BROWSER, user.id, user.username, "Ada")
    passkeys.register(BROWSER, user.id, authenticator.create(options), "Laptop")
    return passkeys, user.id, authenticator


def test_options_name_the_issuer_host_as_rp_and_exclude_registered_credentials(
    storage: Storage,
) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    options = json.loads(passkeys.registration_options(BROWSER, user_id, "ada@example.com", ""))
    assert options["rp"]["id"] == RP_ID
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert [c["id"] for c in options["excludeCredentials"]] == [
        json.loads(authenticator.create(json.dumps(options)))["id"]
    ]


def test_register_several_and_list_them(storage: Storage) -> None:
    passkeys, user_id, _ = _registered(storage)
    second = SoftAuthenticator(ORIGIN, RP_ID, backup_eligible=True)
    options = passkeys.registration_options(BROWSER, user_id, "ada@example.com", "Ada")
    passkeys.register(BROWSER, user_id, second.create(options), "Phone")
    listed = passkeys.list(user_id)
    assert [(p.name, p.backup_eligible, p.transports) for p in listed] == [
        ("Laptop", False, ("internal",)),
        ("Phone", True, ("internal",)),
    ]
    assert listed[1].credential_id == second.credential_id


def test_second_factor_sign_in_and_amr(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    options = passkeys.authentication_options(BROWSER, user_id)
    assert json.loads(options)["allowCredentials"][0]["type"] == "public-key"
    used = passkeys.authenticate(BROWSER, authenticator.get(options), user_id)
    assert used.user_id == user_id
    assert used.amr == ["pwd", "hwk"]  # RFC 8176: password, then a hardware-bound key
    assert passkeys.list(user_id)[0].sign_count == 1
    assert passkeys.list(user_id)[0].last_used_at is not None


def test_passwordless_finds_the_user_by_user_handle_and_needs_user_verification(
    storage: Storage,
) -> None:
    passkeys, user_id, authenticator = _registered(storage, backup_eligible=True)
    options = passkeys.authentication_options(BROWSER, None)
    parsed = json.loads(options)
    assert parsed["userVerification"] == "required"
    assert parsed.get("allowCredentials", []) == []  # discoverable credentials
    used = passkeys.authenticate(BROWSER, authenticator.get(options), None)
    assert used.user_id == user_id
    assert used.amr == ["swk", "user", "mfa"]  # synced passkey: a software-secured key

    authenticator.user_verifying = False
    options = passkeys.authentication_options(BROWSER, None)
    with pytest.raises(PasskeyError):
        passkeys.authenticate(BROWSER, authenticator.get(options), None)


def test_passwordless_refuses_a_user_handle_that_is_not_the_credentials_owner(
    storage: Storage,
) -> None:
    passkeys, _, authenticator = _registered(storage)
    other = storage.users.create(username="eve@example.com")
    options = passkeys.authentication_options(BROWSER, None)
    forged = authenticator.get(options, user_handle=other.id.encode())
    with pytest.raises(PasskeyError, match="user_handle_mismatch"):
        passkeys.authenticate(BROWSER, forged, None)


def test_a_credential_of_another_user_is_no_second_factor(storage: Storage) -> None:
    passkeys, _, authenticator = _registered(storage)
    other = storage.users.create(username="eve@example.com")
    options = passkeys.authentication_options(BROWSER, other.id)
    with pytest.raises(PasskeyError, match="credential_of_another_user"):
        passkeys.authenticate(BROWSER, authenticator.get(options), other.id)


def test_registration_from_another_origin_is_refused(storage: Storage) -> None:
    passkeys = _passkeys(storage)
    user = storage.users.create(username="ada@example.com")
    phishing = SoftAuthenticator("https://auth.example.com.evil.test", RP_ID)
    options = passkeys.registration_options(BROWSER, user.id, user.username, "")
    with pytest.raises(PasskeyError, match="invalid_registration"):
        passkeys.register(BROWSER, user.id, phishing.create(options), "x")
    assert passkeys.list(user.id) == []


def test_registration_for_another_rp_id_is_refused(storage: Storage) -> None:
    passkeys = _passkeys(storage)
    user = storage.users.create(username="ada@example.com")
    authenticator = SoftAuthenticator(ORIGIN, "example.com")
    options = passkeys.registration_options(BROWSER, user.id, user.username, "")
    with pytest.raises(PasskeyError, match="invalid_registration"):
        passkeys.register(BROWSER, user.id, authenticator.create(options), "x")


def test_assertion_from_another_origin_or_rp_id_is_refused(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    authenticator.origin = "https://evil.test"
    options = passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(PasskeyError, match="invalid_assertion"):
        passkeys.authenticate(BROWSER, authenticator.get(options), user_id)
    authenticator.origin = ORIGIN
    options = passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(PasskeyError, match="invalid_assertion"):
        passkeys.authenticate(BROWSER, authenticator.get(options, rp_id="evil.test"), user_id)
    options = passkeys.authentication_options(BROWSER, user_id)
    passkeys.authenticate(BROWSER, authenticator.get(options), user_id)  # the real one


def test_a_replayed_response_finds_no_challenge(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    options = passkeys.authentication_options(BROWSER, user_id)
    response = authenticator.get(options)
    passkeys.authenticate(BROWSER, response, user_id)
    with pytest.raises(PasskeyError, match="no_challenge"):
        passkeys.authenticate(BROWSER, response, user_id)
    # A new ceremony's challenge does not make the old response valid either.
    passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(PasskeyError, match="invalid_assertion"):
        passkeys.authenticate(BROWSER, response, user_id)


def test_a_challenge_is_bound_to_the_browser_and_the_purpose(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    options = passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(PasskeyError, match="no_challenge"):
        passkeys.authenticate("another-browser", authenticator.get(options), user_id)
    options = passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(PasskeyError, match="challenge_mismatch"):
        passkeys.authenticate(BROWSER, authenticator.get(options), None)


def test_a_counter_that_goes_back_is_a_cloned_authenticator(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    for _ in range(3):
        options = passkeys.authentication_options(BROWSER, user_id)
        passkeys.authenticate(BROWSER, authenticator.get(options), user_id)
    assert passkeys.list(user_id)[0].sign_count == 3
    options = passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(ClonedAuthenticator) as refused:
        passkeys.authenticate(BROWSER, authenticator.get(options, counter_step=-2), user_id)
    assert refused.value.seen == 1
    options = passkeys.authentication_options(BROWSER, user_id)
    with pytest.raises(ClonedAuthenticator):  # equal is not an increase either
        passkeys.authenticate(BROWSER, authenticator.get(options, counter_step=0), user_id)
    assert passkeys.list(user_id)[0].sign_count == 3


def test_an_authenticator_without_a_counter_stays_at_zero(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    for _ in range(2):
        options = passkeys.authentication_options(BROWSER, user_id)
        passkeys.authenticate(BROWSER, authenticator.get(options, counter_step=0), user_id)
    assert passkeys.list(user_id)[0].sign_count == 0


def test_required_user_verification_refuses_presence_only(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    strict = _passkeys(storage, "required")
    authenticator.user_verifying = False
    options = strict.authentication_options(BROWSER, user_id)
    assert json.loads(options)["userVerification"] == "required"
    with pytest.raises(PasskeyError):
        strict.authenticate(BROWSER, authenticator.get(options), user_id)
    options = passkeys.authentication_options(BROWSER, user_id)  # preferred: accepted
    assert not passkeys.authenticate(BROWSER, authenticator.get(options), user_id).user_verified


def test_the_same_credential_cannot_be_registered_twice(storage: Storage) -> None:
    passkeys, user_id, authenticator = _registered(storage)
    options = passkeys.registration_options(BROWSER, user_id, "ada@example.com", "")
    with pytest.raises(PasskeyError, match="credential_registered_already"):
        passkeys.register(BROWSER, user_id, authenticator.create(options), "again")


def test_removal_only_of_ones_own(storage: Storage) -> None:
    passkeys, user_id, _ = _registered(storage)
    other = storage.users.create(username="eve@example.com")
    passkey = passkeys.list(user_id)[0]
    assert passkeys.remove(other.id, passkey.id) is None
    assert passkeys.remove(user_id, passkey.id) == passkey
    assert passkeys.list(user_id) == []
