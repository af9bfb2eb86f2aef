"""Loopback HTTP servers standing in for an IdP's static documents, and token forging.

The servers are real sockets on 127.0.0.1: authbridge's own HTTP client is never mocked.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.web.conftest import app_factory, client  # noqa: F401 (the app on a test client)

Route = Callable[["Handler"], tuple[int, Any]]


@dataclass
class StaticIdp:
    """A tiny IdP on loopback: JSON documents by path, and a log of the paths asked for."""

    server: ThreadingHTTPServer
    routes: dict[str, Any] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    # Extra response headers by path (Cache-Control, ...).
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self, path: str) -> int:
        return sum(1 for hit in self.hits if hit == path)


class Handler(BaseHTTPRequestHandler):
    idp: StaticIdp

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        self.idp.hits.append(path)
        route = self.idp.routes.get(path)
        if route is None:
            status, body = 404, {"error": "not_found"}
        elif callable(route):
            status, body = route(self)
        else:
            status, body = 200, route
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in self.idp.headers.get(path, {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer  # noqa: N815 (http.server names)
    do_POST = _answer  # noqa: N815


@pytest.fixture
def static_idp() -> Iterator[StaticIdp]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    idp = StaticIdp(server)
    handler = type("BoundHandler", (Handler,), {"idp": idp})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield idp
    server.shutdown()
    server.server_close()
