"""`authbridge serve` as a real process (web/serving.py): the management listener, and a
graceful shutdown on SIGTERM (stop accepting, finish what is in flight, exit 0).

The slow in-flight request is a real one: a login at an upstream OIDC IdP whose discovery
endpoint (a loopback HTTP server in this test) holds its answer until the test releases it.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import free_port

# Bounds on waits for a process on a loaded machine, not assertions about speed.
START_BOUND = 120.0
GRACE = 30


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    public: str
    management: str | None
    port: int


def _wait_until(check: object, bound: float, what: str) -> None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {bound} s")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(management: bool = True, **env: str) -> Served:
        port = free_port()
        mport = free_port() if management else None
        environ = {
            **os.environ,
            "DATABASE__URL": f"sqlite:///{tmp_path / 'authbridge.db'}",
            "SERVER__HOST": "127.0.0.1",
            "SERVER__PORT": str(port),
            "SERVER__SHUTDOWN_GRACE_PERIOD": str(GRACE),
            **env,
        }
        if mport is not None:
            environ["SERVER__MANAGEMENT_PORT"] = str(mport)
        process = subprocess.Popen(
            [sys.executable, "-m", "authbridge", "serve"],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "stderr.txt").open("wb"),
            cwd=tmp_path,
        )
        started.append(process)
        served = Served(
            process,
            f"http://127.0.0.1:{port}",
            f"http://127.0.0.1:{mport}" if mport else None,
            port,
        )
        ready = f"{served.management or served.public}/readyz"
        _wait_until(lambda: process.poll() is not None or _answers(ready), START_BOUND, "readiness")
        assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
        return served

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_management_listener_serves_metrics_and_health_off_the_public_port(serve) -> None:
    served = serve()
    # /metrics has left the public port; health stays on both (docs/architecture.md).
    assert httpx.get(served.public + "/metrics").status_code == 404
    assert httpx.get(served.public + "/healthz").json() == {"status": "ok"}
    assert httpx.get(served.management + "/readyz").json() == {"status": "ok", "storage": "ok"}
    scraped = httpx.get(served.management + "/metrics")
    assert scraped.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    (info,) = families["authbridge_build_info"].samples
    assert info.labels["python"] == ".".join(map(str, sys.version_info[:3]))
    # The process collector (prometheus_client reads /proc) and the pool of storage.
    assert families["process_resident_memory_bytes"].samples[0].value > 0
    assert families["authbridge_db_pool_max"].samples[0].value == 20  # poolSize 10 + overflow
    # HEAD on health routes: 200, headers, no body (RFC 9110 §9.3.2).
    for base in (served.public, served.management):
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
                    httpx.get(served.public + "/v1/oauth/start?provider=custom", timeout=GRACE * 2)
                )
            except BaseException as exc:  # recorded, asserted below
                answers.append(exc)

        in_flight = threading.Thread(target=login)
        in_flight.start()
        assert handler.arrived.wait(START_BOUND), "the login never reached the IdP"

        served.process.send_signal(signal.SIGTERM)
        # Stop accepting: the public socket is closed while the login is still in flight.
        _wait_until(lambda: _refused(served.port), GRACE, "refusing new connections")
        assert served.process.poll() is None and not answers
        # The management listener outlives the drain and says the replica is going.
        draining = httpx.get(served.management + "/readyz")
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
