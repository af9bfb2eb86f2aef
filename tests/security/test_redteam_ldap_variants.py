"""Red team: spellings of one directory name, and names beyond Latin-1.

- The directory matches names its own way (RFC 4518 string preparation: compatibility
  forms, case): slapd signs fullwidth, mathematical bold and `AL\u0130CE` spellings in as
  `alice`. The throttle
  counted each spelling as another account, so every spelling had its own five guesses
  (and its own per-account limit) against one person's password.
- The device cookie carried the account name as typed: a name outside Latin-1 (an LDAP
  uid, or a local email like `δοκιμή@example.com`) made the response header unencodable, a
  500 after the session had been created, on every sign-in of that person."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.ldapserver import slapd  # noqa: F401
from tests.web.conftest import AppFactory
from tests.web.test_ldap_routes import client, ldap_sign_in  # noqa: F401
from tests.web.test_pages import sign_in, sign_up

SPELLINGS = [
    "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
    "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e",  # mathematical bold
    "AL\u0130CE",  # capital I with dot above
    "\uff21\uff2c\uff29\uff23\uff25",
    "Alice",
]


@pytest.mark.ldap
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_name_shares_its_throttle(client: TestClient, spelling: str) -> None:  # noqa: F811
    for _ in range(5):  # rateLimit.perAccountAndAddress
        assert ldap_sign_in(client, "alice", "wrong-password").status_code == 401
    assert ldap_sign_in(client, spelling, "alice-password").status_code == 429


@pytest.mark.ldap
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_name_beyond_latin1_signs_in(client: TestClient, spelling: str) -> None:  # noqa: F811
    signed_in = ldap_sign_in(client, spelling, "alice-password")
    assert signed_in.status_code == 303, signed_in.text[:300]
    assert client.get("/account").status_code == 200
    # The device cookie it set is read back (a new sign-in is counted on it).
    assert ldap_sign_in(client, spelling, "alice-password").status_code == 303


def test_a_local_account_named_beyond_latin1_signs_in(app_factory: AppFactory) -> None:
    browser = app_factory()
    email = "δοκιμή@example.com"
    assert sign_up(browser, email=email).status_code == 303
    browser.cookies.clear()
    for _ in range(2):  # the second time with the device cookie the first one set
        answer = sign_in(browser, email=email)
        assert answer.status_code == 303, answer.text[:300]
        assert browser.get("/account").status_code == 200
