"""Log redaction (web/observability.py): secrets never reach a line, an IdP's error codes do."""

from __future__ import annotations

import enum
import json
import os
import platform
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

import authbridge
from authbridge.web import observability
from authbridge.web.app import create_management_app
from authbridge.web.observability import (
    LINK_PAGES,
    AccessLog,
    Metrics,
    configure_logging,
    info_line,
    redact,
)
from tests.web.conftest import AppFactory
from tests.web.metrics import scrape

REDACTED = "[redacted]"


def _redact(**fields: Any) -> dict[str, Any]:
    return dict(redact(None, "info", {"event": "test", **fields}))


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "new_password",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "authorization",
        "cookie",
        "set_cookie",
        "device_code",
        "user_code",
        "auth_code",
        "code_verifier",
        "client_assertion",
        "signing_key",
    ],
)
def test_fields_named_like_a_secret_are_redacted(name: str) -> None:
    assert _redact(**{name: "s3cr3t-value"})[name] == REDACTED


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("code", "invalid_client"),  # a connector's error code
        ("code", "access_denied"),
        ("error", "invalid_grant"),  # RFC 6749 §5.2
        ("error_description", "The refresh token was revoked."),
        ("error_code", "AADSTS50011"),  # Entra's error code
        ("status", "403"),
        ("provider", "okta"),
    ],
)
def test_idp_error_codes_stay_readable(name: str, value: str) -> None:
    assert _redact(**{name: value})[name] == value


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "GET https://app.example/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj",
            "SplxlOBeZQQYbYS6WxSbIA",
            "https://app.example/cb?code=",
        ),
        ("state=xyz&code=abc123&error=access_denied", "abc123", "error=access_denied"),
        ("#access_token=2YotnFZFEjr1zCsicMWpAA&token_type=Bearer", "2YotnFZFEjr1", "token_type"),
        ("header Authorization: Bearer mF_9.B5f-4.1JqM was refused", "mF_9.B5f-4.1JqM", "refused"),
        ("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW", "czZCaGRSa3F0MzpnWDFmQmF0M2JW", "Basic"),
        ("token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln here", "eyJzdWIiOiJhIn0", "here"),
    ],
)
def test_secrets_inside_text_are_cut_out(text: str, secret: str, kept: str) -> None:
    for field in ("detail", "exception", "event"):
        out = _redact(**{field: text})[field]
        assert secret not in out
        assert kept in out
        assert REDACTED in out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # The shortcut that skips the pattern must not skip these: any case, any position.
        ("AUTHORIZATION: BEARER mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
        ("bAsIc czZCaGRSa3F0MzpnWDFm", "czZCaGRSa3F0MzpnWDFm"),
        ("EYJHBGCIOIJFUZI1NIJ9.EYJZDWIIOIJHIN0.C2LN", "EYJZDWIIOIJHIN0"),
        ("/cb?CODE=SplxlOBeZQQYbYS6", "SplxlOBeZQQYbYS6"),
        # Non-ASCII text always runs the full pattern.
        ("échec: Bearer mF_9.B5f-4.1JqM", "mF_9.B5f-4.1JqM"),
    ],
)
def test_the_scrub_shortcut_never_lets_a_secret_through(text: str, secret: str) -> None:
    assert secret not in _redact(detail=text)["detail"]


def test_a_memoised_field_name_is_judged_the_same_every_time() -> None:
    for _ in range(3):
        assert _redact(client_secret="x", route="/r")["client_secret"] == REDACTED
        assert _redact(client_secret="x", route="/r")["route"] == "/r"


def test_memoised_clean_text_never_lets_a_secret_through() -> None:
    """Clean values are remembered (bounded); text with a secret never is, in any field or
    nested in an audit event's details, however often it is logged and when the memo is
    full."""
    secrets = ("/cb?code=SplxlOBeZQQYbYS6", "Bearer mF_9.B5f-4.1JqM", "eyJa.eyJb.c2ln")
    for index in range(5000):  # past the memo's bound
        _redact(detail=f"clean value {index}")
    for _ in range(3):
        for text in secrets:
            line = _redact(detail=text, details={"grantType": text, "nested": [text]})
            assert text not in str(line)
    assert _redact(detail="clean value 1")["detail"] == "clean value 1"
    assert _redact(details={"clientSecret": "clean value 1"})["details"] == {
        "clientSecret": REDACTED
    }


def test_an_idp_error_with_its_description_survives_whole() -> None:
    line = _redact(
        code="invalid_request",
        detail="AADSTS900144: The request body must contain the parameter client_id.",
    )
    assert line["code"] == "invalid_request"
    assert line["detail"] == "AADSTS900144: The request body must contain the parameter client_id."


@pytest.mark.parametrize(
    ("method", "path", "route", "status", "duration_ms"),
    [
        ("GET", "/api/v1/system/config/jwks", "/api/v1/system/config/jwks", 200, 0.12),
        ("POST", "/oauth2/token", "/oauth2/token", 401, 12.0),
        ("GET", LINK_PAGES[0] + "s3cr3t-link-token", "unmatched", 404, 0.0),
        ("GET", '/quote"back\\slash\ttab', "unmatched", 404, 1234.57),
        ("GET", "/caf\u00e9/\u2028/Bearer mF_9.B5f-4.1JqM", "unmatched", 404, 3.5),
        ("BREW", "/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "/x/{id}", 418, 0.01),
        ("g\u00e9t", "/?code=abc", "/x", 500, 99999.99),
    ],
)
def test_the_access_line_is_the_one_structlog_renders(
    capsys: pytest.CaptureFixture[str],
    method: str,
    path: str,
    route: str,
    status: int,
    duration_ms: float,
) -> None:
    """Differential: AccessLog's own rendering against the configured structlog pipeline,
    byte for byte but the timestamp (and both redact the same secrets)."""
    configure_logging("info", "json")
    try:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id="req-1")
        capsys.readouterr()
        fields = {"method": method, "path": path, "route": route, "status": status}
        structlog.get_logger("authbridge.access").info("request", **fields, duration_ms=duration_ms)
        AccessLog()._render("req-1", method, path, route, status, duration_ms)
        theirs, ours = capsys.readouterr().err.splitlines()
        stamp = re.compile(r'"timestamp": "[^"]+"')
        assert stamp.sub("T", ours) == stamp.sub("T", theirs)
        assert re.search(r'"timestamp": "\d{4}-\d\d-\d\dT[\d:.]+Z"}$', ours)
        for secret in ("s3cr3t-link-token", "mF_9.B5f-4.1JqM", "c2ln", "abc"):
            assert secret not in ours
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def test_the_access_line_goes_through_structlog_when_it_must(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Another bound field, a console format or a capture in place: structlog renders."""
    log = AccessLog()
    try:
        configure_logging("info", "console")
        structlog.contextvars.bind_contextvars(request_id="req-2")
        capsys.readouterr()
        log.write("GET", "/p", "/p", 200, 1.0)
        line = capsys.readouterr().err
        assert "request" in line and "req-2" in line and not line.startswith("{")
        configure_logging("warning", "json")
        log.write("GET", "/p", "/p", 200, 1.0)
        assert capsys.readouterr().err == ""
        configure_logging("info", "json")
        with structlog.testing.capture_logs() as captured:
            log.write("GET", "/p", "/p", 200, 1.0)
        assert captured and captured[0]["event"] == "request"
        structlog.contextvars.bind_contextvars(tenant_of_access_test="t-1")
        log.write("GET", "/p", "/p", 200, 1.0)
        line = json.loads(capsys.readouterr().err)
        assert line["tenant_of_access_test"] == "t-1" and line["request_id"] == "req-2"
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


class _Kind(enum.StrEnum):
    CLIENT = "client"


class _Number(enum.IntEnum):
    TWO = 2


class _Text(str):
    __slots__ = ()


@pytest.mark.parametrize(
    "fields",
    [
        {"audit": True, "outcome": "success", "actor_kind": "client", "actor_id": "etl"},
        {
            "audit": True,
            "outcome": "failure",
            "actor_kind": "user",
            "request_id": "the-event's-own",
            "details": {
                "grantType": "refresh_token",
                "client_secret": "s3cr3t",
                "nested": [{"password": "hunter2"}, "https://app/cb?code=abc&state=1"],
                "note": "caf\u00e9 \u2028 Bearer mF_9.B5f-4.1JqM",
            },
        },
        {"audit": True, "count": 3, "ratio": 0.5, "none": None, "flag": False},
        # Values json.dumps writes its own way, and secrets in a top-level field's name or
        # in a str subclass's text.
        {
            "flag": True,
            "big": 2**70,
            "negative": -1,
            "nan": float("nan"),
            "inf": float("-inf"),
            "kind": _Kind.CLIENT,
            "number": _Number.TWO,
            "client_secret": "s3cr3t",
            "password": None,
            "text": _Text("caf\u00e9 Bearer mF_9.B5f-4.1JqM"),
            "url": "https://rp/cb?code=abc",
            "empty": {},
            "seq": ("Bearer hunter2", "?password=hunter2"),
        },
        # Dicts the per-field writer leaves to json.dumps: keys that are not text, keys
        # that are one once scrubbed (the last value wins, at the first one's place).
        {"details": {1: "one", 2.5: None, "k": [1.5, {"a": (True, None)}]}},
        {"details": {"/cb?code=a": 1, "x": 2, "/cb?code=b": 3}, "after": "y"},
        # Names the line itself sets: the pipeline decides where they go and what they hold.
        {"audit": True, "level": "debug", "timestamp": "then", "logger": "x"},
        {"audit": True, "request_id": "the-event's-own", "outcome": "success"},
        {},
    ],
)
@pytest.mark.parametrize("event", ["token.issued", "/cb?code=abc"])
@pytest.mark.parametrize("bound", [True, False])
def test_an_info_line_is_the_one_structlog_renders(
    capsys: pytest.CaptureFixture[str], fields: dict[str, object], event: str, bound: bool
) -> None:
    """Differential: `info_line` (the audit log's line on every grant) against the
    configured structlog pipeline, byte for byte but the timestamp, secrets cut alike."""
    configure_logging("info", "json")
    try:
        structlog.contextvars.clear_contextvars()
        if bound:
            structlog.contextvars.bind_contextvars(request_id="req-9")
        capsys.readouterr()
        structlog.get_logger("authbridge.audit").info(event, **fields)
        assert info_line(event, fields) is True
        theirs, ours = capsys.readouterr().err.splitlines()
        stamp = re.compile(r'"timestamp": "[^"]+"')
        assert stamp.sub("T", ours) == stamp.sub("T", theirs)
        assert ours.count('"timestamp": ') == 1
        for secret in ("s3cr3t", "hunter2", "abc", "mF_9.B5f-4.1JqM"):
            assert secret not in ours
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


def test_plain_fields_are_rendered_field_by_field() -> None:
    """The per-field renderer takes a grant's audit fields (the differential test above
    checks its text); a name the line sets is left to the general path."""
    fields = {"audit": True, "actor_id": "etl", "details": {"grantType": "x"}, "n": None}
    assert observability._field_texts(fields) == [
        '"audit": true',
        '"actor_id": "etl"',
        '"details": {"grantType": "x"}',
        '"n": null',
    ]
    assert observability._field_texts({"client_secret": "s3cr3t"}) == [
        '"client_secret": "[redacted]"'
    ]
    for name in ("event", "level", "timestamp", "request_id", "logger"):
        assert observability._field_texts({"a": 1, name: "x"}) is None


def test_an_info_line_is_left_to_structlog_when_it_must(
    capsys: pytest.CaptureFixture[str],
) -> None:
    try:
        configure_logging("info", "console")
        assert info_line("x", {"a": 1}) is False
        configure_logging("warning", "json")
        assert info_line("x", {"a": 1}) is False
        configure_logging("info", "json")
        with structlog.testing.capture_logs():
            assert info_line("x", {"a": 1}) is False
        structlog.contextvars.bind_contextvars(tenant_of_info_test="t-1")
        assert info_line("x", {"a": 1}) is False
        structlog.contextvars.clear_contextvars()
        capsys.readouterr()
        assert info_line("x", {"a": 1}) is True  # a cleared binding is no binding
        line = json.loads(capsys.readouterr().err)
        assert line["a"] == 1 and "request_id" not in line and "tenant_of_info_test" not in line
    finally:
        structlog.contextvars.clear_contextvars()
        structlog.reset_defaults()


# Metrics (scraped and parsed as Prometheus does) -------------------------------------


def test_grant_counts_follow_the_client_labels_in_force() -> None:
    """Metrics.grant binds each label set's child once: the count still lands under the
    label the client has when it is counted (configured id, "registered", "other")."""
    metrics = Metrics()

    def count(client: str, outcome: str = "success") -> float:
        value = metrics.registry.get_sample_value(
            "authbridge_grants_total",
            {"grant_type": "client_credentials", "client": client, "outcome": outcome},
        )
        return value or 0.0

    metrics.grant("client_credentials", "etl", "success")
    metrics.grant("client_credentials", None, "invalid_client")
    metrics.label_values(clients=["etl"], connectors=[])
    metrics.grant("client_credentials", "etl", "success")
    metrics.grant("client_credentials", "etl", "success")
    metrics.grant("client_credentials", "etl", "invalid_scope")
    assert count("registered") == 1
    assert count("etl") == 2
    assert count("etl", "invalid_scope") == 1
    assert count("other", "invalid_client") == 1


def test_one_registry_per_app_with_process_gc_and_build_info(app_factory: AppFactory) -> None:
    from tests.web.test_pages import sign_up

    first, second = app_factory(), app_factory()
    assert sign_up(first).status_code == 303
    one, two = scrape(first), scrape(second)
    signed_up = {"method": "signup", "outcome": "success"}
    # Counters are the app's own, not prometheus_client's process-wide default registry.
    assert one.value("authbridge_sign_ins_total", **signed_up) == 1
    assert two.value("authbridge_sign_ins_total", **signed_up) == 0
    (info,) = one.labels("authbridge_build_info")
    assert info == {"version": authbridge.__version__, "python": platform.python_version()}
    assert one.value("authbridge_build_info", **info) == 1
    # prometheus_client's process (Linux /proc), platform and GC collectors.
    assert one.value("process_open_fds") > 0
    assert {"python_info", "python_gc_collections_total"} <= one.names()
    # The database pool, read from storage at scrape time (the request itself holds none).
    assert one.value("authbridge_db_pool_max") == 20
    assert one.value("authbridge_db_pool_waiting") == 0


def test_scim_requests_are_counted_by_source_and_outcome(app_factory: AppFactory) -> None:
    from tests.scim.conftest import HEADERS, SCIM_ENV

    client = app_factory(**SCIM_ENV)
    assert client.get("/v1/scim/v2/okta/Users", headers=HEADERS["okta"]).status_code == 200
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get("/v1/scim/v2/microsoft/Users", headers=wrong).status_code == 401
    bad = client.post(
        "/v1/scim/v2/microsoft/Users", headers=HEADERS["microsoft"], content=b"{not json"
    )
    assert bad.status_code == 400  # RFC 7644 §3.12 invalidSyntax
    assert client.get("/v1/scim/v2/nobody/Users", headers=HEADERS["okta"]).status_code == 404
    metrics = scrape(client)
    name = "authbridge_scim_requests_total"
    assert metrics.value(name, source="okta", method="GET", outcome="success") == 1
    assert metrics.value(name, source="microsoft", method="GET", outcome="unauthorized") == 1
    assert metrics.value(name, source="microsoft", method="POST", outcome="rejected") == 1
    # A source nobody configured is one label value, whatever the path said.
    assert {labels["source"] for labels in metrics.labels(name)} <= {"okta", "microsoft", "other"}


def test_metrics_leave_the_public_app_when_the_management_port_is_set(
    app_factory: AppFactory,
) -> None:
    client = app_factory(SERVER__MANAGEMENT_PORT="9000")
    assert client.get("/metrics").status_code == 404
    assert client.get("/healthz").status_code == 200
    management = TestClient(create_management_app(client.app.state.services))
    assert "authbridge_build_info" in scrape(management).names()
    assert management.get("/readyz").json() == {"status": "ok", "storage": "ok"}


def test_request_ids_are_random_hex_and_never_repeat_across_refills() -> None:
    ids = observability._RequestIds(batch=4)
    seen = [ids.next() for _ in range(41)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in seen)
    assert len(set(seen)) == len(seen)


def test_a_forked_child_does_not_hand_out_its_parents_request_ids() -> None:
    """A child inherits the parent's unused bytes: it must read its own, or the two
    processes would log the same ids for different requests."""
    ids = observability._RequestIds(batch=64)
    ids.next()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.close(read)
        os.write(write, ids.next().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 32
    assert child != ids.next()


@pytest.mark.parametrize(
    "now_ns",
    [
        0,
        1_796_212_800_000_000_000,  # a whole second: isoformat writes no fraction
        1_796_212_800_000_000_999,  # under a microsecond past it: still none
        1_796_212_800_000_001_000,
        1_796_212_859_999_999_999,
        1_798_761_599_123_456_789,  # the last second of a year
        1_798_761_600_000_100_000,  # the first of the next
        4_102_444_800_500_000_000,
    ],
)
def test_the_stamp_is_timestampers_text(now_ns: int) -> None:
    """`_stamp` against TimeStamper(fmt="iso", utc=True)'s expression for the same instant
    (datetime keeps microseconds, truncated), twice: once formatting the second, once from
    the second it remembered."""
    instant = datetime.fromtimestamp(0, tz=UTC) + timedelta(microseconds=now_ns // 1000)
    expected = instant.isoformat().replace("+00:00", "Z")
    assert observability._stamp(now_ns) == expected
    assert observability._stamp(now_ns) == expected
    later = now_ns + 250_000_000
    instant = datetime.fromtimestamp(0, tz=UTC) + timedelta(microseconds=later // 1000)
    assert observability._stamp(later) == instant.isoformat().replace("+00:00", "Z")


def test_the_stamp_reads_the_clock_datetime_now_reads() -> None:
    before = datetime.now(tz=UTC)
    stamp = datetime.fromisoformat(observability._stamp(time.time_ns()).replace("Z", "+00:00"))
    after = datetime.now(tz=UTC)
    assert before <= stamp <= after


def test_remembered_field_text_is_per_name_and_never_a_secret() -> None:
    """A field's text is remembered per (name, text): the same text under a secret's name
    is still redacted, and a text with a secret in it is cut every time."""
    plain = {"outcome": "success", "actor_id": "etl-remembered"}
    for _ in range(2):
        assert observability._field_texts(plain) == [
            '"outcome": "success"',
            '"actor_id": "etl-remembered"',
        ]
        assert observability._field_texts({"client_secret": "etl-remembered"}) == [
            '"client_secret": "[redacted]"'
        ]
        assert observability._field_texts({"note": "/cb?code=abc"}) == [
            '"note": "/cb?code=[redacted]"'
        ]
    assert ("note", "/cb?code=abc") not in observability._FIELD_TEXTS
