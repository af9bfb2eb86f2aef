"""A loopback TCP proxy a test can cut and restore, to play a database outage.

Cut: open connections are reset and new ones refused (the listening socket is closed), as
when a database host goes away. Restore: the same port listens again.

Partition: a SILENT outage, as when a network drops packets: nothing is closed or refused,
new connections are accepted, but no byte goes through in either direction (what arrives is
dropped). Only timeouts on the client's side can notice. Heal: traffic flows again; the
connections that lost bytes meanwhile are dropped (their protocol state is lost anyway).
"""

from __future__ import annotations

import contextlib
import socket
import threading

from sqlalchemy.engine import make_url

__all__ = ["TcpProxy", "proxy_for"]


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
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

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
