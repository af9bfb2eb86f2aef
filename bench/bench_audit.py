"""The audit log's cost per event, in instructions (callgrind), against a plain INSERT.

    python bench/bench_audit.py [--events 2000] [--batch 500]

Counts, per event, on a SQLite file with the audit table and its four indexes:

  queue put          what `AuditLog.record` adds on the request's thread once its JSON
                     line is written (`queued`: the event, or its row, on the queue)
  token grants       the writer storing batches of one client's token grants
                     (`AuditLog._write`: grouped, their times one JSON array)
  distinct events    the writer storing batches of events that differ in their target
                     (each its own row, multi-row INSERTs)
  plain INSERT       the baseline: sqlite3's executemany of the same grant rows, values
                     already built (their text times included), one transaction per batch

Set-up and warm-up are left out (marker system calls, bench/callgrind.py): no neighbour on
a shared machine moves these counts. A client_credentials grant is about 790,000
instructions (bench_token.py): the audit log's share is the first two rows over that.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from callgrind import instructions

# Events per write: between a quiet worker's (what came in audit/log.INTERVAL) and a busy
# one's (audit/log.BATCH, 1,000); the grants' count per event moved 1.4% from 200 to 500.
BATCH = 500
CONTENDERS = ("queue put", "token grants", "distinct events", "plain INSERT")


def child(events: int, size: int) -> None:
    """Under callgrind: each contender between the marker calls."""
    import sqlite3
    from collections import deque

    from authbridge.audit.events import Actor, AuditEvent, Target, frozen_details
    from authbridge.audit.log import AuditLog, queued, to_record
    from authbridge.storage.audit import AuditStore, _parameters
    from authbridge.storage.database import Database
    from authbridge.storage.models import Base

    workdir = Path(tempfile.mkdtemp(prefix="authbridge-bench-audit-"))
    db = Database(f"sqlite:///{workdir / 'audit.db'}")
    Base.metadata.create_all(db.engine)
    log = AuditLog(AuditStore(db), synchronous=True, line=lambda _type, _fields: True)
    client = Actor("client", "sa-etl", address="127.0.0.1")
    target = Target("client", "sa-etl")
    details = frozen_details({"grantType": "client_credentials"})

    def grants(n: int) -> list[AuditEvent]:
        return [AuditEvent("token.issued", client, target, "success", details) for _ in range(n)]

    def distinct(n: int) -> list[AuditEvent]:
        admin = Actor("user", "admin-1", "root@example.com", address="203.0.113.7")
        return [AuditEvent("user.disabled", admin, Target("user", f"u{i}")) for i in range(n)]

    for _ in range(5):  # warm: statement caches, the table's first pages
        log._write(grants(size))
        log._write([to_record(e) for e in distinct(size)])

    events_to_queue = grants(events)
    pending: deque[object] = deque()
    os.getppid()
    for event in events_to_queue:
        pending.append(queued(event))
    os.getpgrp()

    batches = [grants(size) for _ in range(events // size)]
    os.getppid()
    for batch in batches:
        log._write(batch)
    os.getpgrp()

    rows = [[to_record(e) for e in distinct(size)] for _ in range(events // size)]
    os.getppid()
    for records in rows:
        log._write(records)
    os.getpgrp()

    plain = sqlite3.connect(workdir / "audit.db", isolation_level=None)
    columns = "at, type, outcome, actor_kind, actor_id, actor_name, address, user_agent, "
    columns += "request_id, target_type, target_id, target_name, details"
    insert = f"INSERT INTO audit_events ({columns}) VALUES ({', '.join(['?'] * 13)})"
    values = [
        _parameters([to_record(e) for e in grants(size)], True) for _ in range(events // size)
    ]
    os.getppid()
    for batch_values in values:
        plain.execute("BEGIN")
        plain.executemany(insert, batch_values)
        plain.execute("COMMIT")
    os.getpgrp()
    print("|".join(CONTENDERS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per contender")
    parser.add_argument("--batch", type=int, default=BATCH, help="events per write")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.events, args.batch)
        return
    events = args.events - args.events % args.batch
    command = [sys.executable, __file__, "--child", "--events", str(events)]
    totals = instructions([*command, "--batch", str(args.batch)])
    print(
        f"instructions per audit event (callgrind, SQLite, batches of {args.batch}, "
        f"{events} events)"
    )
    for name in CONTENDERS:
        print(f"  {name:18} {totals[name] / events:10,.0f}")
    grant = totals["queue put"] + totals["token grants"]
    print(
        f"a token grant's event: {grant / events:,.0f} instructions, "
        f"{grant / totals['plain INSERT']:.2f} x the plain INSERT of its row"
    )


if __name__ == "__main__":
    main()
