"""authbridge's own lines: issuer URL, database reachable and migrated, signing-key age,
SCIM credentials (RFC 7617's `user:password` for Okta)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from authbridge.clock import utcnow
from authbridge.doctor.local import check_database, check_issuer, check_scim
from authbridge.storage.database import MIGRATIONS, Database
from authbridge.storage.keys import KeyStore
from authbridge.storage.models import SigningKey
from authbridge.tokens.keys import generate
from tests.conftest import make_settings


def test_an_unmigrated_database_names_the_missing_revisions(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.ping()  # the file exists, the schema does not
    checks = check_database(make_settings(sqlite_url))
    # Each feature's head (they branch from 0001), as `db upgrade` applies them.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) > 1
    assert checks[0].status == "warn"
    assert all(head in checks[0].message for head in heads)
    assert checks[0].fix == "run `authbridge db upgrade` (serve applies them at start-up)"
    db.upgrade()
    db.dispose()
    assert check_database(make_settings(sqlite_url))[0].status == "ok"


def test_an_unreachable_database_fails() -> None:
    checks = check_database(make_settings("postgresql://postgres@127.0.0.1:1/nothing"))
    assert [(c.check, c.status) for c in checks] == [("database", "fail")]
    assert checks[0].message.startswith("cannot reach the database (")


def test_an_old_signing_key_asks_for_rotation(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.upgrade()
    material = generate("ES256")
    started = utcnow() - timedelta(days=120)
    KeyStore(db).add(
        SigningKey(
            kid=material.kid,
            alg=material.alg,
            private_pem=material.private_pem,
            public_jwk=material.public_jwk,
            created_at=started,
            signs_from=started,
        )
    )
    db.dispose()
    database, key = check_database(make_settings(sqlite_url))
    assert database.status == "ok"
    assert key.status == "warn" and "has signed for 120 days" in key.message
    assert key.fix == "run `authbridge keys rotate`"


@pytest.mark.parametrize(
    ("issuer", "status"),
    [
        ("https://auth.example.com", "ok"),
        ("http://localhost:8080", "ok"),
        ("http://10.0.0.5:8080", "fail"),
    ],
)
def test_our_issuer(sqlite_url: str, issuer: str, status: str) -> None:
    assert check_issuer(make_settings(sqlite_url, SERVER__ISSUER=issuer)).status == status


def test_scim_credentials_per_source(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)
    okta, microsoft = check_scim(settings, {"SCIM_AUTH_CODE_OKTA": "only-a-token"})
    assert okta.status == "fail" and "username:password" in okta.message
    assert microsoft.status == "ok" and microsoft.message.startswith("off (no credential")
    env = {"SCIM_AUTH_CODE_OKTA": "okta:secret", "SCIM_AUTH_CODE_MICROSOFT": "t" * 32}
    assert [c.message for c in check_scim(settings, env)] == [
        "credential set (basic)",
        "credential set (bearer)",
    ]


def test_a_migrated_database_on_each_backend(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    db.dispose()
    database, key = check_database(make_settings(database_url))
    assert (database.status, database.message) == ("ok", "reachable, schema up to date")
    assert (key.status, key.message) == ("warn", "no signing key yet")


def test_stored_scim_credentials_are_counted_and_near_expiry_warned(sqlite_url: str) -> None:
    from authbridge.storage import Storage
    from authbridge.storage.scim_credentials import ScimCredentialRow

    storage = Storage.open(sqlite_url)
    now = utcnow()
    for credential_id, expires_at in (("a", None), ("b", now + timedelta(days=3))):
        storage.scim_credentials.add(
            ScimCredentialRow(
                source="microsoft",
                id=credential_id,
                kind="bearer",
                digest="00" * 32,
                created_at=now,
                expires_at=expires_at,
            )
        )
    storage.db.dispose()
    _database, _key, scim = check_database(make_settings(sqlite_url))
    assert (scim.subject, scim.status) == ("scim.microsoft", "warn")
    assert "2 stored credentials active" in scim.message and ": b" in scim.message
