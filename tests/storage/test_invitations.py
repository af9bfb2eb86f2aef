"""The invitation store on SQLite and PostgreSQL: a link is claimed once even by racing
callers, a re-key voids the old digest, revoked and expired ones cannot be claimed,
keyset pages, and garbage collection after the retention period."""

from __future__ import annotations

import threading
from datetime import timedelta

from authbridge.clock import utcnow
from authbridge.storage import Storage
from authbridge.storage.invitations import RETENTION


def make(storage: Storage, email: str = "Ada@example.com", digest: str = "d" * 64, **kw):
    return storage.invitations.create(
        email=email,
        token_hash=digest,
        teams=["t"],
        bindings=[{"role": "viewer", "scope": "system"}],
        expires_at=kw.pop("expires_at", utcnow() + timedelta(days=1)),
        invited_by="admin",
        emailed=False,
    )


def test_claim_is_single_use_under_a_race(storage: Storage) -> None:
    make(storage)
    winners: list[object] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        row = storage.invitations.claim("d" * 64, utcnow())
        if row is not None:
            winners.append(row)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_expired_and_revoked_cannot_be_claimed(storage: Storage) -> None:
    make(storage, digest="a" * 64, expires_at=utcnow() - timedelta(seconds=1))
    assert storage.invitations.claim("a" * 64, utcnow()) is None
    row = make(storage, digest="b" * 64)
    assert storage.invitations.revoke(row.id, utcnow())
    assert storage.invitations.claim("b" * 64, utcnow()) is None
    assert not storage.invitations.revoke(row.id, utcnow())


def test_rekey_voids_the_old_digest(storage: Storage) -> None:
    row = make(storage)
    assert storage.invitations.rekey(row.id, "e" * 64, utcnow() + timedelta(days=1), True)
    assert storage.invitations.claim("d" * 64, utcnow()) is None
    assert storage.invitations.claim("e" * 64, utcnow()) is not None
    assert not storage.invitations.rekey(row.id, "f" * 64, utcnow() + timedelta(days=1), True)


def test_release_reopens_an_unbound_claim(storage: Storage) -> None:
    row = make(storage)
    assert storage.invitations.claim("d" * 64, utcnow()) is not None
    storage.invitations.release(row.id)
    assert storage.invitations.claim("d" * 64, utcnow()) is not None


def test_pending_for_is_case_insensitive(storage: Storage) -> None:
    make(storage)
    assert len(storage.invitations.pending_for("ada@EXAMPLE.com", utcnow())) == 1
    assert storage.invitations.pending_for("bob@example.com", utcnow()) == []


def test_pages_are_keyset(storage: Storage) -> None:
    rows = [make(storage, f"u{i}@example.com", digest=f"{i:064d}") for i in range(5)]
    first = storage.invitations.page(2, None)
    assert len(first) == 3  # one more than asked: another page follows
    last = first[1]
    rest = storage.invitations.page(10, (last.created_at.isoformat(), last.id))
    seen = [r.id for r in first[:2]] + [r.id for r in rest]
    assert sorted(seen) == sorted(r.id for r in rows) and len(set(seen)) == 5


def test_garbage_collection_keeps_recent_history(storage: Storage) -> None:
    now = utcnow()
    make(storage, digest="a" * 64, expires_at=now - RETENTION - timedelta(hours=1))
    make(storage, digest="b" * 64, expires_at=now - timedelta(hours=1))
    assert "invitations" in storage.expiring()
    assert storage.invitations.garbage_collect(now) == 1
    assert storage.invitations.by_token("b" * 64) is not None


def test_pages_filtered_by_status_expired_being_a_lapsed_pending_one(storage: Storage) -> None:
    now = utcnow()
    live = make(storage, "live@example.com", digest="1" * 64)
    lapsed = make(storage, "lapsed@example.com", digest="2" * 64, expires_at=now)
    revoked = make(storage, "revoked@example.com", digest="3" * 64)
    assert storage.invitations.revoke(revoked.id, now)
    accepted = make(storage, "accepted@example.com", digest="4" * 64)
    assert storage.invitations.claim("4" * 64, now) is not None

    def emails(status: str) -> list[str]:
        return [r.email for r in storage.invitations.page(10, None, status=status, now=now)]

    assert emails("pending") == [live.email]
    assert emails("expired") == [lapsed.email]  # expires_at == now: lapsed
    assert emails("revoked") == [revoked.email]
    assert emails("accepted") == [accepted.email]
    assert len(storage.invitations.page(10, None)) == 4
