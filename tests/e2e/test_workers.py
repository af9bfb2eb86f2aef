"""`authbridge serve --workers 2` on the default SQLite file (issue 18): the real command, as
an operator starts it.

Shown: two worker processes, children of the `serve` process (which supervises them from a
lean image, a fraction of a worker's memory), answer on the one port; the
once-per-start work happened once (one setup link printed, one signing key: tokens from
whichever worker verify against the one JWKS key); a worker killed outright is replaced
and the service keeps answering; SIGTERM on the parent ends every process within seconds
with exit status 0 and closes the port; with a management port the workers serve both;
a parent killed outright (SIGKILL) leaves no worker behind serving either port; and without
its database at start, `serve` still listens (alive, not ready) and the workers do the
start-up work themselves once the database is there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

import httpx
import jwt
import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app as cli
from tests.e2e.server import AuthbridgeServer, free_port

STOPS_WITHIN = 10.0  # seconds: SIGTERM to every process gone (idle: no request to drain)


def _server(tmp_path: Path) -> tuple[AuthbridgeServer, tuple[str, str]]:
    """The server, not started, and a service account's client made beforehand by the CLI
    (on the same SQLite file) for client_credentials grants."""
    server = AuthbridgeServer(tmp_path)  # the harness sets server.workers 1: the option wins
    server.args = ["serve", "--workers", "2"]
    env: dict[str, str | None] = {key: None for key in os.environ}
    env.update(server.env)
    added = CliRunner().invoke(cli, ["service-accounts", "add", "loader"], env=env)
    assert added.exit_code == 0, added.output
    return server, ("sa-loader", added.stdout.strip().splitlines()[-1].strip())


def _workers(parent: int) -> set[int]:
    """The parent's children that are workers (not multiprocessing's resource tracker)."""
    found = set()
    for task in Path(f"/proc/{parent}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue  # exited meanwhile
            if b"multiprocessing.spawn" in cmdline:
                found.add(int(child))
    return found


def _rss(pid: int) -> int:
    """Resident memory of a process, in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its parent has not reaped it yet)


def _wait(condition: object, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def _grant(token_endpoint: str, client: tuple[str, str]) -> str:
    # A new connection each time: the kernel hands each to one of the accepting workers.
    answer = httpx.post(
        token_endpoint,
        data={"grant_type": "client_credentials"},
        auth=client,
        headers={"Connection": "close"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["token_type"].lower() == "bearer"
    return str(answer.json()["access_token"])


def _port_sockets(port: int, state: str) -> set[str]:
    """Inodes of the kernel's TCP sockets on local `port` in `state` (its TCP table's code:
    01 established, 0A listening)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
                found.add(fields[9])
    return found


def _held_by(pid: int, inodes: set[str]) -> set[str]:
    """Those of `inodes` among the process's socket descriptors."""
    held: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held.add(target[8:-1])
    return held


def _connections_per_worker(workers: set[int], port: int) -> dict[int, int]:
    """Established connections to `port` each worker holds."""
    established = _port_sockets(port, "01")
    return {pid: len(_held_by(pid, established)) for pid in workers}


def _started(server: AuthbridgeServer) -> int:
    """Start `server` and wait for both workers to be ready; the parent's pid."""
    server.start()
    assert server.process is not None
    parent = server.process.pid
    _wait(lambda: len(_workers(parent)) == 2, 30, "two workers never ran")
    _wait(lambda: server.output.count('"event": "ready"') == 3, 60, "a worker never ready")
    return parent


def _keep_alive_burst(port: int, connections: int) -> list[socket.socket]:
    """`connections` keep-alive connections opened at once (a client pool's burst: all
    queued before any worker accepts), each having had one answer."""
    opened = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(connections)]
    for conn in opened:
        conn.sendall(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for conn in opened:
        assert conn.recv(4096).startswith(b"HTTP/1.1 200 ")
    return opened


def test_two_workers_share_the_port_and_the_start_and_stop_on_sigterm(tmp_path: Path) -> None:
    server, client = _server(tmp_path)
    server.start()
    try:
        assert server.process is not None
        parent = server.process.pid
        assert "2 worker processes" in server.output
        _wait(lambda: len(_workers(parent)) == 2, 30, "two workers never ran")
        workers = _workers(parent)
        # Every worker built its services ("ready" logged), the parent's once-per-start
        # run too: three starts, one setup link, printed by the parent alone.
        _wait(lambda: server.output.count('"event": "ready"') == 3, 60, "a worker never ready")
        assert len(server.lines_with("/setup?token=")) == 1
        assert "printed by the replica" not in server.output
        # The parent supervises from a lean image (same pid): a fraction of a worker's memory.
        assert b"authbridge.web.supervisor" in Path(f"/proc/{parent}/cmdline").read_bytes()
        assert _rss(parent) < 0.6 * min(_rss(pid) for pid in workers)

        discovery = httpx.get(server.url + "/.well-known/openid-configuration", timeout=10)
        jwks = httpx.get(discovery.json()["jwks_uri"], timeout=10).json()["keys"]
        assert len(jwks) == 1  # one signing key, made once before the workers started
        key = jwt.PyJWK(jwks[0])
        for _ in range(8):
            token = _grant(discovery.json()["token_endpoint"], client)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                audience=None,
                options={"verify_aud": False},
            )
            assert claims["iss"] == server.url and claims["client_id"] == client[0]

        # A burst of keep-alive connections is spread over both workers (web/listeners.py),
        # not left on whichever accepted first.
        opened = _keep_alive_burst(server.port, 32)
        try:
            spread = _connections_per_worker(workers, server.port)
            assert sum(spread.values()) == 32 and min(spread.values()) >= 4, spread
        finally:
            for conn in opened:
                conn.close()

        # A worker killed outright is replaced by the supervisor; the port keeps answering.
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        _wait(
            lambda: len(_workers(parent)) == 2 and victim not in _workers(parent),
            30,
            "the killed worker was not replaced",
        )
        _wait(lambda: "worker_replaced" in server.output, 10, "the replacement was not logged")
        _wait(lambda: server.output.count('"event": "ready"') == 4, 60, "replacement not ready")
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        _grant(discovery.json()["token_endpoint"], client)

        workers = _workers(parent)
        began = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        status = server.process.wait(STOPS_WITHIN)
        took = time.monotonic() - began
        assert status == 0, server.output
        assert not any(_alive(pid) for pid in workers)
        assert _refused(server.port)
        assert took < STOPS_WITHIN
        print(f"SIGTERM to exit with 2 workers: {took:.2f} s")
    finally:
        server.stop()


def test_sighup_replaces_each_worker_on_its_own_socket_while_the_port_answers(
    tmp_path: Path,
) -> None:
    server, client = _server(tmp_path)
    try:
        parent = _started(server)
        assert server.process is not None
        before = _workers(parent)
        sockets = {pid: _listening_inodes(pid, server.port) for pid in before}
        assert all(len(inodes) == 1 for inodes in sockets.values()), sockets
        assert len(set().union(*sockets.values())) == 2  # a socket of its own each

        server.process.send_signal(signal.SIGHUP)
        token_endpoint = server.url + "/oauth2/token"
        # One by one: the new worker ready, then the old one stopped; grants go on.
        deadline = time.monotonic() + 90
        while _workers(parent) & before or len(_workers(parent)) != 2:
            assert time.monotonic() < deadline, "the workers were not replaced"
            _grant(token_endpoint, client)
            time.sleep(0.2)
        after = _workers(parent)
        # The replacements took over their predecessors' sockets: the same two.
        replaced = {pid: _listening_inodes(pid, server.port) for pid in after}
        assert set().union(*replaced.values()) == set().union(*sockets.values())
        assert all(len(inodes) == 1 for inodes in replaced.values()), replaced
        _grant(token_endpoint, client)
    finally:
        server.stop()


def _listening_inodes(pid: int, port: int) -> set[str]:
    """The inodes of the listening sockets on `port` among the process's descriptors."""
    return _held_by(pid, _port_sockets(port, "0A"))


def test_workers_serve_the_management_port_and_do_not_outlive_a_killed_parent(
    tmp_path: Path,
) -> None:
    server = _server(tmp_path)[0]
    management = free_port()
    server.env["SERVER__MANAGEMENT_PORT"] = str(management)
    server.start()
    try:
        assert server.process is not None
        parent = server.process.pid
        _wait(lambda: len(_workers(parent)) == 2, 30, "two workers never ran")
        workers = _workers(parent)
        # Both sockets are the workers': the management port answers health and metrics,
        # and /metrics has left the public port, as with one process.
        watched = f"http://127.0.0.1:{management}"
        assert httpx.get(watched + "/readyz", timeout=10).status_code == 200
        assert "authbridge_build_info" in httpx.get(watched + "/metrics", timeout=10).text
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 404
        assert httpx.get(watched + "/login", timeout=10).status_code == 404
        server.process.kill()  # no chance to stop its workers
        server.process.wait(10)
        _wait(
            lambda: not any(_alive(pid) for pid in workers),
            STOPS_WITHIN,
            "orphaned workers went on running",
        )
        _wait(lambda: _refused(server.port), 5, "the port still answers")
        _wait(lambda: _refused(management), 5, "the management port still answers")
    finally:
        server.stop()


def test_without_the_database_at_start_the_workers_start_it_up_themselves(
    tmp_path: Path,
) -> None:
    # The SQLite file's directory does not exist yet: the database cannot be opened, as a
    # PostgreSQL server that is not up. The parent does not wait with nothing listening.
    later = tmp_path / "not-yet"
    server = AuthbridgeServer(tmp_path, database_url=f"sqlite:///{later / 'authbridge.db'}")
    server.args = ["serve", "--workers", "2"]
    server.start(wait_ready=False)
    try:
        assert server.process is not None
        parent = server.process.pid
        _wait(lambda: len(_workers(parent)) == 2, 30, "two workers never ran")
        assert "workers_start_without_database" in server.output
        # Alive, not ready, as one process is without its database.
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 503

        later.mkdir()
        # Each worker retries (1, 2, 4, 8, 15 s apart), migrates under the database's
        # write lock, and the first admin's link is issued once (one token printed).
        _wait(lambda: server.output.count('"event": "ready"') == 2, 60, "workers never ready")
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        assert len(server.lines_with("/setup?token=")) == 1
        assert httpx.get(server.setup_link(), timeout=10).status_code == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(STOPS_WITHIN) == 0
    finally:
        server.stop()


def test_sigttou_leaves_no_socket_without_a_worker(tmp_path: Path) -> None:
    # uvicorn's SIGTTOU stops the last worker: its own socket stayed in the port's reuseport
    # group, held by the parent, and the share of new connections the kernel hashed to it
    # waited there, never answered (4 of 10 in a run). SIGTTIN's worker shares a socket.
    server = _server(tmp_path)[0]
    try:
        parent = _started(server)
        assert server.process is not None
        server.process.send_signal(signal.SIGTTOU)
        time.sleep(1.5)  # the supervisor handles signals every half second
        for _ in range(24):  # a stranded socket gets each with probability 1/2
            answer = httpx.get(server.url + "/healthz", headers={"Connection": "close"}, timeout=5)
            assert answer.status_code == 200
        server.process.send_signal(signal.SIGTTIN)
        _wait(lambda: len(_workers(parent)) == 3, 30, "SIGTTIN added no worker")
        _wait(lambda: server.output.count('"event": "ready"') == 4, 60, "third never ready")
        server.process.send_signal(signal.SIGTTOU)  # the third shares a socket: it may go
        _wait(lambda: len(_workers(parent)) == 2, 30, "SIGTTOU removed no worker")
        for _ in range(24):
            answer = httpx.get(server.url + "/healthz", headers={"Connection": "close"}, timeout=5)
            assert answer.status_code == 200
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(STOPS_WITHIN) == 0
    finally:
        server.stop()


@pytest.mark.xfail(
    strict=True,
    reason="by design for now (web/listeners.py): a dead worker's socket stays in the "
    "reuseport group, its share of new connections waits for the replacement's start",
)
def test_a_dead_workers_share_of_new_connections_is_served_at_once(tmp_path: Path) -> None:
    # With one shared socket the surviving worker took every new connection at once. With
    # a socket per worker, those the kernel hashes to the dead worker's socket wait in its
    # backlog until the replacement has imported the app and listens (1.5 to 2.5 s here,
    # up to 9 s on a busy machine; a worker stopped but alive: its 20 s ping timeout more).
    server = _server(tmp_path)[0]
    try:
        parent = _started(server)
        os.kill(min(_workers(parent)), signal.SIGKILL)
        for _ in range(16):  # each lands on the dead worker's socket with probability 1/2
            answer = httpx.get(
                server.url + "/healthz", headers={"Connection": "close"}, timeout=0.5
            )
            assert answer.status_code == 200
    finally:
        server.stop()
