"""Reading the audit log: events by actor, target, type and time, newest first, a page at a
time. One implementation for `GET /api/v1/audit/events` and `authbridge audit list`."""

from __future__ import annotations

from datetime import UTC, datetime

from authbridge.admin.errors import FieldError, InvalidRequest
from authbridge.admin.paging import Page, PageRequest, encode_cursor
from authbridge.storage.audit import AuditFilter, AuditRecord, AuditStore

__all__ = ["MAX_FILTER_CHARS", "AuditAdmin"]

MAX_FILTER_CHARS = 255


def _position(after: tuple[str, ...]) -> tuple[datetime, int]:
    """A cursor's (at, id); a cursor of another list is refused as malformed."""
    bad = InvalidRequest("the cursor is malformed", [FieldError("cursor", "not a cursor")])
    if len(after) != 2:
        raise bad
    try:
        at, last = datetime.fromisoformat(after[0]), int(after[1])
    except ValueError:
        raise bad from None
    if at.tzinfo is None:
        raise bad
    utc = _utc(at)
    if utc is None:
        raise bad
    return utc, last


def _utc(value: datetime) -> datetime | None:
    """`value` in UTC, as storage binds it; None when that falls outside the years 1 to
    9999 (`0001-01-01T00:00+01:00`), which would be an OverflowError, a 500, there."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return None


def _text(name: str, value: str | None) -> str | None:
    # A NUL is in no stored value, and PostgreSQL refuses it in a parameter (a 500).
    if value is not None and (not value or len(value) > MAX_FILTER_CHARS or "\x00" in value):
        raise InvalidRequest(
            f"{name} must be 1 to {MAX_FILTER_CHARS} characters, none of them NUL",
            [FieldError(name, f"1 to {MAX_FILTER_CHARS} characters, no NUL")],
        )
    return value


def _time(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidRequest(
            f"{name} needs a time zone (e.g. 2026-01-01T00:00:00Z)",
            [FieldError(name, "a date-time with a time zone")],
        )
    utc = _utc(value)
    if utc is None:
        raise InvalidRequest(
            f"{name} is out of range", [FieldError(name, "a date-time in the years 1 to 9999")]
        )
    return utc


class AuditAdmin:
    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def query(
        self,
        *,
        actor: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page: PageRequest | None = None,
    ) -> Page[AuditRecord]:
        """Events matching every filter given, newest first. `type` is exact, or a prefix
        when it ends in "." (`user.`); `since` inclusive, `until` exclusive."""
        page = page if page is not None else PageRequest()
        where = AuditFilter(
            actor=_text("actor", actor),
            target_type=_text("targetType", target_type),
            target_id=_text("targetId", target_id),
            type=_text("type", type),
            since=_time("since", since),
            until=_time("until", until),
        )
        after = _position(page.after) if page.after is not None else None
        # One row more than the page: whether a next page exists, without a count.
        rows = self._store.query(where, limit=page.limit + 1, after=after)
        items = rows[: page.limit]
        if len(rows) <= page.limit or not items:
            return Page(items)
        last = items[-1]
        return Page(items, encode_cursor((last.at.isoformat(), str(last.id))))
