"""A 96 MiB POST does not grow the real server (`authbridge serve`, uvicorn): the body is
refused on its declared length before it is read, or cut off while it streams.

Peak memory is read from /proc (VmHWM, the high-water mark of the resident set), so a body
buffered even for an instant would show. Run with `-s` to see the figures.
"""

from __future__ import annotations

import select
import socket
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import AuthbridgeServer

MIB = 1024 * 1024
BODY = 96 * MIB
# Python's own allocator noise, the log line, the 413: far below one MiB, far below 96.
ALLOWED_GROWTH_KIB = 16 * 1024

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _post(
    server: AuthbridgeServer, headers: str, body_chunks: int, chunked: bool
) -> tuple[str, int]:
    """Send a POST to /oauth2/token the way a hostile client would (headers first, then up to
    96 MiB, stopping once the server answers or hangs up); the status line and bytes sent."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sent = 0
    try:
        sock.sendall(
            (
                f"POST /oauth2/token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n{headers}\r\n"
            ).encode()
        )
        chunk = b"x" * MIB
        framed = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
        for _ in range(body_chunks):
            readable, _, _ = select.select([sock], [], [], 0.02)
            if readable:
                break  # the server answered: a client stops sending here
            try:
                sock.sendall(framed)
            except OSError:
                break  # the server hung up on the rest of the body
            sent += len(chunk)
        try:
            answer = sock.recv(4096).decode("latin-1")
        except OSError as exc:
            answer = f"reset ({type(exc).__name__})"
    finally:
        sock.close()
    return answer.split("\r\n", 1)[0], sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_96_mib_post_to_the_token_endpoint_does_not_grow_the_server(
    server: AuthbridgeServer, chunked: bool
) -> None:
    assert server.process is not None
    pid = server.process.pid
    # Warm up: the first token request imports and caches what any request needs.
    httpx.post(server.url + "/oauth2/token", data={"grant_type": "password"}, timeout=10)
    before = _memory_kib(pid)
    headers = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BODY}\r\n"
    status, sent = _post(server, headers, BODY // MIB, chunked)
    after = _memory_kib(pid)
    growth = after["VmHWM"] - before["VmHWM"]
    print(
        f"\n[{'chunked' if chunked else 'content-length'}] {status!r}; client sent "
        f"{sent // 1024} KiB of {BODY // 1024}; server RSS {before['VmRSS']} -> "
        f"{after['VmRSS']} KiB, peak {before['VmHWM']} -> {after['VmHWM']} KiB "
        f"(+{growth} KiB)"
    )
    assert status.startswith(("HTTP/1.1 413", "reset")), status
    if not chunked:
        assert status.startswith("HTTP/1.1 413")  # answered on the header alone
    assert sent < 32 * MIB  # the server stopped taking the body long before 96 MiB
    assert growth < ALLOWED_GROWTH_KIB
    # The server is still well and answers the next request.
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
