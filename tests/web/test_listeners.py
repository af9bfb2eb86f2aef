"""The public sockets of `serve --workers N` (web/listeners.py): one per worker on Linux,
and the kernel spreads new connections over them; a port something answers on is refused,
as a busy port is."""

from __future__ import annotations

import contextlib
import selectors
import socket

import pytest
import uvicorn

from authbridge.web import listeners
from authbridge.web.listeners import worker_sockets

linux_only = pytest.mark.skipif(not listeners.SPREADS, reason="SO_REUSEPORT spreads on Linux")


def _config(port: int = 0, host: str = "127.0.0.1") -> uvicorn.Config:
    return uvicorn.Config("authbridge.web.workers:worker_app", host=host, port=port)


def _accepted_per_socket(sockets: list[socket.socket], connections: int) -> list[int]:
    """Open `connections` connections to the port at once (a client pool's burst) and
    count, per listening socket, those it was handed."""
    port = sockets[0].getsockname()[1]
    for sock in sockets:
        sock.listen(connections)
        sock.setblocking(False)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    counts = [0] * len(sockets)
    selector = selectors.DefaultSelector()
    for index, sock in enumerate(sockets):
        selector.register(sock, selectors.EVENT_READ, index)
    accepted: list[socket.socket] = []
    try:
        while sum(counts) < connections:
            events = selector.select(timeout=5)
            assert events, f"only {sum(counts)} of {connections} connections accepted"
            for key, _ in events:
                with contextlib.suppress(BlockingIOError):
                    conn, _address = key.fileobj.accept()  # type: ignore[union-attr]
                    accepted.append(conn)
                    counts[key.data] += 1
    finally:
        selector.close()
        for conn in accepted + clients:
            conn.close()
    return counts


@linux_only
def test_each_worker_gets_its_own_socket_on_one_port() -> None:
    sockets = worker_sockets(_config(), 3)
    try:
        assert len(sockets) == 3
        assert len({sock.getsockname() for sock in sockets}) == 1  # port 0: one port for all
        assert all(sock.get_inheritable() for sock in sockets)  # the workers inherit them
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


@linux_only
def test_a_burst_of_connections_is_spread_over_every_worker_socket() -> None:
    # With one shared socket the first worker awake took the whole burst (all 32 of the
    # bench's connections on one worker in 2 runs of 4). Hashed over two sockets, 64
    # connections fall 32 +- 4 each; fewer than 12 on one happens about once in 10^7.
    sockets = worker_sockets(_config(), 2)
    try:
        counts = _accepted_per_socket(sockets, 64)
    finally:
        for sock in sockets:
            sock.close()
    assert sum(counts) == 64
    assert min(counts) >= 12, counts


def test_one_worker_has_one_socket_bound_as_uvicorn_binds_it() -> None:
    sockets = worker_sockets(_config(), 1)
    try:
        assert len(sockets) == 1
        assert not sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
    finally:
        sockets[0].close()


@linux_only
@pytest.mark.parametrize(
    "shares",
    [
        # A second `serve` beside a running one: the running one's sockets allow joining
        # (SO_REUSEPORT, same user), so only the checks before binding stop this one.
        pytest.param(True, id="a running server's listening reuseport socket"),
        # Bound without sharing and not listening: the connect probe sees nothing there.
        pytest.param(False, id="a socket bound without sharing"),
    ],
)
def test_a_port_in_use_is_refused_with_the_workers_exit_status(shares: bool) -> None:
    occupant = socket.socket()
    if shares:
        occupant.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    occupant.bind(("127.0.0.1", 0))
    if shares:
        occupant.listen()
    try:
        with pytest.raises(SystemExit) as stopped:
            worker_sockets(_config(occupant.getsockname()[1]), 2)
        assert stopped.value.code == 3
    finally:
        occupant.close()


@linux_only
def test_a_wildcard_host_is_probed_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[tuple[str, int]] = []

    def create_connection(address: tuple[str, int], timeout: float) -> socket.socket:
        probed.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(listeners.socket, "create_connection", create_connection)
    for host, target in (("0.0.0.0", "127.0.0.1"), ("::", "::1")):
        if host == "::" and not socket.has_ipv6:
            continue
        try:
            sockets = worker_sockets(_config(_free_port(host), host), 2)
        except SystemExit:  # no IPv6 on this machine's loopback
            continue
        for sock in sockets:
            sock.close()
        assert probed[-1][0] == target


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def test_elsewhere_one_shared_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listeners, "SPREADS", False)
    sockets = worker_sockets(_config(), 4)
    try:
        assert len(sockets) == 1
    finally:
        sockets[0].close()


@linux_only
def test_a_server_still_starting_on_the_port_is_refused() -> None:
    # The first `serve` has bound its sockets and is still migrating or starting its
    # workers (seconds): a second one started meanwhile must not join its reuseport group
    # (it did: the two then shared the port, each with its own database and signing key).
    starting = worker_sockets(_config(), 2)
    port = starting[0].getsockname()[1]
    try:
        with pytest.raises(SystemExit) as stopped:
            worker_sockets(_config(port), 2)
        assert stopped.value.code == 3
    finally:
        for sock in starting:
            sock.close()


def _running(host: str) -> socket.socket:
    """A running `serve --workers N`'s socket on `host`: SO_REUSEPORT, listening."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, 0))
    sock.listen()
    return sock


@linux_only
@pytest.mark.parametrize(
    ("running_on", "started_on"),
    [("127.0.0.2", "0.0.0.0"), ("127.0.0.1", "::"), ("0.0.0.0", "::")],
)
def test_a_server_running_on_another_spelling_of_the_address_is_refused(
    running_on: str, started_on: str
) -> None:
    # One socket would have refused the second start (EADDRINUSE: the addresses overlap);
    # the probe by connection missed these (nothing answers on the loopback it tries).
    try:
        running = _running(running_on)
        _free_port(started_on)
    except OSError:
        pytest.skip(f"{running_on} or {started_on} not available here")
    try:
        with pytest.raises(SystemExit) as stopped:
            sockets = worker_sockets(_config(running.getsockname()[1], started_on), 2)
            for sock in sockets:
                sock.close()
        assert stopped.value.code == 3
    finally:
        running.close()
