"""Cursor pagination: a cursor round-trips its sort key, and anything else a client sends as
a cursor (malformed, oversized, forged to the wrong shape) is an `InvalidRequest` (a 400
problem naming `cursor`), never another exception (a 500)."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authbridge.admin.errors import InvalidRequest
from authbridge.admin.paging import (
    DEFAULT_LIMIT,
    MAX_CURSOR_CHARS,
    MAX_LIMIT,
    PageRequest,
    decode_cursor,
    encode_cursor,
)

KEY_PART = st.text(st.characters(blacklist_characters="\x00"), max_size=40)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _refused(cursor: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 400
    assert [e["field"] for e in caught.value.extensions["errors"]] == ["cursor"]


@given(st.lists(KEY_PART, min_size=1, max_size=4))
@settings(max_examples=200, derandomize=True, database=None)
def test_a_cursor_round_trips_its_key(key: list[str]) -> None:
    assert decode_cursor(encode_cursor(key)) == tuple(key)


def test_a_cursor_is_url_safe_without_padding() -> None:
    cursor = encode_cursor(["2026-01-01T00:00:00+00:00", "a/b+c?"])
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",  # not base64url
        "a",  # a base64 length no encoder produces
        "é",  # not ASCII
        _b64(b"not json"),
        _b64(b"\xff\xfe"),  # not UTF-8
        _b64(b'{"a": "b"}'),  # not a list
        _b64(b"[]"),  # an empty key
        _b64(b"[1, 2]"),  # not strings
        _b64(b'["a", null]'),
        _b64(b'[["a"]]'),
        _b64(b'["a\\u0000b"]'),  # a NUL: no database column stores it (PostgreSQL refuses)
        _b64(b"[" * 300 + b"]" * 300),  # deep nesting
        _b64(json.dumps(["x" * MAX_CURSOR_CHARS]).encode()),  # oversized
        "A" * (MAX_CURSOR_CHARS + 1),
    ],
)
def test_a_malformed_cursor_is_invalid_request(cursor: str) -> None:
    _refused(cursor)


@given(st.text(max_size=MAX_CURSOR_CHARS + 20))
@settings(max_examples=300, derandomize=True, database=None)
def test_no_string_raises_anything_but_invalid_request(cursor: str) -> None:
    with contextlib.suppress(InvalidRequest):
        decode_cursor(cursor)


def test_a_page_request_defaults_and_bounds_its_limit() -> None:
    assert PageRequest.of(None, None) == PageRequest(DEFAULT_LIMIT, None)
    assert PageRequest.of(MAX_LIMIT, "").limit == MAX_LIMIT  # an empty cursor: the first page
    for limit in (0, -1, MAX_LIMIT + 1, 10**30):
        with pytest.raises(InvalidRequest) as caught:
            PageRequest.of(limit, None)
        assert [e["field"] for e in caught.value.extensions["errors"]] == ["limit"]


def test_a_cursor_of_another_key_size_is_refused() -> None:
    """A list keyed on (created, id) given a cursor of one value, or of three (forged, or
    from another list), must not reach storage, where `after[1]` would be an IndexError."""
    two = encode_cursor(["2026-01-01", "u1"])
    assert PageRequest.of(10, two, key_size=2).after == ("2026-01-01", "u1")
    for other in (encode_cursor(["u1"]), encode_cursor(["a", "b", "c"])):
        with pytest.raises(InvalidRequest):
            PageRequest.of(10, other, key_size=2)


def test_a_long_non_ascii_key_still_makes_a_cursor_that_decodes() -> None:
    key = ["2026-01-01T00:00:00.000000+00:00", "0" * 36, "名前" * 100, "😀" * 50]
    assert decode_cursor(encode_cursor(key)) == tuple(key)
