"""How a person signed in (amr, acr, auth time) is kept by sessions and by what a session
yields (codes, refresh tokens, device codes), on every backend (migration
0007_mfa_upstream_authn_context)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect

from authbridge.middleware.authn import ACR_1FA, ACR_MFA
from authbridge.provider.secrets import digest
from authbridge.storage import Storage
from authbridge.storage.provider_store import ProviderStore, RefreshRow
from tests.storage.rows import NOW, start_session


def test_the_migration_adds_the_columns(storage: Storage) -> None:
    inspector = inspect(storage.db.engine)
    for table in ("browser_sessions", "oauth_codes", "oauth_refresh_tokens", "oauth_device_codes"):
        columns = {column["name"] for column in inspector.get_columns(table)}
        assert {"amr", "acr"} <= columns, table
    sessions = {column["name"] for column in inspector.get_columns("browser_sessions")}
    assert "authenticated_at" in sessions


def test_a_session_keeps_its_methods_level_and_auth_time(storage: Storage) -> None:
    user = storage.users.create(username="ada@example.com")
    started = start_session(storage, user.id, "a" * 64, amr=("pwd", "otp"), acr=ACR_MFA)
    row = storage.sessions.get(started)
    assert row is not None
    assert row.methods == ("pwd", "otp") and row.acr == ACR_MFA
    assert row.auth_time == NOW and row.auth_time.tzinfo is not None


def test_a_session_without_methods_reads_as_unknown(storage: Storage) -> None:
    """Rows from before the migration (and IdPs that state nothing) have no amr/acr, and
    their auth time is when the session started."""
    user = storage.users.create(username="lin@example.com")
    row = storage.sessions.get(start_session(storage, user.id, "b" * 64, auth_method="github"))
    assert row is not None
    assert row.methods == () and row.acr is None and row.amr is None
    with storage.db.session() as session:
        stored = session.get(type(row), "b" * 64)
        assert stored is not None
        stored.authenticated_at = None  # as a row made before the migration
    again = storage.sessions.get("b" * 64)
    assert again is not None and again.auth_time == again.created_at == NOW


def test_codes_refresh_families_and_device_codes_carry_amr_and_acr(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    user = storage.users.create(username="kim@example.com")
    store.add_code(
        "code",
        client_id="c",
        user_id=user.id,
        redirect_uri="https://x/cb",
        scope="openid",
        nonce=None,
        code_challenge=None,
        auth_time=1,
        amr="pwd otp",
        acr=ACR_MFA,
        expires_at=NOW + timedelta(minutes=10),
    )
    code = store.redeem_code("code", NOW)
    assert code is not None and (code.amr, code.acr) == ("pwd otp", ACR_MFA)

    row = RefreshRow(
        "fam", "c", user.id, "openid", 1, NOW + timedelta(days=1), NOW + timedelta(hours=1),
        amr="hwk pin", acr=ACR_MFA,
    )  # fmt: skip
    store.add_refresh(digest("t0"), row)
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), NOW, 3600, client_id="c")
    assert outcome.row is not None and (outcome.row.amr, outcome.row.acr) == ("hwk pin", ACR_MFA)
    # The successor (raw SQL on the hot path) keeps them too.
    again = store.rotate_refresh(digest("t1"), digest("t2"), NOW, 3600, client_id="c")
    assert again.row is not None and (again.row.amr, again.row.acr) == ("hwk pin", ACR_MFA)

    assert store.add_device(
        "dev",
        user_code="BCDF-GHJK",
        client_id="c",
        scope="",
        expires_at=NOW + timedelta(minutes=10),
        interval=5,
    )
    assert store.decide_device(
        "BCDF-GHJK", approve=True, user_id=user.id, auth_time=1, now=NOW, amr="pwd", acr=ACR_1FA
    )
    polled = store.poll_device("dev", NOW)
    assert polled is not None and (polled.amr, polled.acr) == ("pwd", ACR_1FA)
