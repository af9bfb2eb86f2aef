"""`authbridge serve` as a real process (web/serving.py): the management listener, and a
graceful shutdown on SIGTERM (stop accepting, finish what is in flight, exit 0).

The slow in-flight request is a real one: a login at an upstream OIDC IdP whose discovery
endpoint (a loopback HTTP server in this test) holds its answer until the test releases it.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import AuthbridgeServer, free_port

# Bounds on waits for a process on a loaded machine, not assertions about speed.
START_BOUND = 120.0
GRACE = 30


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., AuthbridgeServer]]:
    """`authbridge serve` with a management listener on loopback, stopped at the end."""
    started: list[AuthbridgeServer] = []

    def start(**env: str) -> AuthbridgeServer:
        server = AuthbridgeServer(
            tmp_path,
            SERVER__MANAGEMENT_PORT=str(free_port()),
            SERVER__SHUTDOWN_GRACE_PERIOD=str(GRACE),
            **env,
        )
        started.append(server)
        return server.start(timeout=START_BOUND)

    yield start
    for server in started:
        server.stop()


def _management(server: AuthbridgeServer) -> str:
    return f"http://127.0.0.1:{server.env['SERVER__MANAGEMENT_PORT']}"


def test_management_listener_serves_metrics_and_health_off_the_public_port(serve) -> None:
    served = serve(SERVER__MANAGEMENT_HOST="127.0.0.1")
    management = _management(served)
    # /metrics has left the public port; health stays on both (docs/architecture.md).
    assert httpx.get(served.url + "/metrics").status_code == 404
    assert httpx.get(served.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(management + "/readyz").json() == {"status": "ok", "storage": "ok"}
    scraped = httpx.get(management + "/metrics")
    assert scraped.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    (info,) = families["authbridge_build_info"].samples
    assert info.labels["python"] == ".".join(map(str, sys.version_info[:3]))
    # The process collector (prometheus_client reads /proc) and the pool of storage.
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    assert families["authbridge_db_pool_max"].samples[0].value == 20  # poolSize 10 + overflow
    # HEAD on health routes: 200, headers, no body (RFC 9110 §9.3.2).
    for base in (served.url, management):
        for path in ("/healthz", "/readyz"):
            head = httpx.head(base + path)
            assert head.status_code == 200 and head.content == b""
    served.process.send_signal(signal.SIGTERM)
    assert served.process.wait(timeout=GRACE) == 0


class _SlowDiscovery(http.server.BaseHTTPRequestHandler):
    """An OIDC IdP whose discovery document comes when the test says so."""

    arrived: threading.Event
    release: threading.Event

    def do_GET(self) -> None:
        type(self).arrived.set()
        type(self).release.wait(GRACE)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        body = json.dumps(
            {
                "issuer": base,
                "authorization_endpoint": base + "/authorize",
                "token_endpoint": base + "/token",
                "jwks_uri": base + "/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0(serve) -> None:
    handler = type(
        "Handler", (_SlowDiscovery,), {"arrived": threading.Event(), "release": threading.Event()}
    )
    idp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    try:
        idp_url = f"http://127.0.0.1:{idp.server_address[1]}"
        served = serve(
            AUTH__OPENID_CONNECT__CUSTOM__ENABLED="true",
            AUTH__OPENID_CONNECT__CUSTOM__CLIENT_ID="authbridge",
            AUTH__OPENID_CONNECT__CUSTOM__CLIENT_SECRET="upstream-secret",
            AUTH__OPENID_CONNECT__CUSTOM__DISCOVERY_URL=idp_url,
        )
        answers: list[httpx.Response | BaseException] = []

        def login() -> None:
            try:
                answers.append(
                    httpx.get(served.url + "/v1/oauth/start?provider=custom", timeout=GRACE * 2)
                )
            except BaseException as exc:  # recorded, asserted below
                answers.append(exc)

        in_flight = threading.Thread(target=login)
        in_flight.start()
        assert handler.arrived.wait(START_BOUND), "the login never reached the IdP"

        served.process.send_signal(signal.SIGTERM)
        # Stop accepting: the public socket is closed while the login is still in flight.
        served.wait_for(lambda: _refused(served.port), GRACE, "refusing new connections")
        assert served.process.poll() is None and not answers
        # The management listener outlives the drain and says the replica is going.
        draining = httpx.get(_management(served) + "/readyz")
        assert draining.status_code == 503 and draining.json()["status"] == "draining"

        handler.release.set()
        in_flight.join(GRACE)
        (answer,) = answers
        assert isinstance(answer, httpx.Response), answer
        # The login completed: redirected to the IdP's authorization endpoint.
        assert answer.status_code in (302, 303)
        assert answer.headers["location"].startswith(idp_url + "/authorize?")
        assert served.process.wait(timeout=GRACE) == 0
    finally:
        handler.release.set()
        idp.shutdown()


def test_one_process_serves_on_uvloop_as_the_workers_do(monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncio's own loop cost one process about 14% more CPU per token grant than uvloop,
    # which uvicorn starts its workers on (bench/README.md "Stop 28").
    pytest.importorskip("uvloop")
    from authbridge.web import serving

    loops: list[str] = []

    async def serve(_settings: object, _services: object) -> None:
        loops.append(type(asyncio.get_running_loop()).__module__)

    monkeypatch.setattr(serving, "serve", serve)
    uvicorn_loggers = {name: logging.getLogger(name).handlers[:] for name in _UVICORN_LOGGERS}
    serving.run(None, None)  # type: ignore[arg-type]
    assert loops == ["uvloop"]
    # Choosing the loop configured no logging of uvicorn's: its plain-text lines would mix
    # into the JSON log (`log_config` is None wherever we run uvicorn).
    assert {name: logging.getLogger(name).handlers for name in _UVICORN_LOGGERS} == (
        uvicorn_loggers
    )


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
