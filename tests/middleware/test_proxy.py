"""JWKS fetches through an HTTPS proxy, as Astronomer's Houston is configured
(``GLOBAL_AGENT_HTTPS_PROXY``), or the curl variables (``HTTPS_PROXY``, ``NO_PROXY``).

End to end on 127.0.0.1: a TLS JWKS server with a certificate from a CA made here (trusted
through ``SSL_CERT_FILE``, as an operator with a private CA would), and a real CONNECT
proxy (RFC 9110 §9.3.6) that records what it was asked to reach. The JWKS host is
``jwks.idp.test``, a name that cannot resolve (RFC 2606 §2): a fetch that succeeds went
through the proxy.
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from authbridge.middleware import (
    IssuerTrust,
    KeySetUnavailable,
    TokenVerifier,
    UrllibFetcher,
    VerifierConfig,
)
from authbridge.middleware.proxies import bypassed, proxy_for
from tests.certificates import self_signed

from .forge import AUDIENCE, ISSUER, Signer, access_claims, at_header, compact
from .proxy_table import PROXY_TABLE

HOST = "jwks.idp.test"


def _certificate(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``jwks.idp.test`` and 127.0.0.1: its own CA."""
    return self_signed(tmp, HOST)


class TlsJwksServer:
    """HTTPS on 127.0.0.1 serving one JWKS document."""

    def __init__(self, document: dict[str, Any], cert: Path, key: Path) -> None:
        body = json.dumps(document).encode()
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class ConnectProxy:
    """A CONNECT-only forward proxy on 127.0.0.1 that sends every tunnel to one port."""

    def __init__(self, backend_port: int) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_CONNECT(self) -> None:
                outer.requests.append(self.path)
                upstream = socket.create_connection(("127.0.0.1", backend_port), timeout=5)
                self.send_response(200, "Connection established")
                self.end_headers()
                pipe(self.connection, upstream)

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                self.send_error(502)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes (bounded: 5 s of silence ends it)."""
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 5)
            if not ready:
                return
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    finally:
        b.close()


@pytest.fixture
def tls(tmp_path: Path, signers: dict[str, Signer], monkeypatch) -> Iterator[TlsJwksServer]:
    cert, key = _certificate(tmp_path)
    # The default HTTPS context loads the trust store named here (OpenSSL's variable).
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    server = TlsJwksServer({"keys": [signers["ES256"].jwk()]}, cert, key)
    yield server
    server.close()


@pytest.fixture
def proxy(tls: TlsJwksServer) -> Iterator[ConnectProxy]:
    server = ConnectProxy(tls.port)
    yield server
    server.close()


def verifier_for(url: str) -> TokenVerifier:
    """The default verifier: its own urllib fetcher, reading the process environment."""
    return TokenVerifier(VerifierConfig((IssuerTrust(ISSUER, (url,), (AUDIENCE,)),)))


def token(signer: Signer) -> str:
    return compact(at_header(signer), access_claims(exp=10**10, iat=0, nbf=0), signer)


@pytest.mark.parametrize("variable", ["GLOBAL_AGENT_HTTPS_PROXY", "HTTPS_PROXY", "https_proxy"])
def test_jwks_fetched_through_the_proxy(variable, tls, proxy, signers, monkeypatch) -> None:
    monkeypatch.setenv(variable, proxy.url)
    verifier = verifier_for(f"https://{HOST}:{tls.port}/keys")
    assert verifier.verify(token(signers["ES256"])).subject
    assert proxy.requests == [f"{HOST}:{tls.port}"]
    assert tls.hits == 1


def test_global_agent_variable_wins_over_https_proxy(tls, proxy, signers, monkeypatch) -> None:
    monkeypatch.setenv("GLOBAL_AGENT_HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # discard port: would fail
    verifier = verifier_for(f"https://{HOST}:{tls.port}/keys")
    assert verifier.verify(token(signers["ES256"])).subject
    assert proxy.requests == [f"{HOST}:{tls.port}"]


@pytest.mark.parametrize("variable", ["NO_PROXY", "GLOBAL_AGENT_NO_PROXY"])
def test_no_proxy_hosts_are_reached_directly(variable, tls, proxy, signers, monkeypatch) -> None:
    monkeypatch.setenv("GLOBAL_AGENT_HTTPS_PROXY", proxy.url)
    monkeypatch.setenv(variable, "localhost,127.0.0.0/8")
    verifier = verifier_for(f"https://127.0.0.1:{tls.port}/keys")
    assert verifier.verify(token(signers["ES256"])).subject
    assert proxy.requests == []
    assert tls.hits == 1


def test_unreachable_proxy_fails_closed(tls, signers, monkeypatch) -> None:
    """No silent fallback to a direct connection when the configured proxy is down."""
    monkeypatch.setenv("GLOBAL_AGENT_HTTPS_PROXY", "http://127.0.0.1:9")
    verifier = verifier_for(f"https://127.0.0.1:{tls.port}/keys")
    with pytest.raises(KeySetUnavailable):
        verifier.verify(token(signers["ES256"]))
    assert tls.hits == 0


def test_explicit_environment_overrides_the_process_one(tls, proxy, signers) -> None:
    fetcher = UrllibFetcher(environ={"GLOBAL_AGENT_HTTPS_PROXY": proxy.url})
    assert json.loads(fetcher(f"https://{HOST}:{tls.port}/keys").body)["keys"]
    assert proxy.requests == [f"{HOST}:{tls.port}"]


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [pytest.param(url, env, expected, id=name) for name, url, env, expected in PROXY_TABLE],
)
def test_proxy_choice(url: str, env: dict[str, str], expected: str | None) -> None:
    """The shared table (``proxy_table.py``), through the rules and the JWKS fetcher."""
    assert proxy_for(url, env) == expected
    assert UrllibFetcher(environ=env).proxy(url) == expected


def test_whitespace_proxy_means_direct_for_a_jwks_fetch(jwks_server, signers) -> None:
    """``HTTP_PROXY="  "`` is unset: the fetch goes direct and succeeds."""
    fetcher = UrllibFetcher(environ={"HTTP_PROXY": "  ", "HTTPS_PROXY": "  "})
    assert json.loads(fetcher(jwks_server.url).body)["keys"]
    assert jwks_server.hits == 1


def test_no_proxy_entries_never_match_everything_by_accident() -> None:
    assert not bypassed("idp.example", 443, ",, ,")
    assert not bypassed("idp.example", 443, ".")
    assert not bypassed("evil-example", 443, "example")
