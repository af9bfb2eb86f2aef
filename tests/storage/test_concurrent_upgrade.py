"""Replicas starting together on an empty database migrate it once (issue 15, part 1).

Each replica is a separate process (Alembic's `context`/`op` are module globals, so threads
would share them): all three are released at the same instant on an empty database, as a
Kubernetes Deployment's pods are. Without a lock two of them both see no `alembic_version`
and both create it (UniqueViolation / DuplicateTable); with it the others wait, then find
the schema current and continue.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from authbridge.storage.database import engine_url

REPLICAS = 3

# Connect first (imports and the engine are the slow part), then upgrade at the agreed time.
_REPLICA = textwrap.dedent(
    """
    import sys, time
    from authbridge.storage.database import Database
    db = Database(sys.argv[1])
    db.ping()
    time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
    db.upgrade()
    db.dispose()
    print("migrated")
    """
)


def _start_together(url: str) -> list[subprocess.CompletedProcess[str]]:
    go = time.time() + 4.0
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLICA, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(REPLICAS)
    ]
    results = []
    for replica in replicas:
        out, err = replica.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(replica.args, replica.returncode, out, err))
    return results


def _one_history(url: str) -> None:
    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version"))
            heads = sorted(row[0] for row in versions)
        assert heads and len(heads) == len(set(heads))
        assert "users" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_three_replicas_upgrade_one_fresh_postgres_database(postgres_server_url: str) -> None:
    from tests.conftest import _fresh_postgres

    url = _fresh_postgres(postgres_server_url)
    results = _start_together(url)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "migrated" in result.stdout
    _one_history(url)


def test_three_replicas_upgrade_one_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'authbridge.db'}"
    results = _start_together(url)
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
    _one_history(url)
