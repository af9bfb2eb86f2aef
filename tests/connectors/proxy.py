"""A tiny HTTP proxy on loopback: absolute-URI forwarding (RFC 9112 §3.2.2) and CONNECT
tunnels (RFC 9110 §9.3.6). It records every target it was asked for."""

from __future__ import annotations

import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["ForwardProxy"]


class _Handler(BaseHTTPRequestHandler):
    proxy: ForwardProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        self.proxy.seen.append(f"CONNECT {self.path}")
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=5)
        except OSError:
            self.send_error(502, "upstream unreachable")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        sockets = [self.connection, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], 5)
            if not readable:
                break
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    upstream.close()
                    return
                (upstream if sock is self.connection else self.connection).sendall(data)

    def _forward(self) -> None:
        self.proxy.seen.append(f"{self.command} {self.path}")
        if not urlsplit(self.path).scheme:
            self.send_error(400, "absolute URI required")
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            k: v
            for k, v in self.headers.items()
            if k.lower() not in ("host", "proxy-connection", "connection", "content-length")
        }
        with httpx.Client(trust_env=False) as client:
            upstream = client.request(self.command, self.path, content=body, headers=headers)
        self.send_response(upstream.status_code)
        for key, value in upstream.headers.items():
            if key.lower() not in (
                "transfer-encoding",
                "connection",
                "content-length",
                "content-encoding",
            ):
                self.send_header(key, value)
        self.send_header("content-length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    do_GET = _forward  # noqa: N815
    do_POST = _forward  # noqa: N815


class ForwardProxy:
    def __init__(self) -> None:
        self.seen: list[str] = []
        handler = type("BoundProxyHandler", (_Handler,), {"proxy": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> ForwardProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
