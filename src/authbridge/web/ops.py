"""Liveness, readiness and Prometheus metrics for orchestrators and monitoring.

`health_router` (/healthz, /readyz; GET and HEAD) is served on the public port and on the
management listener when there is one; `metrics_router` (/metrics) on the management
listener when `server.managementPort` is set, else on the public port.
"""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import JSONResponse, Response

from authbridge.web.dependencies import ServicesDep

__all__ = ["health_router", "metrics_router"]

health_router = APIRouter()
metrics_router = APIRouter()


# HEAD as well as GET (RFC 9110 §9.3.2): load balancers and uptime checkers probe with HEAD;
# the server sends the headers of the GET answer and no body.
@health_router.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
async def healthz() -> Response:
    """Live: the process answers. Never depends on storage, and runs on the event loop
    (async), not in the worker-thread pool: while a database outage holds every worker,
    the orchestrator must still see a live process, or it restarts healthy replicas."""
    return JSONResponse({"status": "ok"})


@health_router.api_route("/readyz", methods=["GET", "HEAD"], include_in_schema=False)
def readyz(services: ServicesDep) -> Response:
    """Ready: storage answers a query now, and the process is not shutting down (after
    SIGTERM it finishes its in-flight requests and must get no new ones). Redis, when it
    holds the counters, is reported too: `"status": "degraded"` names it while it does not
    answer, but the answer stays 200. Every replica shares the one Redis, so taking them all
    out of rotation would not route around it; it would only add JWKS, discovery, refresh
    and SCIM reads (which need no counter) to the outage. What needs a counter answers 503
    by itself."""
    if services.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    try:
        ready = services.ready()
        ready.storage.db.ping()
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "storage": type(exc).__name__}, status_code=503
        )
    report = {"status": "ok", "storage": "ok"}
    if ready.counters.ping is not None:
        try:
            ready.counters.ping()
            report["redis"] = "ok"
        except Exception as exc:
            report["status"] = "degraded"
            report["redis"] = str(exc) or type(exc).__name__
    return JSONResponse(report)


@metrics_router.get("/metrics", include_in_schema=False)
def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
