"""`authbridge serve` in a process of its own on loopback, for the benchmarks: the load
generator must not share the server's interpreter lock, as it does not in a deployment."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["free_port", "postgres_database", "start_server"]

# Settings of the caller's environment that must not leak into the measured server.
_OURS = ("SERVER__", "DATABASE__", "AUTH__", "LOGGING__", "TOKENS__", "SCIM__")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).parent / "authbridge"
    if script.exists():
        return [str(script)]
    return [shutil.which("authbridge") or "authbridge"]


def start_server(workdir: Path, **settings: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start the server with the default configuration plus `settings` (environment names,
    `DATABASE__URL=...`); return it once /readyz answers 200."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(
        SERVER__HOST="127.0.0.1",
        SERVER__PORT=str(port),
        SERVER__ISSUER=f"http://127.0.0.1:{port}",
        # One process (the figures are per process), whatever the CPUs: `auto` is 2 here.
        SERVER__WORKERS="1",
        AUTHBRIDGE_SECRETS_DIR=str(workdir),
    )
    env.update(settings)
    process = subprocess.Popen(
        [*_command(), "serve"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"authbridge serve exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in sock.recv(200):
                    return process, port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("authbridge serve did not become ready")


def postgres_database(base_url: str) -> tuple[str, Callable[[], None]]:
    """A throwaway database on the PostgreSQL server at `base_url`: its URL, and the
    function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from authbridge.storage.database import engine_url

    name = f"authbridge_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(engine_url(base_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(engine_url(base_url)).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()

    return url, drop


def asgi_scope(
    path: str, method: str = "GET", headers: tuple[tuple[bytes, bytes], ...] = ()
) -> dict[str, Any]:
    """An HTTP/1.1 request scope for calling an ASGI app in process, as uvicorn builds one."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


def token_scope(authorization: str, body: bytes) -> dict[str, Any]:
    """A form POST to the token endpoint with HTTP Basic client authentication."""
    return asgi_scope(
        "/oauth2/token",
        "POST",
        (
            (b"authorization", authorization.encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ),
    )
