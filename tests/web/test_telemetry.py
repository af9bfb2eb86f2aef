"""OpenTelemetry traces (web/telemetry.py): off by default and then absent, on when
configured; spans of the request (FastAPI), its statements (SQLAlchemy) and its IdP calls
(httpx) in one trace carrying the request id; exported over OTLP/HTTP to a real receiver
that parses the protobuf (opentelemetry-proto), as a collector does."""

from __future__ import annotations

import gzip
import http.server
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from authbridge.config import load_settings
from authbridge.web.app import create_app
from authbridge.web.services import Services
from authbridge.web.telemetry import REQUEST_ID_ATTRIBUTE, Tracing, traces_endpoint
from tests.conftest import make_settings, started_clients
from tests.connectors.conftest import StaticIdp, static_idp  # noqa: F401 (a loopback IdP)
from tests.web.test_pages import PASSWORD, csrf

REQUEST_ID = "trace-me-0123"


def test_off_by_default_and_nothing_of_the_sdk_is_loaded(tmp_path) -> None:
    # A fresh interpreter: what the app imports when no endpoint is configured.
    script = (
        "import sys\n"
        "from authbridge.config import load_settings\n"
        "from authbridge.web.app import create_app\n"
        f"app = create_app(load_settings(None, {{'DATABASE__URL': 'sqlite:///{tmp_path}/a.db'}}))\n"
        "assert app.state.services.tracing is None\n"
        "loaded = [m for m in sys.modules if m.startswith(('opentelemetry.sdk', "
        "'opentelemetry.instrumentation', 'opentelemetry.exporter'))]\n"
        "print(loaded)\n"
    )
    env = {"PATH": "/usr/bin:/bin"}  # no OTEL_* variable from the test runner's environment
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("key", "environ", "expected"),
    [
        (None, {}, None),
        ("http://collector:4318/", {}, "http://collector:4318/v1/traces"),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces"),
        # The signal-specific variable is the full URL (OTLP exporter specification).
        (
            None,
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:4318/custom",
            },
            "http://t:4318/custom",
        ),
        ("http://collector:4318", {"OTEL_SDK_DISABLED": "true"}, None),
    ],
)
def test_where_traces_go(key: str | None, environ: dict[str, str], expected: str | None) -> None:
    env = {"TELEMETRY__OTLP_ENDPOINT": key} if key else {}
    assert traces_endpoint(load_settings(None, env), environ) == expected


@pytest.fixture
def traced(
    sqlite_url: str,
    static_idp: StaticIdp,  # noqa: F811
) -> Iterator[tuple[TestClient, InMemorySpanExporter]]:
    static_idp.routes["/.well-known/openid-configuration"] = lambda _h: (503, {"down": True})
    settings = make_settings(
        sqlite_url,
        AUTH__OPENID_CONNECT__CORP__ENABLED="true",
        AUTH__OPENID_CONNECT__CORP__CLIENT_ID="authbridge",
        AUTH__OPENID_CONNECT__CORP__CLIENT_SECRET="s",
        AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL=static_idp.url,
    )
    exporter = InMemorySpanExporter()
    services = Services(settings, tracing=Tracing.start(settings, {}, exporter=exporter))
    with started_clients() as start:
        yield start(create_app(settings, services=services)), exporter


def _server_span(spans: tuple[ReadableSpan, ...], route: str) -> ReadableSpan:
    (span,) = [
        s
        for s in spans
        if s.kind == SpanKind.SERVER and (s.attributes or {}).get("http.route") == route
    ]
    return span


def test_a_request_is_one_trace_with_its_statements_and_its_request_id(traced) -> None:
    client, exporter = traced
    exporter.clear()
    assert client.get("/readyz").status_code == 200  # a probe (and its ping): not traced
    form = client.get("/signup")
    exporter.clear()
    signed_up = client.post(
        "/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "name": "Ada"}
        | {"csrf_token": csrf(form.text)},
        headers={"x-request-id": REQUEST_ID},
        follow_redirects=False,
    )
    assert signed_up.status_code == 303
    spans = exporter.get_finished_spans()
    assert not [s for s in spans if (s.attributes or {}).get("http.route") == "/readyz"]
    server = _server_span(spans, "/signup")
    assert server.attributes[REQUEST_ID_ATTRIBUTE] == REQUEST_ID
    statements = [
        s for s in spans if s.kind == SpanKind.CLIENT and "db.system" in (s.attributes or {})
    ]
    # The sign-up writes the account and its session: those statements are the request's.
    assert any("INSERT" in str(s.attributes.get("db.statement", s.name)) for s in statements)
    assert {s.context.trace_id for s in spans} == {server.context.trace_id}
    assert all(s.attributes["db.system"] == "sqlite" for s in statements)


def test_calls_to_an_idp_are_client_spans_of_the_request(traced, static_idp: StaticIdp) -> None:  # noqa: F811
    client, exporter = traced
    exporter.clear()
    client.get(
        "/v1/oauth/start?provider=corp",
        headers={"x-request-id": REQUEST_ID},
        follow_redirects=False,
    )
    spans = exporter.get_finished_spans()
    server = _server_span(spans, "/v1/oauth/start")
    assert server.attributes[REQUEST_ID_ATTRIBUTE] == REQUEST_ID
    (call,) = [
        s
        for s in spans
        if s.kind == SpanKind.CLIENT
        and static_idp.url
        in str((s.attributes or {}).get("url.full", (s.attributes or {}).get("http.url")))
    ]
    assert call.context.trace_id == server.context.trace_id
    status = (call.attributes or {}).get(
        "http.response.status_code", (call.attributes or {}).get("http.status_code")
    )
    assert status == 503


class _Collector(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver (protobuf encoding, OTLP specification): POST /v1/traces."""

    received: list[ExportTraceServiceRequest]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        encoding = self.headers.get("content-encoding")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        assert self.path == "/v1/traces"
        assert self.headers["content-type"] == "application/x-protobuf"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).received.append(request)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def test_spans_reach_an_otlp_http_receiver_with_the_request_id(sqlite_url: str) -> None:
    handler = type("Handler", (_Collector,), {"received": []})
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
        settings = make_settings(sqlite_url, TELEMETRY__OTLP_ENDPOINT=endpoint)
        with started_clients() as start:
            client = start(create_app(settings))
            assert client.app.state.services.tracing is not None
            assert client.get("/login", headers={"x-request-id": REQUEST_ID}).status_code == 200
        # The app's shutdown exported what the batch processor held.
        spans = [
            (resource.resource, span)
            for request in handler.received
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]
        tagged = [
            (resource, span)
            for resource, span in spans
            if any(
                a.key == REQUEST_ID_ATTRIBUTE and a.value.string_value == REQUEST_ID
                for a in span.attributes
            )
        ]
        assert len(tagged) == 1
        resource, span = tagged[0]
        assert span.kind == span.SPAN_KIND_SERVER
        service = {a.key: a.value.string_value for a in resource.attributes}
        assert service["service.name"] == "authbridge"
    finally:
        receiver.shutdown()
