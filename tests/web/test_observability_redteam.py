"""Red team of the audit line (web/observability.py `info_line` and the `redact` step it
shares with the structlog pipeline): hostile values must neither leak a secret nor make
`info_line` write something structlog would not (or fail where structlog writes)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from authbridge.web.observability import configure_logging, info_line

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXNlY3JldA"
BEARER = "Bearer tok3nS3cr3tValue"
SECRETS = ("tok3nS3cr3tValue", "c2lnbmF0dXJlLXNlY3JldA", "eyJzdWIiOiJhZGEifQ", "hunter2", "s3cr3t")


def _deep(levels: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(levels):
        value = {"next": value}
    return value


@pytest.fixture
def pipeline(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    configure_logging("info", "json")
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-1")
    capsys.readouterr()
    try:
        yield capsys
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def _both(capsys: pytest.CaptureFixture[str], fields: dict[str, Any]) -> tuple[str, str]:
    structlog.get_logger("authbridge.audit").info("token.issued", **fields)
    assert info_line("token.issued", fields) is True
    theirs, ours = capsys.readouterr().err.splitlines()
    stamp = re.compile(r'"timestamp": "[^"]+"')
    return stamp.sub('"timestamp": "T"', theirs), stamp.sub('"timestamp": "T"', ours)


HOSTILE: list[dict[str, Any]] = [
    # Secrets deeper than the redaction used to look (it stopped at depth 8, raw below).
    {"details": _deep(12, {"client_secret": "s3cr3t"})},
    {"details": _deep(12, [f"Authorization: {BEARER}"])},
    {"details": _deep(12, JWT)},
    # Containers the JSON renderer prints by repr(): a set, a frozenset, bytes.
    {"details": {"seen": {BEARER}}},
    {"details": {"seen": frozenset({f"https://rp/cb?code=hunter2&x={JWT}"})}},
    {"details": {"raw": f"/cb?password=hunter2 {BEARER}".encode()}},
    # A secret in a key, not a value (a form's field echoed as a key).
    {"details": {BEARER: 1, "?refresh_token=hunter2": 2}},
    # Lists and tuples of mixed things.
    {"details": {"list": [1, None, True, JWT, ("a", f"x {BEARER}"), {"password": "hunter2"}]}},
    # Non-JSON scalars: a datetime (repr has no secret), a huge text with a secret at its end.
    {"details": {"at": datetime(2026, 1, 2, tzinfo=UTC)}},
    {"details": {"blob": "x" * 100_000 + f" {BEARER}"}},
]


@pytest.mark.parametrize("fields", HOSTILE)
def test_hostile_values_leak_nothing_and_render_as_structlog_does(
    pipeline: pytest.CaptureFixture[str], fields: dict[str, Any]
) -> None:
    theirs, ours = _both(pipeline, fields)
    assert ours == theirs
    for secret in SECRETS:
        assert secret not in ours
    json.loads(ours)


def test_a_value_whose_repr_raises_does_not_break_the_line_writer(
    pipeline: pytest.CaptureFixture[str],
) -> None:
    """Neither path can render it; `info_line` must fail as structlog does (an exception the
    audit log catches), not write half a line."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

        __str__ = __repr__

    with pytest.raises(RuntimeError):
        info_line("token.issued", {"details": {"h": Hostile()}})
    assert pipeline.readouterr().err == ""


def test_non_string_keys_do_not_reach_the_line_raw(pipeline: pytest.CaptureFixture[str]) -> None:
    """A non-string key (an int, a tuple) in details: json renders int keys as text and
    refuses a tuple; neither path may write a secret held in such a key."""
    assert info_line("token.issued", {"details": {1: "one", 2.5: JWT}}) is True
    line = pipeline.readouterr().err
    assert JWT not in line and '"1": "one"' in line
