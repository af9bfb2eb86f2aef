"""The LDAP connector against a real OpenLDAP (tests/ldapserver.py): sign-in, groups by
`member`, `memberOf` and `memberUid`, StartTLS under a test CA, wrong and empty passwords,
injection strings in the username, a directory that is down, the connection pool."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import threading
from typing import Any

import pytest

from authbridge.config.ldap import LdapSettings
from authbridge.connectors import ldap as ldap_module
from authbridge.connectors.errors import LoginFailed, ProviderUnavailable
from authbridge.connectors.ldap import LdapConnector, user_filter
from tests.ldapserver import BASE, Slapd, closed_port, slapd

pytestmark = pytest.mark.ldap
__all__ = ["slapd"]

PASSWORDS = {
    "alice": "alice-password",
    "bob": "bob-password",
    "admin": "admin-password",
    "carol": "carol-password",
}


def connector(config: dict[str, Any], name: str = "corp") -> LdapConnector:
    return LdapConnector(name, LdapSettings.model_validate(config))


@pytest.fixture(scope="module")
def corp(slapd: Slapd) -> Any:
    made = connector(slapd.config())
    yield made
    made.close()


def test_sign_in_by_uid_finds_the_entry_and_its_groups(corp: LdapConnector) -> None:
    identity = corp.login("alice", "alice-password")
    assert identity is not None
    assert identity.connector_id == "corp" and identity.subject == "alice"
    assert identity.username == "alice" and identity.name == "Alice Liddell"
    assert identity.email == "alice@example.org"
    assert set(identity.groups) == {"engineers", "admins"}
    assert identity.claims["dn"] == f"uid=alice,ou=people,{BASE}"


def test_sign_in_by_mail_is_the_same_person(corp: LdapConnector) -> None:
    identity = corp.login("alice@example.org", "alice-password")
    assert identity is not None and identity.subject == "alice" and identity.username == "alice"


def test_email_is_unverified_unless_the_operator_vouches_for_the_directory(
    corp: LdapConnector, slapd: Slapd
) -> None:
    identity = corp.login("alice", "alice-password")
    assert identity is not None and identity.email_verified is False
    vouched = connector(slapd.config(insecureSkipEmailVerified=True))
    identity = vouched.login("alice", "alice-password")
    assert identity is not None and identity.email_verified is True
    # Without an address there is nothing to verify.
    carol = vouched.login("carol", "carol-password")
    assert carol is not None and carol.email is None and carol.email_verified is False
    vouched.close()


def test_stable_id_and_email_suffix(slapd: Slapd) -> None:
    config = slapd.config()
    config["userSearch"] = {
        **config["userSearch"],
        "idAttr": "entryUUID",
        "emailSuffix": "corp.test",
    }
    by_uuid = connector(config)
    first = by_uuid.login("bob", "bob-password")
    again = by_uuid.login("bob@example.org", "bob-password")
    assert first is not None and again is not None
    assert first.subject == again.subject and len(first.subject) == 36  # entryUUID (RFC 4530)
    assert first.email == f"{first.subject}@corp.test"
    by_uuid.close()


def test_groups_by_member_dn(corp: LdapConnector) -> None:
    bob = corp.login("bob", "bob-password")
    assert bob is not None and bob.groups == ("engineers",)
    carol = corp.login("carol", "carol-password")
    assert carol is not None and carol.groups == ()


def test_groups_by_member_of(slapd: Slapd) -> None:
    """The groups the directory lists on the user (`memberOf`, the memberof overlay / AD),
    each found by its DN (OpenLDAP's entryDN; AD's distinguishedName)."""
    config = slapd.config()
    config["groupSearch"] = {
        **config["groupSearch"],
        "userMatchers": [{"userAttr": "memberOf", "groupAttr": "entryDN"}],
    }
    made = connector(config)
    alice = made.login("alice", "alice-password")
    assert alice is not None and set(alice.groups) == {"engineers", "admins"}
    admin = made.login("admin", "admin-password")
    assert admin is not None and admin.groups == ("admins",)
    made.close()


def test_groups_by_member_uid_of_posix_groups(slapd: Slapd) -> None:
    config = slapd.config()
    config["groupSearch"] = {
        "baseDN": f"ou=groups,{BASE}",
        "filter": "(|(objectClass=posixGroup)(objectClass=groupOfNames))",
        "userMatchers": [
            {"userAttr": "uid", "groupAttr": "memberUid"},
            {"userAttr": "DN", "groupAttr": "member"},
        ],
        "nameAttr": "cn",
    }
    made = connector(config)
    bob = made.login("bob", "bob-password")
    assert bob is not None and set(bob.groups) == {"ops", "engineers"}
    made.close()


@pytest.mark.parametrize("typed", ["alice", "bob", "nobody", "ALICE"])
def test_wrong_password_or_unknown_user_signs_no_one_in(corp: LdapConnector, typed: str) -> None:
    assert corp.login(typed, "not-the-password") is None
    # Another user's password is no better.
    assert corp.login(typed, PASSWORDS["admin"]) is None


def test_an_unknown_user_costs_a_bind_as_a_wrong_password_does(
    corp: LdapConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert corp.directory is not None
    binds: list[str] = []
    check = corp.directory.check_password

    def spy(dn: str, password: str) -> bool:
        binds.append(dn)
        return check(dn, password)

    monkeypatch.setattr(corp.directory, "check_password", spy)
    assert corp.login("nobody", "a-password") is None
    assert corp.login("alice", "a-password") is None
    assert len(binds) == 2 and binds[1] == f"uid=alice,ou=people,{BASE}"
    assert binds[0].startswith("cn=authbridge-decoy-") and binds[0].endswith(f"ou=people,{BASE}")


def test_empty_password_is_refused_before_any_bind(slapd: Slapd) -> None:
    """RFC 4513 §5.1.2: a simple bind with a DN and no password is an unauthenticated bind,
    which this directory (like many) accepts as anonymous; authbridge must never send it.
    Against a directory that is down, the answer is still a plain refusal: nothing was
    attempted on the network."""
    dn = f"uid=alice,ou=people,{BASE}"
    who = subprocess.run(
        ["ldapwhoami", "-x", "-H", f"ldap://{slapd.address}/", "-D", dn, "-w", ""],
        capture_output=True,
        text=True,
        check=False,
    )
    assert who.returncode == 0 and who.stdout.strip() == "anonymous", who
    down = connector(slapd.config(host=f"127.0.0.1:{closed_port()}"))
    for password in ("", None):
        assert down.login("alice", password or "") is None
    with pytest.raises(ProviderUnavailable):
        down.login("alice", "alice-password")  # a real attempt does reach for the network
    assert down.directory is not None and down.directory.check_password(dn, "") is False
    down.close()


INJECTIONS = [
    "*",
    "a*",
    "*)(uid=*",
    ")(uid=*",
    "*)(|(uid=*",
    "admin)(|(password=*)",
    "admin)(|(userPassword=*))",
    "admin)(uid=*))(|(uid=*",
    "*)(objectClass=*",
    "alice)(&",
    "(uid=alice)",
    "\\00",
    "\x00",
    "alice\x00",
    "admin\x00)(uid=*",
    "\\2a",
    "ali\\2ace",
    "\\",
    "alice\\",
    "*@example.org",
]


@pytest.mark.parametrize("typed", INJECTIONS)
def test_injection_strings_in_the_username_match_no_entry(
    corp: LdapConnector, slapd: Slapd, typed: str
) -> None:
    """RFC 4515 §3: the typed text is one assertion value, so the filter keeps its shape
    and matches only an entry whose uid or mail is that exact text: none here, so no
    password of any user signs anyone in, and the service account's search finds nothing."""
    query = user_filter(corp.settings, typed)
    shape = re.fullmatch(
        r"\(&\(objectClass=inetOrgPerson\)\(\|\(uid=(.*)\)\(mail=(.*)\)\)\)", query
    )
    assert shape is not None and shape.group(1) == shape.group(2), query
    value = shape.group(1)
    # No filter metacharacter is left bare; every backslash starts a \XX escape.
    assert not set(value) & set("()*\x00"), value
    assert re.fullmatch(r"(?:[^\\]|\\[0-9a-f]{2})*", value), value
    assert corp.directory is not None
    found = corp.directory.search(f"ou=people,{BASE}", query, "sub", ["uid"])
    assert found == []
    for password in PASSWORDS.values():
        assert corp.login(typed, password) is None


def test_a_username_matching_several_entries_signs_no_one_in(slapd: Slapd) -> None:
    config = slapd.config()
    config["userSearch"] = {**config["userSearch"], "username": "objectClass"}
    made = connector(config)
    with pytest.raises(LoginFailed) as refused:
        made.login("inetOrgPerson", "alice-password")
    assert refused.value.code == "ldap_ambiguous_user"
    made.close()


def test_start_tls_under_a_test_ca(slapd: Slapd) -> None:
    ca = slapd.ca_file.read_text()
    for trust in (
        {"rootCA": str(slapd.ca_file)},
        {"rootCAData": base64.b64encode(ca.encode()).decode()},
    ):
        made = connector(slapd.config(insecureNoSSL=False, startTLS=True, **trust))
        identity = made.login("alice", "alice-password")
        assert identity is not None and set(identity.groups) == {"engineers", "admins"}
        assert made.directory is not None and made.directory.where.endswith("(StartTLS)")
        made.close()


def test_start_tls_without_the_ca_is_refused_and_explained(slapd: Slapd) -> None:
    made = connector(slapd.config(insecureNoSSL=False, startTLS=True))
    with pytest.raises(ProviderUnavailable) as failed:
        made.login("alice", "alice-password")
    assert failed.value.code == "ldap_tls"
    assert "not signed by a CA authbridge trusts" in (failed.value.hint or "")
    assert "rootCA" in (failed.value.hint or "")
    assert made.problem() == failed.value.message
    made.close()


def test_start_tls_to_a_host_the_certificate_does_not_name_is_refused(slapd: Slapd) -> None:
    made = connector(
        slapd.config(
            host=f"127.0.0.2:{slapd.port}",
            insecureNoSSL=False,
            startTLS=True,
            rootCA=str(slapd.ca_file),
        )
    )
    with pytest.raises(ProviderUnavailable) as failed:
        made.login("alice", "alice-password")
    assert failed.value.code == "ldap_tls"
    assert "does not name this host" in (failed.value.hint or "")
    made.close()
    # insecureSkipVerify accepts it (and doctor warns about it).
    lax = connector(
        slapd.config(
            host=f"127.0.0.2:{slapd.port}",
            insecureNoSSL=False,
            startTLS=True,
            insecureSkipVerify=True,
        )
    )
    assert lax.login("alice", "alice-password") is not None
    lax.close()


def test_ldaps_against_a_plain_port_is_explained(slapd: Slapd) -> None:
    made = connector(slapd.config(insecureNoSSL=False, rootCA=str(slapd.ca_file)))
    with pytest.raises(ProviderUnavailable) as failed:
        made.login("alice", "alice-password")
    assert failed.value.code == "ldap_tls"
    made.close()


def test_a_directory_that_is_down_fails_its_own_form_with_a_reason(slapd: Slapd) -> None:
    down = connector(slapd.config(host=f"127.0.0.1:{closed_port()}", timeout=2))
    with pytest.raises(ProviderUnavailable) as failed:
        down.login("alice", "alice-password")
    assert failed.value.code == "ldap_unreachable"
    assert "connection refused" in (failed.value.hint or "")
    assert down.problem() == "This directory cannot be reached right now."
    down.close()


def test_a_directory_that_never_answers_times_out(slapd: Slapd) -> None:
    """A listener that accepts and then says nothing (a hung server, a black hole behind a
    load balancer): the service bind gives up after `timeout`, with a reason."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads
        port = silent.getsockname()[1]
        made = connector(slapd.config(host=f"127.0.0.1:{port}", timeout=1))
        with pytest.raises(ProviderUnavailable) as failed:
            made.login("alice", "alice-password")
        made.close()
    assert failed.value.code == "ldap_timeout", failed.value.hint
    assert "no answer within 1 s" in (failed.value.hint or "")


def test_the_form_status_recovers_once_the_directory_answers(
    slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = connector(slapd.config())
    assert made.problem() is None  # probed: the service bind works
    made._failed(ProviderUnavailable("This directory cannot be reached right now."))
    assert made.problem() == "This directory cannot be reached right now."  # remembered
    monkeypatch.setattr(ldap_module, "RETRY_AFTER", 0.0)
    assert made.problem() is None  # due again: probed, and it answers
    made.close()


def test_a_wrong_service_password_is_named(slapd: Slapd) -> None:
    made = connector(slapd.config(bindPW="wrong"))
    with pytest.raises(ProviderUnavailable) as failed:
        made.login("alice", "alice-password")
    assert failed.value.code == "ldap_service_bind" and "bindPW" in (failed.value.hint or "")
    made.close()


def test_a_missing_base_is_named(slapd: Slapd) -> None:
    config = slapd.config()
    config["userSearch"] = {**config["userSearch"], "baseDN": f"ou=nowhere,{BASE}"}
    made = connector(config)
    with pytest.raises(ProviderUnavailable) as failed:
        made.login("alice", "alice-password")
    assert "baseDN" in (failed.value.hint or "")
    made.close()


def test_pooled_connections_serve_concurrent_sign_ins(slapd: Slapd) -> None:
    made = connector(slapd.config(poolSize=2))
    results: list[str | None] = []
    lock = threading.Lock()

    def sign_in(user: str) -> None:
        identity = made.login(user, PASSWORDS[user])
        with lock:
            results.append(identity.subject if identity else None)

    threads = [threading.Thread(target=sign_in, args=(u,)) for u in ["alice", "bob"] * 6]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["alice"] * 6 + ["bob"] * 6
    assert made.directory is not None and 1 <= len(made.directory._idle) <= 2
    made.close()


def test_a_pooled_connection_the_server_dropped_is_replaced(corp: LdapConnector) -> None:
    assert corp.login("alice", "alice-password") is not None
    assert corp.directory is not None
    for conn in corp.directory._idle:
        conn.socket.close()  # as a directory's idle timeout would
    assert corp.login("bob", "bob-password") is not None
