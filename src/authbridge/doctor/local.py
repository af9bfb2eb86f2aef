"""`authbridge doctor` for authbridge itself: its issuer URL, the database (reachable,
migrated), the age of the signing key, and each SCIM source's credential (RFC 7644 §2)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.connectors.http import is_loopback_host
from authbridge.doctor.report import Check
from authbridge.scim.auth import SOURCES, credential_for
from authbridge.storage.database import Database
from authbridge.storage.keys import KeyStore
from authbridge.storage.scim_credentials import ENV_ID, ScimCredentialStore
from authbridge.tokens.keyring import current_signer

__all__ = ["check_database", "check_issuer", "check_scim"]

US = "authbridge"
# authbridge does not rotate by itself (`authbridge keys rotate` does): past this age a key
# is worth rotating, as NIST SP 800-57 Part 1 §5.3.6 bounds a signing key's cryptoperiod.
KEY_AGE_WARNING = timedelta(days=90)
# A stored SCIM credential this close to its expiry is worth rotating now.
SCIM_EXPIRY_WARNING = timedelta(days=14)


def check_issuer(settings: Settings) -> Check:
    issuer = settings.server.issuer
    host = urlsplit(issuer).hostname
    if issuer.startswith("https://"):
        return Check("our_issuer", US, "ok", issuer)
    if is_loopback_host(host):
        return Check("our_issuer", US, "ok", f"{issuer} (http on loopback: this machine only)")
    return Check(
        "our_issuer",
        US,
        "fail",
        f"{issuer} is http on a network address: IdPs refuse such redirect URIs and "
        "cookies travel in clear",
        "set server.issuer to the public https:// URL people use",
    )


def check_database(settings: Settings) -> list[Check]:
    url = settings.database.url
    if url.startswith("sqlite") and not _sqlite_exists(url):
        return [
            Check("database", US, "warn", "the SQLite file does not exist yet", "serve creates it")
        ]
    db = Database(url)
    try:
        try:
            db.ping()
            pending = db.pending_revisions()
        except Exception as exc:  # whatever the driver raises, doctor reports it
            return [
                Check(
                    "database",
                    US,
                    "fail",
                    f"cannot reach the database ({type(exc).__name__})",
                    "check database.url, the network and credentials",
                )
            ]
        checks = [_migrated(pending)]
        try:
            checks.append(_signing_key(KeyStore(db)))
        except Exception as exc:  # an empty database has no key table yet
            checks.append(Check("signing_key", US, "warn", f"not read ({type(exc).__name__})"))
        if not pending:  # before the migrations, the check above says what to run
            checks.extend(_stored_scim(ScimCredentialStore(db)))
        return checks
    finally:
        db.dispose()


def _stored_scim(store: ScimCredentialStore) -> list[Check]:
    """Credentials added with `authbridge scim credentials add` (or the admin API), per
    source that has any: how many are active, and those that expire soon."""
    now = utcnow()
    checks = []
    for source in SOURCES:
        rows = [r for r in store.all(source) if r.id != ENV_ID and r.active(now)]
        if not rows:
            continue
        name = f"scim.{source}"
        said = f"{len(rows)} stored credential{'s' if len(rows) != 1 else ''} active"
        soon = [r.id for r in rows if r.expires_at and r.expires_at - now < SCIM_EXPIRY_WARNING]
        if soon:
            checks.append(
                Check(
                    "scim",
                    name,
                    "warn",
                    f"{said}; expiring within {SCIM_EXPIRY_WARNING.days} days: {', '.join(soon)}",
                    f"add another (`authbridge scim credentials add {source}`) and switch the IdP",
                )
            )
        else:
            checks.append(Check("scim", name, "ok", said))
    return checks


def _sqlite_exists(url: str) -> bool:
    path = url.split("///", 1)[-1].split("?")[0]
    return path in ("", ":memory:") or Path(path).exists()


def _migrated(pending: tuple[str, ...]) -> Check:
    if not pending:
        return Check("database", US, "ok", "reachable, schema up to date")
    return Check(
        "database",
        US,
        "warn",
        f"reachable; migrations not applied: {', '.join(pending)}",
        "run `authbridge db upgrade` (serve applies them at start-up)",
    )


def _signing_key(keys: KeyStore) -> Check:
    now = utcnow()
    current = current_signer(keys.all(), now)
    if current is None:
        return Check("signing_key", US, "warn", "no signing key yet", "serve creates one")
    age = now - current.signs_from
    said = f"{current.kid[:12]}… ({current.alg}) has signed for {age.days} days"
    if age > KEY_AGE_WARNING:
        return Check("signing_key", US, "warn", said, "run `authbridge keys rotate`")
    return Check("signing_key", US, "ok", said)


def check_scim(settings: Settings, env: Mapping[str, str] | None = None) -> list[Check]:
    environ = settings.environ(os.environ if env is None else env)
    checks = []
    for source, scheme in SOURCES.items():
        credential = credential_for(source, settings.scim, environ)
        name = f"scim.{source}"
        variable = f"SCIM_AUTH_CODE_{source.upper()}"
        if not credential.secret:
            checks.append(
                Check("scim", name, "ok", f"off (no credential; set {variable} to use it)")
            )
        elif scheme == "basic" and not _user_password(credential.secret):
            checks.append(
                Check(
                    "scim",
                    name,
                    "fail",
                    "the credential is not `username:password` (HTTP Basic, RFC 7617)",
                    f"set {variable} to the username:password entered in the IdP",
                )
            )
        else:
            checks.append(Check("scim", name, "ok", f"credential set ({scheme})"))
    return checks


def _user_password(secret: str) -> bool:
    user, sep, password = secret.partition(":")
    return bool(user and sep and password)
