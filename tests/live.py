"""The app served by uvicorn on a loopback port, in a thread, for tests that need a real HTTP
server (scim2-tester's conformance run, OAuth clients over the network, concurrency)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from authbridge.config import Settings
from authbridge.web.app import create_app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(settings: Settings, port: int | None = None) -> Iterator[str]:
    """Serve the app on 127.0.0.1 (a free port unless given); yields its base URL and stops
    it afterwards. The port may be chosen first when the settings must name it (issuer)."""
    with serve(create_app(settings), port) as url:
        yield url


@contextmanager
def serve(app: FastAPI, port: int | None = None) -> Iterator[str]:
    """Serve an app already built (so the test can reach its services, e.g. to mint tokens)
    on 127.0.0.1, its lifespan run; yields its base URL and stops it afterwards."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
