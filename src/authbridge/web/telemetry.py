"""OpenTelemetry traces: off by default, exported over OTLP/HTTP when configured.

On when `telemetry.otlpEndpoint` is set (traces go to `<endpoint>/v1/traces`) or the standard
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` is (read by the
exporter as the OpenTelemetry specification says); `OTEL_SDK_DISABLED=true` turns it off.
Off, it costs nothing: no OpenTelemetry SDK, exporter or instrumentation module is imported
(this module imports them inside `Tracing` only), no middleware or hook is installed, and
no span is recorded (FastAPI itself imports the OpenTelemetry API, whose global tracer stays
the no-op one: authbridge never installs a global provider).

On, one TracerProvider (built here, never installed as the process-wide global, so tests and
embedders keep theirs) feeds three instrumentations: FastAPI (a server span per request,
probes and /metrics excluded), httpx (a client span per IdP call, on the one outbound client
of connectors/http.py) and SQLAlchemy (a span per statement, applied inside storage/ by
`Database.trace`). The request id (X-Request-ID) is set on the server span as
`authbridge.request_id`, so a trace is found from a log line and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from authbridge import __version__
from authbridge.config.model import Settings

if TYPE_CHECKING:
    from fastapi.telemetry import TelemetryConfig

__all__ = ["NO_NATIVE_TELEMETRY", "REQUEST_ID_ATTRIBUTE", "Tracing", "traces_endpoint"]

# FastAPI's own OpenTelemetry hooks report to the process-wide providers, which authbridge
# never installs (see above): they would record nothing, yet ask on every request whether a
# global provider has appeared since (environment lookups included). Off in both apps; the
# tracing here is the one way traces are made.
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

REQUEST_ID_ATTRIBUTE = "authbridge.request_id"
# Probes and scrapes every few seconds would be most of the traces and none of the insight.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def traces_endpoint(settings: Settings, environ: Mapping[str, str]) -> str | None:
    """Where traces go, or None when tracing is off: the config key (a base URL, as
    OTEL_EXPORTER_OTLP_ENDPOINT), else the standard variables, unless OTEL_SDK_DISABLED."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    configured = settings.telemetry.otlp_endpoint
    if configured:
        return configured.rstrip("/") + "/v1/traces"
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces  # the full URL, per the specification
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


def _requests_only() -> Any:
    """A trace starts at a request: a span with no parent is kept only if it is a server
    span. Statements and IdP calls outside any traced request (readiness pings, the
    housekeeping rounds, login-page discovery probes in their own threads) would otherwise
    each be a trace of one span, every few seconds, burying the requests."""
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        Sampler,
        SamplingResult,
    )
    from opentelemetry.trace import SpanKind

    class RequestsOnly(Sampler):
        def should_sample(  # type: ignore[override]
            self, parent_context: Any, trace_id: int, name: str, kind: Any = None, **rest: Any
        ) -> SamplingResult:
            decide = ALWAYS_ON if kind == SpanKind.SERVER else ALWAYS_OFF
            return decide.should_sample(parent_context, trace_id, name, kind, **rest)

        def get_description(self) -> str:
            return "RequestsOnly"

    return ParentBased(root=RequestsOnly())


class Tracing:
    """The tracer provider and the instrumentations that use it."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider  # opentelemetry.sdk.trace.TracerProvider

    @classmethod
    def start(
        cls, settings: Settings, environ: Mapping[str, str], *, exporter: Any = None
    ) -> Tracing | None:
        """Tracing as configured (None when off). `exporter` replaces the OTLP one and is
        flushed span by span (tests give an in-memory exporter)."""
        endpoint = traces_endpoint(settings, environ)
        if exporter is None and endpoint is None:
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        resource = Resource.create(
            {"service.name": settings.telemetry.service_name, "service.version": __version__}
        )
        provider = TracerProvider(resource=resource, sampler=_requests_only())
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Batched off the request path; the exporter's own timeout and retries apply.
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        return cls(provider)

    def instrument_app(self, app: Any) -> None:
        """A server span per request (FastAPI instrumentation), outermost in the app."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=EXCLUDED_URLS,
            # The ASGI receive/send spans double every request's spans and say nothing
            # the server span does not.
            exclude_spans=["receive", "send"],
        )

    def instrument_client(self, client: Any) -> None:
        """A client span per call of this httpx client (connectors/http.py's)."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=self.provider)

    def tag_request(self, request_id: str) -> None:
        """The request id on the current (server) span."""
        from opentelemetry import trace

        trace.get_current_span().set_attribute(REQUEST_ID_ATTRIBUTE, request_id)

    def shutdown(self) -> None:
        """Export what is buffered, then stop (at shutdown)."""
        self.provider.shutdown()
