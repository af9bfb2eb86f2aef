"""Red-team tests of the refresh rotation and the Subject read on every backend
(storage/provider_store.py: `Q_ROTATE`, `_rotate_in_one_statement`, `Q_SUBJECT`).

RFC 9700 §4.14.2: a refresh token is used once; a reuse ends its family; a revoked,
expired or foreign token is refused. PostgreSQL rotates a fresh token in one statement and
judges every refusal in a transaction: these tests hold both backends to the same verdicts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import insert, text

from authbridge.clock import utcnow
from authbridge.provider.secrets import digest
from authbridge.storage import Storage
from authbridge.storage.provider_store import ProviderStore, RefreshRow
from authbridge.storage.scim_models import ScimGroup
from authbridge.storage.teams import TeamRef


def _add(
    storage: Storage,
    store: ProviderStore,
    token: str = "t0",
    *,
    family: str = "fam",
    scope: str = "openid email",
    idle: timedelta = timedelta(hours=1),
    user_id: str | None = None,
) -> RefreshRow:
    if user_id is None:
        user_id = storage.users.create(username="ada@example.com").id
    now = utcnow()
    row = RefreshRow(
        family,
        "c",
        user_id,
        scope,
        1_700_000_000,
        now + timedelta(days=1),
        now + idle,
        amr="pwd otp",
        acr="urn:authbridge:mfa",
    )
    store.add_refresh(digest(token), row)
    return row


def _live(store: ProviderStore, token: str) -> bool:
    found = store.refresh_token(digest(token))
    return found is not None and found[1]


def _family_live_tokens(storage: Storage, family: str) -> int:
    with storage.db.engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM oauth_refresh_tokens WHERE family_id = :f"
                    " AND used = :no AND revoked = :no"
                ),
                {"f": family, "no": False},
            ).scalar_one()
        )


def test_the_successor_keeps_the_familys_grant(storage: Storage) -> None:
    """Scope, amr, acr, auth_time and the family's end carry over; only the idle expiry
    moves, and never past the family's end."""
    store = ProviderStore(storage.db)
    row = _add(storage, store)
    now = utcnow()
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), now, 600, client_id="c")
    assert outcome.problem is None and outcome.row is not None
    new = outcome.row
    assert (new.family_id, new.client_id, new.user_id, new.scope) == (
        "fam",
        "c",
        row.user_id,
        "openid email",
    )
    assert (new.auth_time, new.amr, new.acr) == (1_700_000_000, "pwd otp", "urn:authbridge:mfa")
    assert new.family_expires_at == row.family_expires_at
    assert new.idle_expires_at.tzinfo is not None
    assert abs((new.idle_expires_at - now).total_seconds() - 600) < 1
    stored = store.refresh_token(digest("t1"))
    assert stored is not None and stored[1] is True
    assert stored[0] == new  # what the grant saw is what was stored


def test_a_narrowed_refresh_narrows_the_token_not_the_family(storage: Storage) -> None:
    """RFC 6749 §6: a subset is allowed (and consumes the token); the successor keeps the
    family's scope. A widening is refused without consuming."""
    store = ProviderStore(storage.db)
    _add(storage, store)
    now = utcnow()
    wider = store.rotate_refresh(
        digest("t0"), digest("x"), now, 600, client_id="c", scope="openid email profile"
    )
    assert wider.problem == "scope"
    assert _live(store, "t0") and store.refresh_token(digest("x")) is None
    narrow = store.rotate_refresh(
        digest("t0"), digest("t1"), now, 600, client_id="c", scope="email"
    )
    assert narrow.problem is None and narrow.row is not None
    assert narrow.row.scope == "openid email"
    assert not _live(store, "t0") and _live(store, "t1")


def test_a_token_of_another_client_is_not_consumed(storage: Storage) -> None:
    """Refused before it is used (on PostgreSQL the one-statement rotation must not match a
    foreign client's token); the owner can still rotate it."""
    store = ProviderStore(storage.db)
    _add(storage, store)
    now = utcnow()
    foreign = store.rotate_refresh(digest("t0"), digest("x"), now, 600, client_id="evil")
    assert foreign.problem == "other client"
    assert store.refresh_token(digest("x")) is None
    assert _live(store, "t0")
    assert store.rotate_refresh(digest("t0"), digest("t1"), now, 600, client_id="c").problem is None


def test_an_idle_expired_token_is_refused_and_its_family_revoked(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _add(storage, store, idle=timedelta(minutes=5))
    late = row.idle_expires_at  # the instant it expires: no longer usable
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), late, 600, client_id="c")
    assert outcome.problem == "expired"
    assert store.refresh_token(digest("t1")) is None
    assert _family_live_tokens(storage, "fam") == 0
    # And a later, in-time presentation of the same token is no longer honoured.
    again = store.rotate_refresh(digest("t0"), digest("t2"), utcnow(), 600, client_id="c")
    assert again.problem in ("revoked", "reused") and store.refresh_token(digest("t2")) is None


def test_at_the_familys_end_the_token_is_refused(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _add(storage, store, idle=timedelta(days=2))
    outcome = store.rotate_refresh(
        digest("t0"), digest("t1"), row.family_expires_at, 600, client_id="c"
    )
    assert outcome.problem == "expired"
    assert _family_live_tokens(storage, "fam") == 0


def test_a_reuse_of_a_rotated_token_ends_the_chain(storage: Storage) -> None:
    """t0 → t1 → t2, then t0 again: every token of the family is dead, t2 included."""
    store = ProviderStore(storage.db)
    _add(storage, store)
    now = utcnow()
    assert store.rotate_refresh(digest("t0"), digest("t1"), now, 600, client_id="c").problem is None
    assert store.rotate_refresh(digest("t1"), digest("t2"), now, 600, client_id="c").problem is None
    replay = store.rotate_refresh(digest("t0"), digest("t3"), now, 600, client_id="c")
    assert replay.problem == "reused"
    assert _family_live_tokens(storage, "fam") == 0
    assert store.rotate_refresh(digest("t2"), digest("t4"), now, 600, client_id="c").problem == (
        "revoked"
    )
    # A replay with a narrowed scope is a replay all the same (judged before the scope).
    narrowed = store.rotate_refresh(
        digest("t1"), digest("t5"), now, 600, client_id="c", scope="nonsense"
    )
    assert narrowed.problem == "revoked"


def test_many_racing_uses_let_exactly_one_win_and_end_the_family(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    _add(storage, store)
    problems: list[str | None] = []

    def use(index: int) -> None:
        outcome = store.rotate_refresh(
            digest("t0"), digest(f"s{index}"), utcnow(), 600, client_id="c"
        )
        problems.append(outcome.problem)  # list.append is atomic

    _race(*(partial(use, index) for index in range(8)))
    assert problems.count(None) == 1, problems
    assert set(problems) - {None} <= {"reused", "revoked"}, problems
    assert _family_live_tokens(storage, "fam") == 0


def _race(*actions: Callable[[], object]) -> None:
    """Run the actions at once (released together by a barrier), wait for them, and raise
    what any of them raised (a thread's exception would otherwise be only a warning)."""
    barrier = threading.Barrier(len(actions))
    failures: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        barrier.wait()
        try:
            action()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


@pytest.mark.parametrize(
    ("revoke", "rounds"),
    [
        (lambda store, family, _user: store.revoke_family(family), 25),
        (lambda store, _family, user: store.revoke_user(user), 15),
    ],
    ids=["family", "user"],
)
def test_a_revocation_racing_rotations_leaves_no_live_token(
    storage: Storage,
    revoke: Callable[[ProviderStore, str, str], object],
    rounds: int,
) -> None:
    """RFC 9700 §4.14.2: a revoked grant (its family, or every grant of its user) leaves no
    usable token, even when the revocation meets a rotation in flight (the rotation's
    successor is revoked too, or never made)."""
    store = ProviderStore(storage.db)
    user_id = storage.users.create(username="ada@example.com").id
    for round_ in range(rounds):
        family = f"fam{round_}"
        _add(storage, store, f"r{round_}", family=family, user_id=user_id)
        _race(
            partial(
                store.rotate_refresh,
                digest(f"r{round_}"),
                digest(f"n{round_}"),
                utcnow(),
                600,
                client_id="c",
            ),
            partial(revoke, store, family, user_id),
        )
        assert _family_live_tokens(storage, family) == 0, round_


def test_a_deleted_users_token_is_unknown_and_their_subject_gone(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    row = _add(storage, store)
    with storage.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :u"), {"u": row.user_id})
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 600, client_id="c")
    assert outcome.problem == "unknown" and outcome.subject is None
    assert store.refresh_token(digest("t1")) is None
    assert store.subject(row.user_id) is None


def test_a_user_without_bindings_or_teams_is_a_subject_with_no_grants(storage: Storage) -> None:
    store = ProviderStore(storage.db)
    user = storage.users.create(username="bob@example.com")
    _add(storage, store, user_id=user.id)
    subject = store.subject(user.id)
    assert subject is not None and subject.username == "bob@example.com"
    assert subject.grants.bindings == () and subject.grants.teams == ()
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 600, client_id="c")
    assert outcome.problem is None and outcome.subject == subject


def test_subject_flags_and_a_scim_teams_external_id(storage: Storage) -> None:
    """email_verified (NOT NULL in the schema) false and true read as such; a team's SCIM
    externalId comes with it; two teams come sorted by name, each team binding once."""
    store = ProviderStore(storage.db)
    user = storage.users.create(username="cy@example.com")
    scim_team = storage.teams.add_member(TeamRef.own("scim:okta", "zeta"), user.id)
    own_team = storage.teams.add_member(TeamRef.own("console", "Alpha"), user.id)
    storage.bindings.add("admin", team_id=scim_team, scope="workspace:w", origin="test")
    now = datetime.now(UTC)
    with storage.db.engine.begin() as conn:
        conn.execute(
            insert(ScimGroup.__table__).values(  # type: ignore[arg-type]
                team_id=scim_team,
                source="okta",
                external_id="00g-ext",
                attributes={},
                version=1,
                created_at=now,
                modified_at=now,
            )
        )
    _add(storage, store, user_id=user.id)
    subject = store.subject(user.id)
    assert subject is not None and subject.email_verified is False and subject.active is True
    assert [(t.id, t.name, t.external_id) for t in subject.grants.teams] == [
        (own_team, "Alpha", None),
        (scim_team, "zeta", "00g-ext"),
    ]
    assert subject.grants.bindings == (("admin", "workspace:w"),)
    outcome = store.rotate_refresh(digest("t0"), digest("t1"), utcnow(), 600, client_id="c")
    assert outcome.subject == subject
    storage.users.set_active(user.id, True)
    with storage.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET email_verified = :y WHERE id = :u"), {"u": user.id, "y": True}
        )
    verified = store.subject(user.id)
    assert verified is not None and verified.email_verified is True
