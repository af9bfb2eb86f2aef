"""The value index: which rows a user is indexed as (RFC 7643 §2.2 case, §2.3 types), kept in
step with every write, and rebuilt by `authbridge scim reindex` for users provisioned before
it existed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from authbridge.cli.main import app as cli
from authbridge.config.model import ScimSettings
from authbridge.scim.errors import Conflict
from authbridge.scim.resources import USER_SCHEMA, UserModel
from authbridge.scim.service import ListQuery, ScimService
from authbridge.storage import Database, Storage
from authbridge.storage.models import User
from authbridge.storage.scim.values import KEY_LENGTH, key_of, resolve, value_rows
from authbridge.storage.scim_models import ScimUser, ScimUserValue
from tests.wiring import scim_service

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _rows(attributes: dict[str, Any]) -> set[tuple[str, int, str | None]]:
    return {
        (row["attr"], row["item"], row["value_key"])
        for row in value_rows(UserModel, USER_SCHEMA, attributes)
    }


def test_each_value_is_a_row_keyed_as_the_schema_compares_it() -> None:
    rows = _rows(
        {
            "title": "Tour Guide",  # caseExact=false: folded
            "emails": [{"value": "B@X.com", "type": "work", "primary": True}, {}],
            "photos": [{"value": "https://Example.com/P"}],  # a reference: caseExact
            "x509Certificates": [{"value": "TUlJRA=="}],
            ENTERPRISE: {"employeeNumber": "E-1", "manager": {"value": "Mgr-1"}},
        }
    )
    assert rows == {
        ("schemas", 0, USER_SCHEMA.lower()),
        ("schemas", 1, ENTERPRISE.lower()),
        ("title", 0, "tour guide"),
        ("emails", 0, None),  # the element itself, which `pr` and `not` start from
        ("emails.value", 0, "b@x.com"),
        ("emails.type", 0, "work"),
        ("emails.primary", 0, "true"),
        ("photos", 0, None),
        ("photos.value", 0, "https://Example.com/P"),
        ("x509certificates", 0, None),
        ("x509certificates.value", 0, "TUlJRA=="),
        ("enterprise:employeenumber", 0, "e-1"),
        ("enterprise:manager", 0, None),
        ("enterprise:manager.value", 0, "Mgr-1"),  # manager.value is caseExact
    }


def test_unassigned_and_empty_values_have_no_row() -> None:
    # RFC 7644 §3.4.2.2 `pr`: "a non-empty value, or ... a non-empty node".
    assert _rows({"title": "", "nickName": None, "emails": [{"value": ""}], "ims": []}) == {
        ("schemas", 0, USER_SCHEMA.lower())
    }


def test_keys_sort_as_the_rfc_orders_values() -> None:
    when = resolve(UserModel, "meta", "lastModified")
    assert when is not None and when.kind == "datetime"
    # dateTimes in UTC and one fixed format: text order is time order (RFC 7644 §3.4.2.2 gt).
    early = key_of(when, "2011-05-13T06:42:34+02:00")
    late = key_of(when, datetime(2011, 5, 13, 4, 42, 35, tzinfo=UTC))
    assert early == "2011-05-13T04:42:34.000000Z" and early < late
    primary = resolve(UserModel, "emails", "primary")
    assert primary is not None and key_of(primary, "True") == "true"


def test_a_long_value_keeps_an_indexable_head_and_its_whole_key() -> None:
    long = "x" * (KEY_LENGTH + 50)
    (row,) = [
        r for r in value_rows(UserModel, USER_SCHEMA, {"title": long}) if r["attr"] == "title"
    ]
    assert row["value_key"] == long[:KEY_LENGTH] and row["value_full"] == long


@pytest.fixture
def service(storage: Storage) -> ScimService:
    return scim_service(storage, ScimSettings(), source="okta", base_url="http://t/v1/scim/v2/okta")


def _names(service: ScimService, expression: str) -> list[str]:
    return sorted(r["userName"] for r in service.list_users(ListQuery(filter=expression)).resources)


def _row_count(storage: Storage, user_id: str | None = None) -> int:
    statement = select(func.count()).select_from(ScimUserValue)
    if user_id is not None:
        statement = statement.where(ScimUserValue.user_id == user_id)
    with storage.db.session() as session:
        return int(session.scalar(statement) or 0)


def test_every_write_keeps_the_index_in_step(storage: Storage, service: ScimService) -> None:
    body = {"schemas": [USER_SCHEMA], "userName": "ada", "title": "Engineer", "nickName": "A"}
    uid = service.create_user(body, actor="t")["id"]
    assert _names(service, 'title eq "engineer"') == ["ada"]

    service.replace_user(uid, {**body, "title": "Director"}, actor="t")
    assert _names(service, 'title eq "engineer"') == []
    assert _names(service, 'title eq "director" and nickName eq "a"') == ["ada"]

    patch = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": "ada@x.test", "type": "work"}]},
            {"op": "remove", "path": "nickName"},
        ],
    }
    service.patch_user(uid, patch, actor="t")
    assert _names(service, 'emails[type eq "work" and value eq "ADA@x.test"]') == ["ada"]
    assert _names(service, "nickName pr") == []

    service.delete_user(uid, actor="t")
    assert _row_count(storage) == 0  # the rows go with the user (ON DELETE CASCADE)


def test_a_refused_write_leaves_the_index_as_it_was(storage: Storage, service: ScimService) -> None:
    uid = service.create_user(
        {"schemas": [USER_SCHEMA], "userName": "ada", "title": "A"}, actor="t"
    )["id"]
    service.create_user({"schemas": [USER_SCHEMA], "userName": "bob"}, actor="t")
    before = _row_count(storage, uid)
    with pytest.raises(Conflict):  # userName taken
        service.replace_user(uid, {"schemas": [USER_SCHEMA], "userName": "bob"}, actor="t")
    assert _row_count(storage, uid) == before
    assert _names(service, 'title eq "a"') == ["ada"]


def _provisioned_before_the_value_index(database_url: str) -> None:
    """Three SCIM users written under revision 0002_scim (no value index), then migrated."""
    db = Database(database_url)
    db.upgrade("0002_scim")
    now = datetime.now(UTC)
    attributes = {
        "title": "Legacy",
        "emails": [{"value": "Old@Example.com", "type": "work"}],
        ENTERPRISE: {"employeeNumber": "42"},
    }
    with db.session() as session:
        session.execute(
            insert(User.__table__),
            [
                {
                    "id": f"u{i}",
                    "username": f"old{i}",
                    "username_key": f"old{i}",
                    "email_verified": False,
                    "active": True,
                    "kind": "person",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(3)
            ],
        )
        session.execute(
            insert(ScimUser.__table__),
            [
                {
                    "user_id": f"u{i}",
                    "source": "okta",
                    "attributes": attributes if i else {},
                    "version": 1,
                    "created_at": now,
                    "modified_at": now,
                }
                for i in range(3)
            ],
        )
    db.upgrade()
    db.dispose()


def _index_rows(storage: Storage) -> set[tuple[Any, ...]]:
    with storage.db.session() as session:
        return set(
            session.execute(
                select(
                    ScimUserValue.user_id,
                    ScimUserValue.attr,
                    ScimUserValue.item,
                    ScimUserValue.value_key,
                )
            )
        )


def _expected_legacy_rows() -> set[tuple[Any, ...]]:
    """Their rows written out by hand from RFC 7643's attribute definitions."""
    schema = ("schemas", 0, "urn:ietf:params:scim:schemas:core:2.0:user")
    legacy = {
        schema,
        ("schemas", 1, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"),
        ("title", 0, "legacy"),  # caseExact=false (RFC 7643 §4.1.1): folded
        ("emails", 0, None),  # the element itself, for `pr`
        ("emails.value", 0, "old@example.com"),  # caseExact=false: folded
        ("emails.type", 0, "work"),
        ("enterprise:employeenumber", 0, "42"),
    }
    return {
        ("u0", *schema),
        *(("u1", *r) for r in legacy),
        *(("u2", *r) for r in legacy),
    }


def test_users_from_before_the_value_index_are_found_after_scim_reindex(
    database_url: str, tmp_path: Path
) -> None:
    """Migration 0003 creates the table only (it is frozen: no live code), and `authbridge
    scim reindex` writes the rows the service would have written."""
    _provisioned_before_the_value_index(database_url)
    storage = Storage.open(database_url, migrate=False)
    try:
        assert _row_count(storage) == 0  # schema only
        config = tmp_path / "authbridge.yaml"
        config.write_text(f"database:\n  url: {database_url}\n")
        result = CliRunner().invoke(cli, ["scim", "reindex", "--config", str(config)])
        assert result.exit_code == 0, result.output
        assert "reindexed 3 SCIM users" in result.output
        rows = _index_rows(storage)
        assert rows == _expected_legacy_rows()
        service = scim_service(
            storage, ScimSettings(), source="okta", base_url="http://t/v1/scim/v2/okta"
        )
        expression = f'emails[type eq "work"] and {ENTERPRISE}:employeeNumber eq "42"'
        assert _names(service, expression) == ["old1", "old2"]
        assert _names(service, "not (title pr)") == ["old0"]
        # Run again: the same rows, not twice as many.
        assert CliRunner().invoke(cli, ["scim", "reindex", "--config", str(config)]).exit_code == 0
        assert _row_count(storage) == len(rows)
    finally:
        storage.db.dispose()


def test_db_upgrade_indexes_users_provisioned_before_the_value_index(
    database_url: str, tmp_path: Path
) -> None:
    """An upgrade from before 0003 needs no manual step: `db upgrade` (and start-up) index
    users when the index is empty, and only then."""
    _provisioned_before_the_value_index(database_url)
    config = tmp_path / "authbridge.yaml"
    config.write_text(f"database:\n  url: {database_url}\n")
    first = CliRunner().invoke(cli, ["db", "upgrade", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "Indexed 3 SCIM users" in first.output
    again = CliRunner().invoke(cli, ["db", "upgrade", "--config", str(config)])
    assert again.exit_code == 0 and "Indexed" not in again.output
    storage = Storage.open(database_url, migrate=False)
    try:
        assert _index_rows(storage) == _expected_legacy_rows()
    finally:
        storage.db.dispose()


def test_sort_by_an_indexed_attribute(service: ScimService) -> None:
    """RFC 7644 §3.4.2.3: sortBy any attribute; caseExact=false values sort case-blind."""
    for name, title, number in (("a", "beta", "3"), ("b", "Alpha", "1"), ("c", "gamma", "2")):
        body = {"schemas": [USER_SCHEMA], "userName": name, "title": title}
        service.create_user({**body, ENTERPRISE: {"employeeNumber": number}}, actor="t")

    def order(sort_by: str, descending: bool = False) -> list[str]:
        page = service.list_users(ListQuery(sort_by=sort_by, descending=descending))
        return [r["userName"] for r in page.resources]

    assert order("title") == ["b", "a", "c"]
    assert order(f"{ENTERPRISE}:employeeNumber", descending=True) == ["a", "c", "b"]
