"""Cursor pagination for admin lists (keyset: a page is "the next `limit` rows after this
position in a stable order", so pages stay fast at any depth and never skip or repeat a row
when others are inserted meanwhile).

A cursor is the last row's sort key, encoded opaque (base64url JSON). It is not a secret and
not signed: a forged cursor only moves the caller's own position in a list they may read
whole; a malformed one is `InvalidRequest`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from authbridge.admin.errors import FieldError, InvalidRequest

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Page",
    "PageRequest",
    "all_items",
    "decode_cursor",
    "encode_cursor",
]

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# A sort key of up to 1.5 KB of UTF-8 (a timestamp, an id and a long non-ASCII name) fits.
MAX_CURSOR_CHARS = 2048


@dataclass(frozen=True, slots=True)
class PageRequest:
    """`after`: the decoded cursor (the last row's sort key) or None for the first page."""

    limit: int = DEFAULT_LIMIT
    after: tuple[str, ...] | None = None

    @classmethod
    def of(cls, limit: int | None, cursor: str | None, key_size: int | None = None) -> PageRequest:
        """`key_size`: how many values the list's sort key has; a cursor of another length
        (forged, or from another list) is `InvalidRequest`, never an IndexError in storage."""
        if limit is None:
            limit = DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequest(
                f"limit must be between 1 and {MAX_LIMIT}",
                [FieldError("limit", f"between 1 and {MAX_LIMIT}")],
            )
        after = decode_cursor(cursor) if cursor else None
        if after is not None and key_size is not None and len(after) != key_size:
            raise _malformed()
        return cls(limit, after)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page; `next_cursor` is None on the last page."""

    items: Sequence[T]
    next_cursor: str | None = None


def all_items(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    """Every item of a list, page after page (the CLI prints whole lists)."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page = fetch(PageRequest.of(MAX_LIMIT, cursor))
        items.extend(page.items)
        if (cursor := page.next_cursor) is None:
            return items


def encode_cursor(key: Sequence[str]) -> str:
    """UTF-8, not `\\u` escapes: a non-ASCII name costs 2-4 bytes a character, not 6-12, so
    the cursors `decode_cursor` accepts cover every key this encodes."""
    raw = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _malformed() -> InvalidRequest:
    return InvalidRequest("the cursor is malformed", [FieldError("cursor", "not a cursor")])


def decode_cursor(cursor: str) -> tuple[str, ...]:
    """The sort key a cursor holds; anything that is not a cursor `encode_cursor` could have
    made (too long, not base64url JSON, not a non-empty list of strings, a NUL no database
    column stores) is `InvalidRequest`, so a forged cursor is a 400, never a 500."""
    bad = _malformed()
    if len(cursor) > MAX_CURSOR_CHARS:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        raise bad from None
    if not isinstance(value, list) or not value:
        raise bad
    if not all(isinstance(v, str) and "\x00" not in v for v in value):
        raise bad
    return tuple(value)
