from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from authbridge.middleware import (
    AUTHBRIDGE_JWKS_PATH,
    IssuerTrust,
    JwksPolicy,
    TokenVerifier,
    VerifierConfig,
)

from .forge import AUDIENCE, ISSUER, NOW, Signer, make_signers


class FakeClock:
    """Injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving a mutable JWKS document."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = {"keys": []}
        self.status = 200
        self.cache_control: str | None = None
        self.hits = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer._lock:
                    outer.hits += 1
                outer.gate.wait(10)
                body = json.dumps(outer.document).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                if outer.cache_control:
                    self.send_header("Cache-Control", outer.cache_control)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{AUTHBRIDGE_JWKS_PATH}"

    def close(self) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def signers() -> dict[str, Signer]:
    return make_signers()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwks_server(signers: dict[str, Signer]) -> Iterator[JwksServer]:
    server = JwksServer()
    server.document = {"keys": [s.jwk() for s in signers.values()]}
    yield server
    server.close()


def make_verifier(
    url: str,
    clock: FakeClock,
    policy: JwksPolicy | None = None,
    **trust: Any,
) -> TokenVerifier:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "jwks_urls": (url,),
        "audiences": (AUDIENCE,),
        "algorithms": ("ES256", "RS256", "EdDSA"),
        "clock_tolerance": 0,
    }
    options.update(trust)
    config = VerifierConfig((IssuerTrust(**options),), jwks=policy or JwksPolicy())
    return TokenVerifier(config, clock=clock)


@pytest.fixture
def verifier(jwks_server: JwksServer, clock: FakeClock) -> TokenVerifier:
    return make_verifier(jwks_server.url, clock)
