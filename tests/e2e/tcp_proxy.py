"""A loopback TCP proxy a test can cut and restore, to play a database outage.

Cut: open connections are reset and new ones refused (the listening socket is closed), as
when a database host goes away. Restore: the same port listens again.

Partition: a SILENT outage, as when a network drops packets: nothing is closed or refused,
new connections are accepted, but no byte goes through in either direction (what arrives is
dropped). Only timeouts on the client's side can notice. Heal: traffic flows again; the
connections that lost bytes meanwhile are dropped (their protocol state is lost anyway).

RoundRobinProxy: the same forwarding in front of several HTTP servers (replicas), each
connection to the next ready one, with a record of where each request went.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import make_url

__all__ = ["RoundRobinProxy", "Route", "TcpProxy", "proxy_for"]


def proxy_for(database_url: str) -> tuple[TcpProxy, str]:
    """A proxy in front of the database of `database_url` (not listening yet: call
    restore()), and the URL that reaches that database through it."""
    real = make_url(database_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    through = real.set(host="127.0.0.1", port=proxy.port)
    return proxy, through.render_as_string(hide_password=False)


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._silent = threading.Event()
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()

    def restore(self) -> None:
        """Listen (again) on the proxy's port and forward every connection to the target."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    close = cut

    def partition(self) -> None:
        """Stop every byte, silently: connections stay open, nothing is answered."""
        self._silent.set()

    def heal(self) -> None:
        """End a partition: new connections get through; the stalled ones are closed."""
        with self._lock:
            sockets, self._open = self._open, set()
        self._silent.clear()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            if self._silent.is_set():
                # Accepted (the SYN got an answer) but never connected through: a black hole.
                with self._lock:
                    self._open.add(client)
                threading.Thread(target=self._pipe, args=(client, None), daemon=True).start()
                continue
            if not self._forward(client, listener):
                return  # cut meanwhile

    def _forward(self, client: socket.socket, listener: socket.socket) -> bool:
        """Connect `client` through to an upstream; False once `listener` was cut."""
        upstream = self._dial(client)
        if upstream is None:
            client.close()
            return True
        with self._lock:
            if self._listener is not listener:
                client.close()
                upstream.close()
                return False
            self._open.update((client, upstream))
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()
        return True

    def _dial(self, client: socket.socket) -> socket.socket | None:
        """The upstream connection for `client` (None: refused, the client is closed)."""
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            return None
        upstream.settimeout(None)
        return upstream

    def _pipe(self, source: socket.socket, sink: socket.socket | None) -> None:
        try:
            while data := source.recv(65536):
                if sink is not None and not self._silent.is_set():
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink) if sink is not None else (source,):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._open.discard(sock)


@dataclass
class Route:
    """Where the balancer sent one connection, and when it was open (monotonic)."""

    request_id: str
    backend: int
    opened: float
    closed: float | None = None


class RoundRobinProxy(TcpProxy):
    """A load balancer on loopback, as a Kubernetes Service in front of a Deployment: each
    new connection goes to the next ready backend in turn.

    Ready means the backend's readiness path answered 200 at its last probe (every
    `probe_interval` seconds), as a readiness probe takes a pod out of a Service's endpoints.
    A backend refusing the connection meanwhile is skipped (nothing was sent to it yet), as
    nginx's `proxy_next_upstream error` does. Once a byte went to a backend the connection is
    its own: if the backend dies, the client sees the connection end, never a replay.

    Every connection's route is kept under the X-Request-ID of its first request (the head
    is read before a backend is chosen), so a test can tell which replica served, or was
    serving when it died, which request. Clients send `Connection: close` to be balanced
    per request.
    """

    def __init__(
        self,
        backends: Sequence[tuple[str, int]],
        ready_path: str = "/readyz",
        probe_interval: float = 0.1,
    ) -> None:
        super().__init__(*backends[0])
        self.url = f"http://127.0.0.1:{self.port}"
        self.backends = list(backends)
        self.ready = [False] * len(self.backends)
        self.routes: dict[str, Route] = {}
        self._turn = itertools.count()
        self._route_of: dict[socket.socket, Route] = {}
        self._ready_path = ready_path
        self._interval = probe_interval
        self._probing = threading.Event()
        self._stopped = threading.Event()

    def restore(self) -> None:
        super().restore()
        if not self._probing.is_set():
            self._probing.set()
            threading.Thread(target=self._probe, daemon=True).start()

    def close(self) -> None:
        self._stopped.set()
        self.cut()

    def served(self, backend: int, since: float = 0.0) -> list[Route]:
        """The connections sent to `backend` that opened after `since` (monotonic)."""
        with self._lock:
            return [r for r in self.routes.values() if r.backend == backend and r.opened > since]

    # -- readiness ----------------------------------------------------------------------------
    def _probe(self) -> None:
        # As a Kubernetes readiness probe does by default (timeoutSeconds 1,
        # failureThreshold 3): one slow answer on a loaded machine takes no backend out.
        failures = [0] * len(self.backends)
        with httpx.Client(timeout=1.0) as http:
            while not self._stopped.wait(self._interval):
                for index, (host, port) in enumerate(self.backends):
                    try:
                        answer = http.get(f"http://{host}:{port}{self._ready_path}")
                        ok = answer.status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    failures[index] = 0 if ok else failures[index] + 1
                    if ok or failures[index] >= PROBE_FAILURE_THRESHOLD:
                        self.ready[index] = ok

    # -- forwarding ---------------------------------------------------------------------------
    def _forward(self, client: socket.socket, listener: socket.socket) -> bool:
        # Reading the request head must not hold up the next accept.
        threading.Thread(target=super()._forward, args=(client, listener), daemon=True).start()
        return True

    def _dial(self, client: socket.socket) -> socket.socket | None:
        head = _request_head(client)
        if head is None:
            return None
        found = REQUEST_ID.search(head)
        request_id = found.group(1).decode("latin-1") if found else f"connection-{id(client)}"
        first = next(self._turn)
        count = len(self.backends)
        for offset in range(count):
            index = (first + offset) % count
            if not self.ready[index]:
                continue
            try:
                upstream = socket.create_connection(self.backends[index], timeout=2)
            except OSError:
                self.ready[index] = False  # passive check: until the probe sees it ready
                continue
            upstream.settimeout(None)
            try:
                upstream.sendall(head)
            except OSError:
                upstream.close()
                return None
            route = Route(request_id, index, time.monotonic())
            with self._lock:
                self.routes[request_id] = route
                self._route_of[client] = route
            return upstream
        return None  # no backend ready: refused, as by a Service without endpoints

    def _pipe(self, source: socket.socket, sink: socket.socket | None) -> None:
        super()._pipe(source, sink)
        with self._lock:
            route = self._route_of.pop(source, None)
        if route is not None:
            route.closed = time.monotonic()


PROBE_FAILURE_THRESHOLD = 3
REQUEST_ID = re.compile(rb"\r\nx-request-id:[ \t]*([^\r\n]+)", re.IGNORECASE)


def _request_head(client: socket.socket, limit: int = 65536) -> bytes | None:
    """The bytes the client sent up to the end of its first request head (maybe more)."""
    client.settimeout(10)
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < limit:
            chunk = client.recv(65536)
            if not chunk:
                return None
            data += chunk
    except OSError:
        return None
    client.settimeout(None)
    return data
