"""Everything a request needs, built once from the settings; storage comes up in the background.

This is the one place where the service is wired: `Services` holds the settings, metrics and
the configured connectors; `Ready` (built once storage answers) holds the stores, the key
ring, the OpenID Provider, the SCIM services and the one `Revocation`. Routes get `Services`
through `authbridge.web.dependencies`; nothing registers itself on import.

The service starts even when the database is down: `/healthz` answers, `/readyz` and every
page that needs storage answer 503, and a background thread keeps trying until the
database answers, then runs migrations and creates what a first start creates.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from authbridge.admin.service import Admin, build_admin
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.audit.log import AuditLog
from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.connectors import Connectors, build_connectors
from authbridge.directory.accounts import AccountError, LocalAccounts
from authbridge.directory.bootstrap import BootstrapAdmin, SetupLinks
from authbridge.directory.email_links import EmailVerification, PasswordResets
from authbridge.directory.invitations import Invitations
from authbridge.directory.mail import Mailer, mailer_for
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.passkeys import Passkeys
from authbridge.directory.pending_logins import PendingLogins
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings
from authbridge.directory.throttle import CredentialThrottle, MailThrottle, SignInThrottle
from authbridge.directory.totp import SecondFactors
from authbridge.provider.events import AuditedEvents
from authbridge.provider.service import OpenIDProvider
from authbridge.scim.auth import SOURCES as SCIM_SOURCES
from authbridge.scim.auth import credential_for
from authbridge.scim.credentials import ScimCredentials
from authbridge.scim.reindex import reindex_if_missing
from authbridge.scim.sources import ScimSources
from authbridge.storage import Storage
from authbridge.storage.counters import Counters, counters_for
from authbridge.storage.database import Database, PoolStats, Timeouts
from authbridge.storage.errors import Unavailable
from authbridge.storage.expiry import GarbageCollected, collect
from authbridge.storage.notify import ChangeBus, Topic, change_bus
from authbridge.storage.urls import redacted
from authbridge.tokens import KeyRing, TokenIssuer
from authbridge.tokens.issuer import issuer_for
from authbridge.tokens.keyring import keyring_for
from authbridge.web.grant_threads import GrantThreads
from authbridge.web.observability import Metrics, info_line
from authbridge.web.security import CookieNames, Csrf
from authbridge.web.telemetry import Tracing

__all__ = ["LoginProvider", "PublishedDocument", "Ready", "Services", "housekeeping"]

log = structlog.get_logger("authbridge")
SECRET_KEY = "csrf_secret_key"
HOUSEKEEPING_INTERVAL = 300.0
# The lease that lets one replica at a time run housekeeping (storage.database.Database.lease).
HOUSEKEEPING_LEASE = "authbridge.housekeeping"
# How long stop() waits for a housekeeping round in progress before disposing the pool.
STOP_WAIT = 5.0


@dataclass(frozen=True)
class LoginProvider:
    """One "Log in with X" button: `problem` explains why it is unavailable right now."""

    id: str
    display_name: str
    available: bool = True
    problem: str | None = None
    # A password connector's form (LDAP): the label of its username field.
    prompt: str | None = None


def housekeeping(stores: Mapping[str, GarbageCollected], now: datetime) -> dict[str, int]:
    """One round of garbage collection over `stores`, in bounded batches; logs and returns
    how many rows each deleted. A failing store does not keep the others from running."""
    deleted: dict[str, int] = {}
    for name, store in stores.items():
        try:
            deleted[name] = collect(store, now)
        except Exception as exc:  # the next round tries again
            log.warning("housekeeping_failed", store=name, error=type(exc).__name__)
    log.info("housekeeping", **{f"expired_{name}": count for name, count in deleted.items()})
    return deleted


def housekeeping_round(
    db: Database, stores: Mapping[str, GarbageCollected], now: datetime, metrics: Metrics
) -> dict[str, int] | None:
    """One replica's round of housekeeping, under the lease that lets one replica at a time
    run it; None when another replica holds it (this one skips its turn). Rows deleted are
    counted per store in `authbridge_housekeeping_deleted_rows_total`."""
    with db.lease(HOUSEKEEPING_LEASE) as held:
        if not held:
            log.info("housekeeping_skipped", reason="another replica holds the lease")
            return None
        deleted = housekeeping(stores, now)
    for name, count in deleted.items():
        metrics.housekeeping_deleted.labels(store=name).inc(count)
    return deleted


@dataclass(frozen=True)
class PublishedDocument:
    """A JSON document served as fixed bytes with a strong ETag (discovery)."""

    body: bytes
    etag: str

    @classmethod
    def of(cls, document: dict[str, object]) -> PublishedDocument:
        body = json.dumps(document, separators=(",", ":")).encode()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


@dataclass
class Ready:
    """The storage-backed services, built together once storage answers."""

    storage: Storage
    keyring: KeyRing
    issuer: TokenIssuer
    accounts: LocalAccounts
    throttle: SignInThrottle
    setup: SetupLinks
    csrf: Csrf
    provider: OpenIDProvider
    revocation: Revocation
    # Role bindings and effective roles (the provider's resolver: one catalog, one set of
    # team templates).
    bindings: RoleBindings
    # One SCIM service per provisioning source (`okta`, `microsoft`), built at start-up for
    # a source with a credential and at first use for the others (scim/sources.py).
    scim: ScimSources
    # Wrong SCIM credentials, per (source, address) and per address.
    scim_throttle: CredentialThrottle
    # Each SCIM source's credentials (the environment's and the stored ones), cached.
    scim_credentials: ScimCredentials
    # Rate-limit counters and replay markers: the database's, or Redis's when configured.
    counters: Counters
    # Users' teams from SCIM, IdP logins and admins (`teams.<name>` config), one rule.
    membership: MembershipEngine
    # The audit log every writer records to.
    audit: AuditSink
    # The administrative acts the admin API and the console call (the CLI builds the same).
    admin: Admin
    # Invitations (the admin's side is `admin.invitations`; accepting is here).
    invitations: Invitations
    # Outgoing mail, and what needs it: None without `smtp.host`.
    mailer: Mailer | None = None
    resets: PasswordResets | None = None
    verification: EmailVerification | None = None
    # Requests that mail a typed-in address (password reset), per network and address.
    mail_throttle: MailThrottle | None = None
    # Local accounts' second factor: TOTP and recovery codes (directory/totp.py).
    second_factors: SecondFactors | None = None
    # Local accounts' passkeys (WebAuthn, directory/passkeys.py).
    passkeys: Passkeys | None = None
    # Sign-ins between the password and the second factor (revocation voids them).
    pending_logins: PendingLogins | None = None


@dataclass
class Services:
    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    # The first admin from the environment (`authbridge serve` reads it), made at start-up.
    bootstrap: BootstrapAdmin | None = None
    # Whether this start does the once-per-start work too (migrations, the config admins'
    # bindings, the bootstrap admin, the setup link): false in `serve --workers` workers,
    # whose parent did it before starting them (web/workers.py).
    once: bool = True
    # The configured upstream IdPs (and the mock IdP while none is), built from the settings.
    connectors: Connectors = field(init=False)
    # The discovery document, published by `create_app` once the routes are known.
    discovery: PublishedDocument | None = None
    # OpenTelemetry traces when configured (telemetry.otlpEndpoint, OTEL_EXPORTER_OTLP_*);
    # None: off, and nothing of the OpenTelemetry SDK is loaded.
    tracing: Tracing | None = None
    # Set at SIGTERM: /readyz answers 503 while in-flight requests finish.
    draining: bool = False
    # Where the OAuth endpoints' blocking storage calls run (web/grant_threads.py).
    grant_threads: GrantThreads = field(init=False)
    _ready: Ready | None = None
    _error: str | None = None
    _changes: ChangeBus | None = None
    _audit: AuditLog | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        environ = self.settings.environ(os.environ)
        if self.tracing is None:
            self.tracing = Tracing.start(self.settings, environ)
        tracing = self.tracing
        self.connectors = build_connectors(
            self.settings,
            environ,
            observe=self.metrics.upstream,
            instrument=tracing.instrument_client if tracing is not None else None,
        )
        self.metrics.label_values(clients=self.settings.clients, connectors=self.connectors.ids)
        self.metrics.watch_pool(self._pool_stats)
        self.grant_threads = GrantThreads(wait=self.settings.database.pool_timeout)

    def _pool_stats(self) -> PoolStats | None:
        ready = self._ready
        return ready.storage.db.pool_stats() if ready is not None else None

    def method_enabled(self, method: str) -> bool:
        """Whether sessions signed in with `method` may go on: a sign-in method that was
        turned off (the mock IdP once an upstream is configured, a removed IdP, local
        accounts) no longer vouches for anyone."""
        if method == "local":
            return self.settings.auth.local.enabled
        return method in self.connectors.ids

    @property
    def login_providers_may_wait(self) -> bool:
        """Whether login_providers() may wait on an IdP (a due discovery probe)."""
        return self.connectors.problems_may_wait

    def login_providers(self) -> list[LoginProvider]:
        """The identity-provider buttons of the login page, in configured order."""
        buttons = []
        for connector in self.connectors.ordered:
            try:
                problem = connector.problem()
            except Exception:
                # One broken IdP must not take the login page (and local sign-in) down.
                log.exception("idp_status_failed", provider=connector.id)
                problem = "This identity provider is unavailable because of an unexpected error."
            if problem is not None:
                log.warning("idp_unavailable", provider=connector.id, problem=problem)
            buttons.append(
                LoginProvider(
                    id=connector.id,
                    display_name=connector.display_name,
                    available=problem is None,
                    problem=problem,
                )
            )
        return buttons

    def password_forms(self) -> list[LoginProvider]:
        """The login page's forms of password connectors (LDAP), in configured order; one
        that cannot reach its directory shows why, and only it is unavailable."""
        forms = []
        for connector in self.connectors.passwords:
            try:
                problem = connector.problem()
            except Exception:
                log.exception("idp_status_failed", provider=connector.id)
                problem = "This directory is unavailable because of an unexpected error."
            if problem is not None:
                log.warning("idp_unavailable", provider=connector.id, problem=problem)
            forms.append(
                LoginProvider(
                    id=connector.id,
                    display_name=connector.display_name,
                    available=problem is None,
                    problem=problem,
                    prompt=connector.username_prompt,
                )
            )
        return forms

    @property
    def cookies(self) -> CookieNames:
        return CookieNames(https=self.settings.server.https)

    def ready(self) -> Ready:
        """The storage-backed services, or Unavailable (answered as 503) while they are not up."""
        if self._ready is None:
            raise Unavailable(self._error or "starting")
        return self._ready

    def start(self, *, wait: bool = False) -> None:
        """Bring storage up now if possible; otherwise keep trying in a background thread."""
        if self._try_start():
            return
        if wait:
            raise Unavailable(self._error or "database unreachable")
        self._spawn(self._retry, "authbridge-storage")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        # Daemon threads, so a stuck one never holds the process; stop() joins them first.
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        """At shutdown: the background threads (storage retry, housekeeping) are told to
        stop and waited for (a round in progress finishes its batch), then the connection
        pool is closed, the IdP clients too, and buffered spans are exported."""
        self._stop.set()
        if self._changes is not None:
            self._changes.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(STOP_WAIT)
        self._threads.clear()
        if self._audit is not None:
            # What is queued is stored before the pool closes.
            self._audit.close()
        if self._ready is not None:
            self._ready.storage.db.dispose()
            if self._ready.counters.close is not None:
                self._ready.counters.close()
            if self._ready.mailer is not None:
                self._ready.mailer.close()
        self.connectors.close()
        if self.tracing is not None:
            self.tracing.shutdown()

    def _housekeeping(self) -> None:
        """Every few minutes: every store deletes what has expired (storage owns expiry)."""
        while not self._stop.wait(HOUSEKEEPING_INTERVAL):
            ready = self._ready
            if ready is not None:
                housekeeping_round(
                    ready.storage.db, ready.storage.expiring(), utcnow(), self.metrics
                )

    def _retry(self) -> None:
        delay = 1.0
        while not self._stop.wait(delay):
            if self._try_start():
                return
            delay = min(delay * 2, 15.0)

    def _try_start(self) -> bool:
        try:
            self._ready = self._build()
            self._error = None
            self._spawn(self._housekeeping, "authbridge-housekeeping")
            return True
        except Exception as exc:
            if self._changes is not None:  # the next attempt builds its own
                self._changes.close()
                self._changes = None
            if self._audit is not None:
                self._audit.close()
                self._audit = None
            self._error = f"storage unavailable: {type(exc).__name__}"
            log.error("storage_unavailable", error=type(exc).__name__, detail=str(exc)[:200])
            return False

    def _build(self) -> Ready:
        settings = self.settings
        database = settings.database
        timeouts = Timeouts(
            database.connect_timeout, database.statement_timeout, database.pool_timeout
        )
        db = Database(database.url, pool_size=database.pool_size, timeouts=timeouts)
        if self.tracing is not None:
            db.trace(self.tracing.provider)
        if self.once:
            db.upgrade()
            reindexed = reindex_if_missing(db)
            if reindexed is not None:
                log.info("scim_value_index_built", users=reindexed)
        # Change notifications: LISTEN/NOTIFY (or Redis pub/sub), closed by stop().
        changes = change_bus(db, settings.redis.url)
        self._changes = changes
        storage = Storage(
            db, changes, audit_retention=timedelta(days=settings.audit.retention_days)
        )
        # The audit log, built once: its writer thread stores events in batches, off the
        # request threads; stop() drains it before the pool closes.
        audit = AuditLog(
            storage.audit if settings.audit.enabled else None,
            observer=self.metrics,
            line=info_line,
        )
        self._audit = audit
        keyring = keyring_for(settings, storage.keys, changes)
        keyring.ensure_key()
        issuer = issuer_for(settings, keyring)
        local = settings.auth.local
        accounts = LocalAccounts.of(storage, settings)
        key = settings.server.secret_key or storage.values.put_if_absent(
            SECRET_KEY, secrets.token_urlsafe(48)
        )
        setup = SetupLinks(storage)
        # Chosen once, here: every throttle and replay check below uses these.
        counters = counters_for(storage.rate_limits, settings.redis)
        provider = OpenIDProvider(
            storage,
            keyring,
            issuer,
            settings,
            counters=counters.rate,
            events=AuditedEvents(self.metrics, audit),
        )
        pending_logins = PendingLogins(storage.values)
        revocation = Revocation(
            sessions=storage.sessions, tokens=provider, pending=pending_logins, changes=changes
        )
        # What other replicas change reaches this one's caches at once; the periodic
        # reloads (keyReloadInterval, the client cache's seconds) stay as the fallback.
        changes.subscribe(Topic.KEYS, keyring.invalidate)
        changes.subscribe(Topic.CLIENTS, provider.registry.forget)
        storage.directory.listen()
        # SCIM_AUTH_CODE_<SOURCE> may come from the file's Houston env/secret lists too.
        environ = settings.environ(os.environ)
        scim_credentials = ScimCredentials(
            storage.scim_credentials,
            {s: credential_for(s, settings.scim, environ) for s in SCIM_SOURCES},
            changes,
        )
        scim_credentials.subscribe()
        membership = MembershipEngine(storage, settings.teams)
        scim = ScimSources(
            storage,
            settings.scim,
            sources=SCIM_SOURCES,
            issuer=settings.server.issuer,
            revocation=revocation,
            membership=membership,
            build_now=[s for s in SCIM_SOURCES if scim_credentials.active(s)],
        )
        bindings = RoleBindings(storage, provider.roles)
        mailer = mailer_for(settings.smtp, audit=audit)
        base_url = settings.server.issuer
        invitations = Invitations(
            storage,
            membership=membership,
            bindings=bindings,
            accounts=accounts,
            base_url=base_url,
            mailer=mailer,
            audit=audit,
        )
        # Reset links: mailed on request with `smtp:`, else made by an administrator only.
        resets = (
            PasswordResets(storage, accounts, mailer, revocation, base_url)
            if local.enabled
            else None
        )
        ready = Ready(
            storage=storage,
            keyring=keyring,
            issuer=issuer,
            accounts=accounts,
            throttle=SignInThrottle(counters.rate, local.rate_limit),
            setup=setup,
            csrf=Csrf(key.encode()),
            provider=provider,
            revocation=revocation,
            bindings=bindings,
            scim=scim,
            scim_throttle=CredentialThrottle(counters.rate, "scim"),
            scim_credentials=scim_credentials,
            counters=counters,
            membership=membership,
            audit=audit,
            admin=build_admin(
                settings=settings,
                storage=storage,
                provider=provider,
                revocation=revocation,
                bindings=bindings,
                membership=membership,
                audit=audit,
                accounts=accounts,
                scim_credentials=scim_credentials,
                connectors=self.connectors,
                invitations=invitations,
                resets=resets,
            ),
            invitations=invitations,
            mailer=mailer,
            resets=resets,
            verification=(
                EmailVerification(storage, mailer, base_url)
                if mailer is not None and local.enabled
                else None
            ),
            mail_throttle=MailThrottle(counters.rate),
            second_factors=SecondFactors.of(
                storage.mfa, storage.values, counters.replay, settings, accounts.hashing
            ),
            passkeys=Passkeys.of(storage.passkeys, storage.values, settings),
            pending_logins=pending_logins,
        )
        if self.once:
            self._first_admin(ready, setup)
        log.info(
            "ready",
            database=db.dialect,
            signing_alg=keyring.current().signing.alg,
            counters=counters.backend,
            # The password never: an operator sees which Redis, not its secret.
            redis=redacted(settings.redis.url) if settings.redis.url else None,
        )
        return ready

    def _first_admin(self, ready: Ready, setup: SetupLinks) -> None:
        """The administrators a start makes sure of: the configured ones, the bootstrap
        admin, else a setup link printed for the first one."""
        settings, audit = self.settings, ready.audit
        # initialAdmins (and adminPrincipals) as system-admin bindings, made at every start
        # and withdrawn from people no longer named: `bindings list` shows their origin.
        ready.bindings.sync_config_admins(settings.authorizer)
        if self.bootstrap is not None:
            try:
                if self.bootstrap.create(ready.accounts):
                    log.info("bootstrap_admin_created", email=self.bootstrap.email)
                    audit.record(
                        AuditEvent(
                            "bootstrap.admin_created",
                            Actor.SYSTEM,
                            Target("user", self.bootstrap.email, self.bootstrap.email),
                            details={"origin": "environment"},
                        )
                    )
            except AccountError as exc:
                # The address is taken by a non-admin account, or refused by the domain rule:
                # the setup link below stays the way in, and the log says why.
                log.error(
                    "bootstrap_admin_not_created", email=self.bootstrap.email, reason=str(exc)
                )
        issued = setup.issue()
        if issued is not None and issued.token is not None:
            link = f"{settings.server.issuer}/setup?token={issued.token}"
            # Printed, not logged: the link is a credential and log pipelines keep lines.
            print(
                f"\n  No administrator exists yet. Create the first one here (one use):\n"
                f"  {link}\n",
                flush=True,
            )
        elif issued is not None:
            # Only the link's digest is stored: the process that issued it printed it.
            print(
                "\n  No administrator exists yet. The setup link was printed by the replica "
                "(or start) that issued it;\n  it stays valid until "
                f"{issued.expires_at:%Y-%m-%d %H:%M} UTC. `authbridge setup-link` prints a "
                "new one (voiding that one).\n",
                flush=True,
            )
