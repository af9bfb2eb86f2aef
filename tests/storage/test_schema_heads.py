"""Start-up's migration check without Alembic (issue 18): `HEADS`, the schema it skips,
and the schemas it still hands to Alembic.

A start whose `alembic_version` holds exactly this code's heads imports no Alembic (with
Mako and Pygments, about 7 MB resident: tests/test_imports.py checks a whole start). Any
other state goes to `command.upgrade` as before: a new database, an older release's
schema, a revision this code does not know.
"""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text

from authbridge.storage.database import Database, _alembic_config
from authbridge.storage.migrations import HEADS


def _versions(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return sorted(connection.scalars(text("SELECT version_num FROM alembic_version")))


def test_heads_are_what_alembic_finds() -> None:
    """A new migration fails here until `migrations/__init__.py` names its revision."""
    heads = ScriptDirectory.from_config(_alembic_config()).get_heads()
    assert sorted(HEADS) == sorted(heads)


def test_a_new_database_is_migrated(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert not db.schema_is_current()
        db.upgrade()
        assert db.schema_is_current()
        assert _versions(db) == sorted(HEADS)
    finally:
        db.dispose()


def test_a_current_schema_is_left_to_itself(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    try:
        db.upgrade()

        def refuse(*_args: object, **_kwargs: object) -> None:
            raise AssertionError("Alembic ran on a current schema")

        monkeypatch.setattr(command, "upgrade", refuse)
        db.upgrade()
        assert _versions(db) == sorted(HEADS)
    finally:
        db.dispose()


def test_a_previous_release_schema_is_upgraded(database_url: str) -> None:
    """Every head but the newest branch's applied, as a release before 0008 left it."""
    db = Database(database_url)
    try:
        for head in sorted(HEADS - {"0008_passkeys"}):
            db.upgrade(head)
        assert "passkeys" not in inspect(db.engine).get_table_names()
        assert not db.schema_is_current()
        db.upgrade()
        assert db.schema_is_current()
        assert "passkeys" in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


def test_an_older_revision_on_a_branch_is_upgraded(database_url: str) -> None:
    """One branch stopped short of its head (0002_scim, before 0003's value index)."""
    db = Database(database_url)
    try:
        db.upgrade("0002_scim")
        assert not db.schema_is_current()
        db.upgrade()
        assert _versions(db) == sorted(HEADS)
        assert "scim_user_values" in inspect(db.engine).get_table_names()
    finally:
        db.dispose()


@pytest.mark.parametrize("replace", [False, True], ids=["added", "replacing"])
def test_an_unknown_revision_still_goes_to_alembic(database_url: str, replace: bool) -> None:
    """A newer release's revision (a rollback of the code, not of the schema): Alembic
    refuses to start on it, as it did before, rather than the check passing it over."""
    db = Database(database_url)
    try:
        db.upgrade()
        with db.engine.begin() as connection:
            if replace:
                connection.execute(
                    text("DELETE FROM alembic_version WHERE version_num = '0008_passkeys'")
                )
            connection.execute(text("INSERT INTO alembic_version VALUES ('0009_from_later')"))
        assert not db.schema_is_current()
        with pytest.raises(CommandError, match="0009_from_later"):
            db.upgrade()
    finally:
        db.dispose()
