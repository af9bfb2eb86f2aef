"""The wire to one LDAP directory (ldap3): TLS as configured, a small pool of connections
bound as the service account, a connection of its own for each user's bind, timeouts on
everything, and every failure as a `ProviderUnavailable` whose hint says what to fix.

- LDAPS, or StartTLS before any bind (RFC 4513 §3): the certificate checked against
  `rootCA`/`rootCAData` (else the system's CAs) and the host name, unless
  `insecureSkipVerify`.
- The service account's connections are pooled (`poolSize`, SYNC strategy: one caller per
  connection at a time). ldap3's own REUSABLE strategy runs a thread per pool and hides
  which connection failed; here a connection that fails is closed and never reused, and a
  pooled one the server dropped while idle is retried once on a fresh connection.
- A user's password is checked by a simple bind (RFC 4513 §5.1.3) on a fresh connection
  closed right after, so the pool never holds a connection bound as a user. An empty
  password never reaches the wire: a simple bind with a DN and no password is an
  unauthenticated bind (§5.1.2) that many servers accept as anonymous.
- Referrals are never followed: chasing one would replay the service account's
  credentials to a host the directory names.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from ldap3 import ANONYMOUS, BASE, LEVEL, NONE, SIMPLE, SUBTREE, SYNC, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPStartTLSError

from authbridge.config.ldap import LdapSettings
from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.http import UpstreamObserver

__all__ = ["Entry", "LdapDirectory", "endpoint"]

# RFC 4511 §4.1.9 result codes.
SUCCESS = 0
SIZE_LIMIT_EXCEEDED = 4
CONSTRAINT_VIOLATION = 19  # some servers' answer for a locked or expired password
NO_SUCH_OBJECT = 32
INVALID_CREDENTIALS = 49
# What a user's bind may answer that means "not this password", not "directory broken".
REFUSED_BINDS = frozenset({INVALID_CREDENTIALS, CONSTRAINT_VIOLATION})
SCOPES: dict[str, Literal["BASE", "LEVEL", "SUBTREE"]] = {
    "sub": SUBTREE,
    "one": LEVEL,
    "base": BASE,
}
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """A search result: its DN and raw attribute values, by lower-cased attribute name."""

    dn: str
    attributes: dict[str, list[bytes]]

    def values(self, name: str) -> list[bytes]:
        found = self.attributes.get(name.lower())
        if found is None and name.lower() == "dn":
            return [self.dn.encode()]
        return found or []


def endpoint(settings: LdapSettings) -> tuple[str, int]:
    """`host` split into a host and a port: 636 for LDAPS, 389 for StartTLS or plain LDAP
    when none is given ([v6]:port for an IPv6 literal)."""
    host, port = settings.host, None
    if host.startswith("["):
        literal, _, rest = host[1:].partition("]")
        host = literal
        if rest.startswith(":"):
            port = rest[1:]
    elif host.count(":") == 1:
        host, port = host.split(":")
    if port is not None:
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ValueError(f"host {settings.host!r}: the port is not a number in 1-65535")
        return host, int(port)
    return host, 389 if settings.insecure_no_ssl or settings.start_tls else 636


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _tls(settings: LdapSettings, host: str) -> Tls | None:
    if settings.insecure_no_ssl:
        return None
    if settings.insecure_skip_verify:
        return Tls(validate=ssl.CERT_NONE)
    # version=None: ssl.create_default_context (TLS 1.2+), these CAs or the system's.
    return Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=settings.root_ca,
        ca_certs_data=settings.root_ca_data,
        sni=None if _is_ip(host) else host,
    )


def explain(exc: BaseException, where: str, timeout: float) -> tuple[str, str]:
    """An observer error kind and the operator's hint for a failure to reach the directory
    (TLS errors in words: the most common misconfiguration of an LDAP connector)."""
    text = str(exc)
    lowered = text.lower()
    if "certificate_verify_failed" in lowered or isinstance(exc, ssl.SSLCertVerificationError):
        if "expired" in lowered:
            return "tls", f"{where}: the directory's certificate has expired ({text})"
        if "hostname" in lowered or "ip address mismatch" in lowered:
            return "tls", (
                f"{where}: the directory's certificate does not name this host; connect by a "
                f"name its subjectAltName lists ({text})"
            )
        return "tls", (
            f"{where}: the directory's certificate is not signed by a CA authbridge trusts; "
            f"set rootCA (a PEM file) or rootCAData to the CA that signed it ({text})"
        )
    if "doesn't match any name" in lowered:
        return "tls", (
            f"{where}: the directory's certificate does not name this host; connect by a name "
            "its subjectAltName lists"
        )
    if (
        "wrong_version_number" in lowered
        or "unexpected_eof" in lowered
        or "eof occurred in violation" in lowered
        or "record layer" in lowered
    ):
        return "tls", (
            f"{where}: no TLS answered on this port; LDAPS is usually port 636, and on 389 "
            f"set startTLS: true ({text})"
        )
    if isinstance(exc, LDAPStartTLSError):
        return "tls", (
            f"{where}: StartTLS failed; the directory may have no certificate configured, or "
            f"use LDAPS on port 636 ({text})"
        )
    if "refused" in lowered:
        return "unreachable", f"{where}: connection refused (nothing listens there)"
    if "timed out" in lowered or "timeout" in lowered:
        return "timeout", f"{where}: no answer within {timeout:g} s"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unreachable", f"{where}: the host name does not resolve"
    return "unreachable", f"{where}: {type(exc).__name__}: {text}"


class LdapDirectory:
    """Connections to one directory, for one connector."""

    def __init__(
        self, name: str, settings: LdapSettings, observe: UpstreamObserver | None = None
    ) -> None:
        self.name = name
        self.settings = settings
        self.host, self.port = endpoint(settings)
        scheme = "ldap" if settings.insecure_no_ssl or settings.start_tls else "ldaps"
        self.where = f"{scheme}://{settings.host}" + (" (StartTLS)" if settings.start_tls else "")
        self._server = Server(
            self.host,
            port=self.port,
            use_ssl=not (settings.insecure_no_ssl or settings.start_tls),
            tls=_tls(settings, self.host),
            get_info=NONE,
            connect_timeout=settings.timeout,
            allowed_referral_hosts=[],
        )
        if not settings.insecure_no_ssl and not settings.insecure_skip_verify:
            # An unreadable rootCA or a rootCAData that holds no certificate is found now
            # (OSError, ssl.SSLError), not at the first sign-in.
            ssl.create_default_context(cafile=settings.root_ca, cadata=settings.root_ca_data)
        self._observe = observe
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.pool_size)

    # -- connections ------------------------------------------------------------------

    def _connection(self, user: str | None, password: str | None) -> Connection:
        """Open (and StartTLS when configured): TLS is up before any credential is sent."""
        conn = Connection(
            self._server,
            user=user,
            password=password,
            authentication=SIMPLE if user is not None else ANONYMOUS,
            client_strategy=SYNC,
            raise_exceptions=False,
            auto_referrals=False,
            auto_escape=False,
            auto_encode=False,
            read_only=True,
            # Whole seconds: ldap3 packs it into SO_RCVTIMEO as integers.
            receive_timeout=max(1, math.ceil(self.settings.timeout)),
        )
        try:
            conn.open()
            if self.settings.start_tls:
                conn.start_tls()
        except BaseException:
            _close(conn)
            raise
        return conn

    def _service(self) -> Connection:
        conn = self._connection(self.settings.bind_dn, self.settings.bind_pw)
        if not conn.bind():
            code, said = conn.result.get("result"), conn.result.get("description")
            _close(conn)
            raise ProviderUnavailable(
                "This directory cannot be used right now.",
                f"{self.where}: the service account bind was refused ({said}, code {code}); "
                "check bindDN and bindPW",
                code="ldap_service_bind",
            )
        return conn

    def _call(self, what: Callable[[], T]) -> T:
        """Run a directory call, telling the observer how it went; a failure to reach the
        directory becomes ProviderUnavailable with its explanation."""
        started = time.perf_counter()
        error: str | None = None
        try:
            return what()
        except ProviderUnavailable:
            error = "ldap_error"
            raise
        except (LDAPException, OSError) as exc:
            error, hint = explain(exc, self.where, self.settings.timeout)
            raise ProviderUnavailable(
                "This directory cannot be reached right now.", hint, code=f"ldap_{error}"
            ) from exc
        finally:
            if self._observe is not None:
                self._observe(self.name, time.perf_counter() - started, error)

    # -- searches as the service account --------------------------------------------------

    def search(
        self,
        base: str,
        search_filter: str,
        scope: str,
        attributes: Sequence[str],
        *,
        size_limit: int = 0,
    ) -> list[Entry]:
        """Entries found by the service account (`size_limit` 0: the server's limit)."""
        return self._call(
            lambda: self._search(base, search_filter, scope, list(attributes), size_limit)
        )

    def _search(
        self, base: str, search_filter: str, scope: str, attributes: list[str], size_limit: int
    ) -> list[Entry]:
        if not self._slots.acquire(timeout=self.settings.timeout):
            raise ProviderUnavailable(
                "This directory is busy; try again in a moment.",
                f"{self.where}: all {self.settings.pool_size} pooled connections stayed busy "
                f"for {self.settings.timeout:g} s (raise poolSize?)",
                code="ldap_busy",
            )
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            reused = conn is not None
            for attempt in (1, 2):
                if conn is None:
                    conn = self._service()
                try:
                    entries = _search_on(
                        conn, base, search_filter, scope, attributes, size_limit, self
                    )
                except LDAPCommunicationError:
                    _close(conn)
                    conn = None
                    # A pooled connection the server closed while idle: once more, fresh.
                    if reused and attempt == 1:
                        continue
                    raise
                except BaseException:
                    _close(conn)
                    raise
                with self._lock:
                    self._idle.append(conn)
                return entries
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._slots.release()

    # -- a user's own bind ----------------------------------------------------------------

    def check_password(self, dn: str, password: str) -> bool:
        """Whether the directory accepts `password` for `dn`: a simple bind on a connection
        of its own (RFC 4513 §5.1.3). Never sent empty (§5.1.2: unauthenticated bind)."""
        if not dn or not password:
            return False
        return self._call(lambda: self._bind_as(dn, password))

    def _bind_as(self, dn: str, password: str) -> bool:
        conn = self._connection(dn, password)
        try:
            if conn.bind():
                return True
            code = conn.result.get("result")
            if code in REFUSED_BINDS:
                return False
            raise ProviderUnavailable(
                "This directory cannot check passwords right now.",
                f"{self.where}: the bind as {dn!r} answered "
                f"{conn.result.get('description')} (code {code})",
                code="ldap_bind_error",
            )
        finally:
            _close(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            _close(conn)


def _search_on(
    conn: Connection,
    base: str,
    search_filter: str,
    scope: str,
    attributes: list[str],
    size_limit: int,
    directory: LdapDirectory,
) -> list[Entry]:
    where = directory.where
    conn.search(
        base,
        search_filter,
        search_scope=SCOPES[scope],
        attributes=attributes or ["1.1"],
        size_limit=size_limit,
        time_limit=max(1, round(directory.settings.timeout)),
    )
    code = conn.result.get("result")
    if code == NO_SUCH_OBJECT:
        raise ProviderUnavailable(
            "This directory is not configured correctly.",
            f"{where}: the search base {base!r} does not exist (noSuchObject): check baseDN",
            code="ldap_no_such_base",
        )
    if code not in (SUCCESS, SIZE_LIMIT_EXCEEDED):
        raise ProviderUnavailable(
            "This directory cannot be searched right now.",
            f"{where}: search of {base!r} with {search_filter} answered "
            f"{conn.result.get('description')} (code {code})",
            code="ldap_search_error",
        )
    found = []
    for item in conn.response or []:
        if item.get("type") != "searchResEntry":
            continue  # a continuation reference: referrals are not followed
        raw = item.get("raw_attributes") or {}
        found.append(
            Entry(
                str(item.get("dn", "")),
                {str(name).lower(): [bytes(v) for v in values] for name, values in raw.items()},
            )
        )
    return found


def _close(conn: Connection) -> None:
    # Already closed or broken: nothing to keep.
    with contextlib.suppress(LDAPException, OSError):
        conn.unbind()
