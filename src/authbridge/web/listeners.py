"""The public listening sockets of `serve --workers N`: one per worker on Linux, bound with
SO_REUSEPORT to the one address, so the kernel spreads the connections over the workers.

With one shared socket every worker waits on it, and the first one awake accepts what is
queued: a burst of connections (a client's pool opening, a load balancer reconnecting)
lands mostly on one worker, and keep-alive keeps it there while the other idles. Measured
with 32 keep-alive clients and 2 workers: `uvicorn --workers 2` put all 32 on one worker in
2 runs of 4 (client_credentials then at 4,300 grants/s instead of 7,500); `serve`'s shared
socket split them 6/26 to 13/19, one socket per worker 13/19 to 16/16, with about 5% less
CPU per grant (bench/README.md "Stop 28"). A Linux reuseport group hands each new
connection to one of its sockets by a hash of the connection's addresses and ports: spread
evenly in expectation, whatever the workers' timing (`man 7 socket`, SO_REUSEPORT).

The price, as for nginx's `reuseport` and Envoy's listeners: a socket's share of new
connections goes to it whether or not its worker is accepting. A worker that dies has its
share wait in its socket's backlog until the replacement listens (the supervisor looks
every half second; a new worker starts in 1-3 s, longer on a loaded machine), where the
shared socket let the other workers take them at once; one that hangs keeps them waiting
until its missed pings get it replaced (`HEALTHCHECK_TIMEOUT`, web/workers.py). None is
refused or lost (tests/e2e/test_workers.py records the wait as an expected failure).

Each socket is bound in the parent and held open there, as the shared one was: a worker
that dies leaves its socket listening, so the connections the kernel hands it wait in its
backlog for the replacement (which inherits that socket) instead of being refused; SIGHUP's
replacement serves the same socket beside the worker it replaces. They listen from the
moment they are bound: a connection that arrives while the parent does the once-per-start
work or the workers start waits in the backlog.

A reuseport group admits any later socket of the same user that sets the option: a second
`serve` started by mistake on the port would join it and take a share of the connections
instead of failing. So the address is tried first as one shared socket binds it (without
SO_REUSEPORT): that fails, as on a busy port, wherever a listening socket's address overlaps
(another spelling of it: 0.0.0.0 or :: beside 127.0.0.1, a specific address beside a
wildcard), and something answering there stops `serve` too. Listening at once closes the
window of a server still starting (bound, its workers not yet listening: a socket joins a
group when it listens, not when it binds); two `serve` started in the same instant on one
port can still both bind.

Elsewhere (SO_REUSEPORT on the BSDs and macOS does not spread connections), with one worker,
or on a Unix socket or inherited descriptor: one shared socket, uvicorn's own binding.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import sys

import structlog
import uvicorn
from uvicorn.config import STARTUP_FAILURE

__all__ = ["SPREADS", "listen", "worker_sockets"]

log = structlog.get_logger("authbridge")

# Whether a reuseport group spreads connections over its sockets (Linux 3.9 and later).
SPREADS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
PROBE_TIMEOUT = 0.5  # seconds: a listener on this machine answers at once


def listen(config: uvicorn.Config) -> socket.socket:
    """The one listening socket of `config`'s address (uvicorn's own binding: SO_REUSEADDR,
    IPv6 literals, inheritable by the workers); a busy port stops `serve` naming it."""
    try:
        return config.bind_socket()
    except SystemExit:  # uvicorn printed the OS error and exits STARTUP_FAILURE
        log.error("cannot_listen", host=config.host, port=config.port)
        raise


def worker_sockets(config: uvicorn.Config, workers: int) -> list[socket.socket]:
    """The public sockets: one per worker where the kernel spreads connections over them
    (worker i serves `sockets[i % len(sockets)]`), else one shared by every worker."""
    if workers < 2 or not SPREADS or config.uds is not None or config.fd is not None:
        return [listen(config)]
    host, port = config.host, config.port
    if port:
        taken = _bind_error(host, port)
        if taken is not None:
            log.error("cannot_listen", host=host, port=port, error=taken.strerror or str(taken))
            sys.exit(STARTUP_FAILURE)
        if _answers(host, port):
            log.error("cannot_listen", host=host, port=port, detail="something answers there")
            sys.exit(STARTUP_FAILURE)
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sock = _bind_reuseport(host, port, config.backlog)
            sockets.append(sock)
            port = sock.getsockname()[1]  # port 0: the others join the port the first got
    except OSError as exc:
        for sock in sockets:
            sock.close()
        log.error("cannot_listen", host=host, port=port, error=exc.strerror or str(exc))
        sys.exit(STARTUP_FAILURE)
    return sockets


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn's bind_socket


def _bind_error(host: str, port: int) -> OSError | None:
    """Why one socket without SO_REUSEPORT (uvicorn's binding) cannot bind the address, if
    it cannot: the conflicts a reuseport group of the same user would otherwise admit."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        return exc
    finally:
        probe.close()
    return None


def _bind_reuseport(host: str, port: int, backlog: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)  # at once: a server still starting is seen (module docstring)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _answers(host: str, port: int) -> bool:
    """Whether something accepts connections at the address (a wildcard address is probed
    on loopback)."""
    target = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    try:
        with contextlib.closing(socket.create_connection((target, port), PROBE_TIMEOUT)):
            return True
    except OSError as exc:
        if exc.errno not in (errno.ECONNREFUSED, errno.EADDRNOTAVAIL, errno.ENETUNREACH, None):
            log.debug("listen_probe", host=target, port=port, error=str(exc))
        return False
