"""The console's user list at 100,000 users: a filtered `/admin/users` page against a plain
SQL `SELECT` of the same rows, measured in the same run.

    python bench/bench_console.py [--database URL ...] [--users 100000] [--rounds 30]

With no --database it runs on a fresh SQLite file, and also on PostgreSQL when
AUTHBRIDGE_TEST_DATABASE_URL is set (a throw-away database is created there and dropped).

The directory is bulk-inserted with SQL (Core executemany, as bench_scim.py does): people
with local passwords or an IdP identity (`mock`), one team each out of 50 (an administrator's
membership), every 10th an `editor` binding, one team bound `viewer` (so the `viewer` role
filter takes the teams' path), every 20th disabled. Then, for each filter, the page a signed-in
admin reads (in process, through the whole ASGI stack: session, permission checks, the admin
service, rendering) — the first page and a deep page (a cursor 80% into the filtered rows) —
against the same rows read with one hand-written `SELECT ... ORDER BY username_key LIMIT 51`
(the filters as correlated EXISTS, the shape that plans well on both databases).
Medians over --rounds; the goal is under 100 ms a page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from served import postgres_database

from authbridge.admin.paging import encode_cursor
from authbridge.config import load_settings
from authbridge.storage.models import (
    Identity,
    RoleBinding,
    Team,
    TeamMember,
    TeamMemberSource,
    User,
)
from authbridge.web.app import create_app
from authbridge.web.observability import configure_logging

TEAMS = 50
PAGE = 50  # the console's page size
GOAL_MS = 100.0
ISSUER = "http://localhost:8080"
PASSWORD = "a long enough bench passphrase"


@dataclass(frozen=True)
class Case:
    name: str
    query: str  # the console's URL query
    where: str  # the same filter as SQL over `users u`
    params: dict[str, Any]


def _cases(team_id: str) -> list[Case]:
    person = "u.kind = 'person'"
    return [
        Case("no filter", "", person, {}),
        Case(
            "team + active",
            f"team={team_id}&status=active",
            f"{person} AND u.active = :active AND EXISTS (SELECT 1 FROM team_members m "
            "WHERE m.user_id = u.id AND m.team_id = :team)",
            {"team": team_id, "active": True},
        ),
        Case(
            "role=editor",
            "role=editor",
            f"{person} AND EXISTS (SELECT 1 FROM role_bindings b WHERE b.user_id = u.id "
            "AND b.role = 'editor' AND b.scope = 'system')",
            {},
        ),
        Case(
            "role=viewer (via team)",
            "role=viewer",
            f"{person} AND (EXISTS (SELECT 1 FROM role_bindings b WHERE b.user_id = u.id "
            "AND b.role = 'viewer' AND b.scope = 'system') OR EXISTS (SELECT 1 FROM "
            "team_members m JOIN role_bindings b ON b.team_id = m.team_id WHERE "
            "m.user_id = u.id AND b.role = 'viewer' AND b.scope = 'system'))",
            {},
        ),
        Case(
            "source=mock",
            "source=mock",
            f"{person} AND EXISTS (SELECT 1 FROM identities i WHERE i.user_id = u.id "
            "AND i.connector_id = 'mock')",
            {},
        ),
        Case(
            "q=Person 1 (prefix)",
            "q=Person+1",
            f"{person} AND (u.username_key LIKE 'person 1%' OR lower(u.email) LIKE 'person 1%' "
            "OR lower(u.name) LIKE 'person 1%')",
            {},
        ),
    ]


def _seed(app: TestClient, count: int) -> str:
    """Bulk-insert `count` people, their teams, bindings and identities; the id of team 7."""
    storage = app.app.state.services.ready().storage  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    teams = [
        {
            "id": str(uuid.uuid4()),
            "name": f"Team {t}",
            "name_key": f"local/team {t}",
            "name_fold": f"team {t}",
            "source": "local",
            "managed_by": "local",
            "created_at": now,
        }
        for t in range(TEAMS)
    ]
    began = time.perf_counter()
    with storage.db.session() as session:
        session.execute(insert(Team.__table__), teams)
        session.execute(
            insert(RoleBinding.__table__),
            [
                {
                    "role": "viewer",
                    "scope": "system",
                    "principal": f"team:{teams[3]['id']}",
                    "team_id": teams[3]["id"],
                    "origin": "bench",
                    "created_at": now,
                }
            ],
        )
    batch = 5000
    for first in range(0, count, batch):
        users, members, sources, bindings, identities = [], [], [], [], []
        for i in range(first, min(first + batch, count)):
            uid = str(uuid.uuid4())
            name = f"user{i:06d}@example.com"
            local = i % 10 < 7
            users.append(
                {
                    "id": uid,
                    "username": name,
                    "username_key": name,
                    "email": name,
                    "email_verified": False,
                    "name": f"Person {i}",
                    "password_hash": "$argon2id$bench" if local else None,
                    "active": i % 20 != 0,
                    "kind": "person",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            team = teams[i % TEAMS]["id"]
            members.append({"team_id": team, "user_id": uid})
            sources.append({"team_id": team, "user_id": uid, "source": "local"})
            if i % 10 == 0:
                bindings.append(
                    {
                        "role": "editor",
                        "scope": "system",
                        "principal": f"user:{uid}",
                        "user_id": uid,
                        "origin": "bench",
                        "created_at": now,
                    }
                )
            if not local:
                identities.append(
                    {
                        "user_id": uid,
                        "connector_id": "mock",
                        "subject": f"sub-{i}",
                        "email": name,
                        "claims": {},
                        "created_at": now,
                    }
                )
        with storage.db.session() as session:
            for table, rows in (
                (User, users),
                (TeamMember, members),
                (TeamMemberSource, sources),
                (RoleBinding, bindings),
                (Identity, identities),
            ):
                if rows:
                    session.execute(insert(table.__table__), rows)
    if storage.db.dialect == "postgresql":
        # What autovacuum does to a settled database: statistics for the planner, and the
        # visibility map that lets a membership probe be an index-only scan.
        with storage.db.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM ANALYZE")
            )
    else:
        with storage.db.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    print(f"  seeded {count:,} users in {time.perf_counter() - began:.1f}s", flush=True)
    return str(teams[7]["id"])


def _median_ms(run: Callable[[], object], rounds: int) -> float:
    run()  # warm: caches, prepared plans
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _sign_in_admin(client: TestClient) -> None:
    import re

    page = client.get("/signup")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "no sign-up form"
    email = "bench-admin@example.com"
    data = {"email": email, "password": PASSWORD, "name": "Bench", "csrf_token": token.group(1)}
    answer = client.post("/signup", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    admin = ready.storage.users.by_username(email)
    ready.bindings.grant("admin", user_id=admin.id, origin="bench")


def run(url: str, count: int, rounds: int) -> list[tuple[str, str, float, float, int]]:
    environ = {
        "DATABASE__URL": url,
        "SERVER__ISSUER": ISSUER,
        "AUTH__LOCAL__ALLOW_SIGNUP": "true",
    }
    settings = load_settings(None, environ)
    configure_logging("warning", "json")  # as `serve` does; no line per request here
    results = []
    with TestClient(create_app(settings), base_url=ISSUER) as client:
        team = _seed(client, count)
        _sign_in_admin(client)
        engine = client.app.state.services.ready().storage.db.engine  # type: ignore[attr-defined]
        for case in _cases(team):
            select_page = text(
                f"SELECT u.* FROM users u WHERE {case.where} AND u.username_key > :after "
                "ORDER BY u.username_key LIMIT :limit"
            )
            with engine.connect() as connection:
                total = connection.scalar(
                    text(f"SELECT count(*) FROM users u WHERE {case.where}"), case.params
                )
                deep_key = connection.scalar(
                    text(
                        f"SELECT u.username_key FROM users u WHERE {case.where} "
                        "ORDER BY u.username_key LIMIT 1 OFFSET :skip"
                    ),
                    {**case.params, "skip": int(total * 0.8)},
                )
            for label, after in (("first", ""), ("deep", deep_key)):
                query = case.query
                if after:
                    query += ("&" if query else "") + "cursor=" + encode_cursor([after])

                def page(query: str = query) -> None:
                    answer = client.get(f"/admin/users?{query}")
                    assert answer.status_code == 200, answer.text[:500]
                    assert 'id="users"' in answer.text

                params = {**case.params, "after": after, "limit": PAGE + 1}

                def plain(statement: Any = select_page, params: dict[str, Any] = params) -> None:
                    with engine.connect() as connection:
                        found = connection.execute(statement, params).all()
                        assert found

                results.append(
                    (case.name, label, _median_ms(page, rounds), _median_ms(plain, rounds), total)
                )
                name, _, ours, base, _ = results[-1]
                print(
                    f"  {name:<24} {label:<5} page {ours:7.2f} ms   SELECT {base:6.2f} ms   "
                    f"x{ours / base:5.1f}   {'ok' if ours < GOAL_MS else 'OVER GOAL'}",
                    flush=True,
                )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", action="append", default=[])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    targets = list(args.database)
    if not targets:
        targets.append("sqlite")
        if os.environ.get("AUTHBRIDGE_TEST_DATABASE_URL"):
            targets.append(os.environ["AUTHBRIDGE_TEST_DATABASE_URL"])
    over = 0
    for target in targets:
        cleanup = None
        with tempfile.TemporaryDirectory() as tmp:
            if target == "sqlite":
                url = f"sqlite:///{tmp}/bench.db"
            elif target.startswith("postgres"):
                url, cleanup = postgres_database(target)
            else:
                url = target
            print(f"{url.split('://')[0]}: {args.users:,} users, median of {args.rounds}")
            try:
                results = run(url, args.users, args.rounds)
            finally:
                if cleanup:
                    cleanup()
        over += sum(1 for r in results if r[2] >= GOAL_MS)
    print("goal (< 100 ms a page): " + ("met" if not over else f"{over} pages over"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
