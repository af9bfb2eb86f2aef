"""The LDAP / Active Directory connector (after Dex's `connector/ldap`): a password
connector. The service account finds the person by what they typed, their own password is
checked by binding as their entry, their groups are searched, and the `Identity` is keyed
by `userSearch.idAttr` (the directory's stable id).

- The typed username only ever enters a filter as an RFC 4515 §3 assertion value, escaped
  by ldap3's `escape_filter_chars` (`*`, `(`, `)`, `\\`, NUL), so no input changes the
  filter's shape; attribute names and the configured filters were checked at load
  (config/ldap.py). A search that finds more than one entry signs no one in.
- An empty password is refused before any connection (RFC 4513 §5.1.2). An unknown
  username still costs a bind (as a DN that cannot exist), so timing does not say which
  names the directory holds.
- The email is verified only when the operator says the directory vouches for it
  (`insecureSkipEmailVerified`, as for OIDC): accounts are never linked, and invitations
  never accepted, by an address a user may have typed into their own entry.
- The form's status (`problem`) is what the last call taught, refreshed by a background
  probe (the service bind and a base search) at most every `STATUS_TTL` seconds and waited
  on for `PROBE_BUDGET` at most, so a dead directory costs its own form, not the page.

ldap3 (with pyasn1) is imported when an LDAP connector is built or a filter escaped, not
with this module, which the connector registry imports on every start
(`tests/test_imports.py`).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from authbridge.config.ldap import LdapSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.errors import LoginFailed, ProviderUnavailable
from authbridge.connectors.http import UpstreamObserver
from authbridge.connectors.identity import Identity

if TYPE_CHECKING:
    from authbridge.connectors.ldap_directory import Entry, LdapDirectory

__all__ = ["LdapConnector", "user_filter"]

log = structlog.get_logger("authbridge.connectors.ldap")
MAX_USERNAME = 256
MAX_PASSWORD = 1024
MAX_GROUPS = 500
STATUS_TTL = 60.0  # seconds a known status is believed before the form probes again
RETRY_AFTER = 10.0  # after a failure: seconds before the form probes again
PROBE_BUDGET = 0.5  # seconds the login page waits for a probe


def assertion(value: bytes | str) -> str:
    """An RFC 4515 §3 assertion value: UTF-8 text with `*()\\` and NUL escaped, or any
    other bytes (a binary attribute such as objectGUID) escaped whole as \\XX."""
    from ldap3.utils.conv import escape_bytes, escape_filter_chars

    if isinstance(value, str):
        return escape_filter_chars(value)
    try:
        return escape_filter_chars(value.decode("utf-8"))
    except UnicodeDecodeError:
        return str(escape_bytes(value))


def _and(configured: str, match: str) -> str:
    return f"(&{configured}{match})" if configured else match


def user_filter(settings: LdapSettings, username: str) -> str:
    """Dex's user filter: `(|(<attr>=<username>)...)` AND-ed with `userSearch.filter`."""
    value = assertion(username)
    terms = [f"({attr}={value})" for attr in settings.user_search.username]
    match = terms[0] if len(terms) == 1 else f"(|{''.join(terms)})"
    return _and(settings.user_search.filter, match)


def _text(attr: str, raw: bytes) -> str:
    """An attribute value as text: UTF-8, else an AD objectGUID as its GUID string, else hex."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        if attr.lower() == "objectguid" and len(raw) == 16:
            return str(uuid.UUID(bytes_le=raw))
        return raw.hex()
    return text if text.isprintable() else raw.hex()


class LdapConnector:
    """One `auth.ldap.<id>` block (or Dex `type: ldap` entry)."""

    type_name = "ldap"
    problem_may_wait = True

    def __init__(
        self, name: str, settings: LdapSettings, *, observe: UpstreamObserver | None = None
    ) -> None:
        # Here, not at the top: a configured LDAP connector is what needs ldap3.
        from ldap3.core.exceptions import LDAPException

        from authbridge.connectors.ldap_directory import LdapDirectory

        self.id = name
        self.settings = settings
        self.display_name = settings.display_name or name.upper()
        self.username_prompt = settings.username_prompt
        self.signup = SignupPolicy(
            allow_signup=settings.allow_signup,
            allowed_domains=tuple(d.casefold() for d in settings.allowed_domains),
            invite_only=settings.signup == "invite-only",
        )
        self.config_error: ProviderUnavailable | None = None
        self.directory: LdapDirectory | None = None
        try:
            self.directory = LdapDirectory(name, settings, observe)
        except (ValueError, OSError, LDAPException) as exc:
            # A bad host or an unreadable CA file disables this form, not the service.
            self.config_error = ProviderUnavailable(
                "This directory is not configured correctly.",
                f"auth.ldap.{name}: {exc}",
                code="idp_misconfigured",
            )
        # Random per process: no entry has this DN, so a bind as it always fails.
        self._decoy_dn = (
            f"cn=authbridge-decoy-{secrets.token_hex(8)},{settings.user_search.base_dn}"
        )
        self._status_lock = threading.Lock()
        self._problem: ProviderUnavailable | None = None
        self._known_at: float | None = None
        self._probe: threading.Thread | None = None

    # -- sign-in ------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Identity | None:
        """The person whose entry `username` names, if `password` is theirs; None for an
        unknown user or a wrong password alike. Raises ProviderUnavailable when the
        directory cannot answer, LoginFailed when their entry cannot make an identity."""
        if not password or not username:
            return None  # RFC 4513 §5.1.2: never an unauthenticated bind
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            return None
        directory = self._directory()
        try:
            entry = self._find(directory, username)
            if entry is None:
                self._decoy_bind(directory, password)
                self._healthy()
                return None
            if not directory.check_password(entry.dn, password):
                self._healthy()
                return None
            identity = self.identity(entry)
            identity = replace(identity, groups=self.groups(entry))
        except ProviderUnavailable as exc:
            self._failed(exc)
            raise
        self._healthy()
        return identity

    def _decoy_bind(self, directory: LdapDirectory, password: str) -> None:
        """A bind as an entry that cannot exist, so an unknown username costs the round
        trip a wrong password does and timing does not tell which names exist (OWASP
        Authentication Cheat Sheet, "Authentication Responses")."""
        with contextlib.suppress(ProviderUnavailable):
            directory.check_password(self._decoy_dn, password)

    def _directory(self) -> LdapDirectory:
        if self.config_error is not None or self.directory is None:
            assert self.config_error is not None
            raise self.config_error
        return self.directory

    def _user_attributes(self) -> list[str]:
        search = self.settings.user_search
        wanted = [search.id_attr, search.email_attr, *search.username]
        wanted += [m.user_attr for m in self.settings.group_search.user_matchers]
        wanted += [a for a in (search.name_attr, search.preferred_username_attr) if a]
        return list(dict.fromkeys(a for a in wanted if a.lower() != "dn"))

    def _find(self, directory: LdapDirectory, username: str) -> Entry | None:
        search = self.settings.user_search
        query = user_filter(self.settings, username)
        entries = directory.search(
            search.base_dn, query, search.scope, self._user_attributes(), size_limit=2
        )
        if len(entries) > 1:
            log.warning("ldap_user_ambiguous", connector=self.id, filter=query)
            raise LoginFailed(
                "Your directory account could not be identified; ask your administrator.",
                f"auth.ldap.{self.id}: userSearch matched more than one entry with {query}; "
                "make the username attributes or the filter select one entry",
                code="ldap_ambiguous_user",
            )
        return entries[0] if entries else None

    def _first(self, entry: Entry, attr: str | None) -> str | None:
        if not attr:
            return None
        values = entry.values(attr)
        return _text(attr, values[0]) if values else None

    def identity(self, entry: Entry) -> Identity:
        """Dex's identityFromEntry, with authbridge's rule for the email's verification."""
        search = self.settings.user_search
        subject = self._first(entry, search.id_attr)
        if not subject:
            raise LoginFailed(
                "Your directory account lacks the attribute that identifies it; ask your "
                "administrator.",
                f"auth.ldap.{self.id}: entry {entry.dn!r} has no {search.id_attr} (idAttr)",
                code="ldap_missing_id",
            )
        if search.email_suffix:
            email: str | None = f"{subject}@{search.email_suffix}"
        else:
            email = self._first(entry, search.email_attr)
        typed_as = next(
            (name for attr in search.username if (name := self._first(entry, attr))), None
        )
        username = self._first(entry, search.preferred_username_attr) or typed_as or subject
        return Identity(
            connector_id=self.id,
            subject=subject[:255],
            username=username[:320],
            email=email[:320] if email else None,
            email_verified=email is not None and self.settings.insecure_skip_email_verified,
            name=(self._first(entry, search.name_attr) or "")[:256] or None,
            claims={"dn": entry.dn},
            # RFC 8176 §2: the person proved a password (bound with it, RFC 4513 §5.1.3).
            amr=("pwd",),
        )

    def groups(self, entry: Entry) -> tuple[str, ...]:
        """The names of the groups each `userMatchers` pair finds (Dex's groups())."""
        group_search = self.settings.group_search
        if not group_search.base_dn:
            return ()
        directory = self._directory()
        names: list[str] = []
        for matcher in group_search.user_matchers:
            for value in entry.values(matcher.user_attr):
                query = _and(group_search.filter, f"({matcher.group_attr}={assertion(value)})")
                for group in directory.search(
                    group_search.base_dn,
                    query,
                    group_search.scope,
                    [group_search.name_attr],
                    size_limit=MAX_GROUPS,
                ):
                    name = self._first(group, group_search.name_attr)
                    if name:
                        names.append(name)
                    else:
                        log.warning("ldap_group_without_name", connector=self.id, group=group.dn)
        return tuple(dict.fromkeys(names))[:MAX_GROUPS]

    # -- status -------------------------------------------------------------------------

    def _healthy(self) -> None:
        with self._status_lock:
            self._problem, self._known_at = None, time.monotonic()

    def _failed(self, problem: ProviderUnavailable) -> None:
        # Not logged here: the sign-in route and the login page log it with their context,
        # and `doctor` prints it (a log line would corrupt its JSON output).
        with self._status_lock:
            self._problem, self._known_at = problem, time.monotonic()

    def probe(self) -> None:
        """The service bind and a base search of userSearch.baseDN; raises what failed."""
        directory = self._directory()
        try:
            directory.search(
                self.settings.user_search.base_dn, "(objectClass=*)", "base", [], size_limit=1
            )
        except ProviderUnavailable as exc:
            self._failed(exc)
            raise
        self._healthy()

    def _probe_quietly(self) -> None:
        with contextlib.suppress(ProviderUnavailable):  # recorded by probe()
            self.probe()

    def _due(self, now: float) -> bool:
        if self._known_at is None:
            return True
        return now - self._known_at >= (RETRY_AFTER if self._problem else STATUS_TTL)

    def problem(self) -> str | None:
        """Why the form cannot be used right now, or None; waits at most PROBE_BUDGET."""
        if self.config_error is not None:
            return self.config_error.message
        with self._status_lock:
            running = self._probe is not None and self._probe.is_alive()
            if not running and self._due(time.monotonic()):
                self._probe = threading.Thread(
                    target=self._probe_quietly, name=f"ldap-status-{self.id}", daemon=True
                )
                self._probe.start()
            probe = self._probe
        if probe is not None:
            probe.join(PROBE_BUDGET)
        problem = self._problem
        return problem.message if problem is not None else None

    def close(self) -> None:
        if self.directory is not None:
            self.directory.close()
