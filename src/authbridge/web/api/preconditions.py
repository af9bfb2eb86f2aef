"""Entity tags and `If-Match` (RFC 9110 §8.8.3, §13.1.1) for the admin API's writes.

A resource's version is an opaque string its admin service returns (a counter, a hash of
the stored row); the API sends it as a strong `ETag` and hands the `If-Match` value back to
the service, which compares it inside its write transaction and raises
`PreconditionFailed` (412) on a mismatch, or `PreconditionRequired` (428) when a write that
can lose an update came without one.
"""

from __future__ import annotations

import re

from fastapi import Request

__all__ = ["etag", "if_match"]

MAX_HEADER_CHARS = 512
ETAGC = re.compile(r"[\x21\x23-\x7e]+")


def etag(version: str) -> str:
    """The strong entity tag of a version (RFC 9110 §8.8.3). A version is made of `etagc`
    characters (%x21 / %x23-7E: no quote, space or control), so the tag is a valid header
    value and `if_match` reads back exactly the version."""
    if not version or not ETAGC.fullmatch(version):
        raise ValueError(f"not a version an entity tag can carry: {version!r}")
    return f'"{version}"'


def if_match(request: Request) -> str | None:
    """The version `If-Match` names: None when absent, `*` for any; a list, a weak tag or a
    malformed value names no version we issue, so it is returned as is and fails the
    comparison (412), never matching by accident."""
    value = request.headers.get("if-match")
    if value is None:
        return None
    value = value.strip()[:MAX_HEADER_CHARS]
    if value == "*":
        return "*"
    if len(value) >= 2 and value[0] == value[-1] == '"' and '"' not in value[1:-1]:
        return value[1:-1]
    return "\x00" + value  # matches no version
