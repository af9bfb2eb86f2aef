"""`authbridge serve` with `server.workers` > 1: worker processes on one port, under
uvicorn's supervisor (`uvicorn.supervisors.Multiprocess`, as `uvicorn --workers`).

The parent process, in order:

1. binds the listening sockets: the public ones (web/listeners.py: one per worker on
   Linux, so the kernel spreads connections over the workers; one shared elsewhere), and
   `server.managementPort`'s if set (a busy port stops it before anything else);
2. does what must happen once per start, with the same code a single process runs
   (`Services(once=True)` started, then stopped): migrations, the configured admins'
   bindings, the bootstrap admin, the signing key, the setup link (printed once, by the
   parent). If the database cannot be reached, it does not wait with nothing listening:
   each worker is then told to do that work itself once the database answers (as
   replicas do, safely: tests/e2e/test_replicas.py), and meanwhile serves `/healthz`
   200 and `/readyz` 503 as one process would;
3. becomes a lean process (web/supervisor.py: execv, same pid, about 46 MB instead of
   the 140 MB the CLI and the start-up work left behind), starts the workers
   (multiprocessing "spawn": fresh interpreters, nothing inherited but the pickled
   `WorkerConfig` and the sockets) and supervises them: it pings each every half second,
   replaces a worker that died or stopped answering, and stops everything if a worker
   fails before serving (a broken start would fail the same way again).

Each worker builds its own app from the settings (`worker_app`, explicit wiring, nothing
done on import): its own `Services` (normally `once=False`: no migration, no bootstrap, no
setup link), connection pool, caches, change-bus listener and background threads, exactly the
way separate replicas on one database do (tests/e2e/test_replicas.py). The kernel hands
each new connection to one worker: by a hash of its addresses over the workers' own
sockets on Linux, else to whichever accepts first on the shared socket.

Signals: SIGTERM or SIGINT on the parent closes its copy of the sockets and sends SIGTERM
to every worker; each stops accepting, lets its requests in flight finish for up to
`server.shutdownGracePeriod` seconds (uvicorn's own graceful shutdown), stops its services
and exits; the parent waits for them all and exits 0. SIGHUP replaces the workers one by
one (uvicorn); SIGTTIN adds one, SIGTTOU stops one unless its socket would be left with no
worker (its share of the connections would wait unanswered). Unlike one process, a
draining worker does not answer `/readyz` with 503: it has stopped accepting on every
socket, so a probe is refused instead (not ready either).
With a management port, every worker serves it too: `/metrics` is the view of the worker
the scrape reached (counters are per process).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from socket import socket
from typing import TYPE_CHECKING

import structlog
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from authbridge.config.model import Settings
from authbridge.web.listeners import listen, worker_sockets

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from authbridge.directory.bootstrap import BootstrapAdmin

# The app's modules are imported in functions: a worker unpickles this module's
# `WorkerConfig` before it starts answering the supervisor's health pings, so what this
# module imports delays the first answer (past the ping timeout, the worker is killed).

__all__ = [
    "STARTUP_FAILURE",
    "UVICORN_OPTIONS",
    "WorkerConfig",
    "prepare",
    "run_workers",
    "supervise",
    "worker_app",
]

log = structlog.get_logger("authbridge")

# Seconds a worker has to answer the supervisor's ping before it is killed and replaced.
# The first ping also waits for a new worker's start: a fresh interpreter importing the app,
# 2 s on an idle 2-core machine, 9 s seen on a busy one with bytecode still to compile,
# past uvicorn's default 5 (the worker is then replaced before it ever served). A worker
# busy serving answers at once (the answer comes from a thread of its own).
HEALTHCHECK_TIMEOUT = 20

# How authbridge runs uvicorn, one process or workers (web/serving.py uses them too): no
# uvicorn log configuration or access log (ours is the ObservabilityMiddleware's), no
# Server header, proxy headers decided by server.trustedProxies rather than uvicorn, and no
# WebSocket support (no endpoint needs it: an upgrade request is answered as plain HTTP,
# and the websockets library is not loaded into every process).
UVICORN_OPTIONS: dict[str, object] = {
    "log_config": None,
    "access_log": False,
    "server_header": False,
    "proxy_headers": False,
    "ws": "none",
}


class _ByPort:
    """One worker's ASGI app for both shared sockets: the management app for connections
    to `server.managementPort`, the public app for the rest (and its lifespan)."""

    def __init__(self, public: ASGIApp, management: ASGIApp, management_port: int) -> None:
        self.public = public
        self.management = management
        self.management_port = management_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server is not None and server[1] == self.management_port:
            await self.management(scope, receive, send)
        else:
            await self.public(scope, receive, send)


def worker_app(
    settings: Settings, *, once: bool = False, bootstrap: BootstrapAdmin | None = None
) -> ASGIApp:
    """A worker's app, built in the worker at its start: its own services (`once`: the
    parent could not do the once-per-start work), the public app, and the management app
    if configured."""
    from authbridge.web.app import create_app, create_management_app
    from authbridge.web.observability import configure_logging
    from authbridge.web.services import Services

    configure_logging(settings.logging.level, settings.logging.format)
    services = Services(settings, once=once, bootstrap=bootstrap)
    public = create_app(settings, services=services)
    port = settings.server.management_port
    if port is None:
        return public
    return _ByPort(public, create_management_app(services), port)


class WorkerConfig(uvicorn.Config):
    """uvicorn's configuration for the workers, carrying the settings to build the app from.

    It is pickled to each worker; `load()`, which uvicorn calls in the worker before
    serving, builds the app there (never in the parent)."""

    def __init__(
        self,
        settings: Settings,
        workers: int,
        *,
        once: bool = False,
        bootstrap: BootstrapAdmin | None = None,
    ) -> None:
        server = settings.server
        super().__init__(
            "authbridge.web.workers:worker_app",  # informative: load() builds the app
            host=server.host,
            port=server.port,
            workers=workers,
            timeout_graceful_shutdown=server.shutdown_grace_period,
            timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT,
            **UVICORN_OPTIONS,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.once = once
        self.bootstrap = bootstrap
        # The supervisor's pid (execv keeps it): a worker whose parent is another is orphaned.
        self.parent = os.getpid()

    def load(self) -> None:
        if not self.loaded:
            _follow_parent(self.parent)
            try:
                self.app = worker_app(self.settings, once=self.once, bootstrap=self.bootstrap)
            except Exception:
                # Exit status 3 tells the supervisor the start itself is broken: it stops,
                # rather than restarting a worker that would fail the same way forever.
                log.exception("worker_start_failed")
                sys.exit(STARTUP_FAILURE)
        super().load()


def _follow_parent(parent: int, interval: float = 1.0) -> None:
    """In a worker: stop gracefully (SIGTERM to itself) once `parent` is no longer its
    parent. A parent killed outright (SIGKILL, OOM) cannot stop its workers, and orphans
    would go on serving the shared socket, holding the port against the next `serve`. The
    pid comes from the parent, not from getppid() here: a parent killed while the worker
    was still importing has already left it to another."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        log.warning("worker_orphaned", parent=parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="authbridge-parent-watch", daemon=True).start()


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, each worker on the sockets of its slot (web/listeners.py: its
    own public socket where the kernel spreads connections, the shared ones else), so a
    replacement serves its predecessor's socket. On SIGTERM or SIGINT the parent also
    closes its copy of the listening sockets first, so that once the workers have closed
    theirs new connections are refused at once rather than left in the backlog until the
    last worker exits.

    uvicorn starts every process over the one list of sockets it was given: the four
    methods that start processes are uvicorn's (0.55) with the slot's sockets instead."""

    def __init__(self, config: WorkerConfig, slots: list[list[socket]]) -> None:
        distinct = list({sock.fileno(): sock for slot in slots for sock in slot}.values())
        super().__init__(config, sockets=distinct)
        self.slots = slots

    def _process(self, slot: int) -> Process:
        process = Process(self.config, self._slot(slot))
        process.start()
        return process

    def init_processes(self) -> None:
        for slot in range(self.processes_num):
            self.processes.append(self._process(slot))

    def restart_all(self) -> None:
        """SIGHUP: each worker replaced by one on the same sockets, started and ready
        before the old one stops; a replacement not ready in time ends the restart."""
        for slot, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(slot)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    log.error("worker_restart_aborted", pid=old.pid, new_pid=new.pid)
                return
            old.terminate()
            old.join()
            self.processes[slot] = new

    def keep_subprocess_alive(self) -> None:
        """A worker dead or not answering its ping is killed and replaced on its slot; one
        that failed before serving (exit status 3) stops the supervisor: a broken start
        would fail the same way again."""
        if self.should_exit.is_set():
            return
        for slot, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker_start_failed_stopping", pid=process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            self.processes[slot] = self._process(slot)
            # uvicorn logs it below our log level: say it ourselves
            log.warning("worker_replaced", pid=process.pid, new_pid=self.processes[slot].pid)

    def handle_ttin(self) -> None:
        """SIGTTIN: one more worker, on the sockets of the next slot (sharing its socket)."""
        self.processes_num += 1
        self.processes.append(self._process(self.processes_num - 1))

    def handle_ttou(self) -> None:
        """SIGTTOU: the last worker stopped, unless its public socket has no other worker:
        held open by the parent, that socket would keep its share of the new connections
        waiting in its backlog, never answered."""
        last = self.processes_num - 1
        kept = {sock.fileno() for slot in range(last) for sock in self._slot(slot)}
        if last > 0 and not kept.issuperset(sock.fileno() for sock in self._slot(last)):
            log.warning("workers_not_decreased", workers=self.processes_num)
            return
        super().handle_ttou()

    def _slot(self, slot: int) -> list[socket]:
        return self.slots[slot % len(self.slots)]

    def _close_sockets(self) -> None:
        for sock in self.sockets:
            sock.close()

    def handle_term(self) -> None:
        self._close_sockets()
        super().handle_term()

    def handle_int(self) -> None:
        self._close_sockets()
        super().handle_int()


def prepare(settings: Settings, bootstrap: BootstrapAdmin | None) -> bool:
    """What must happen once per start, before any worker, with the same start-up as one
    process (`Services`), then stopped: False if the database could not be reached."""
    from authbridge.storage.errors import Unavailable
    from authbridge.web.services import Services

    services = Services(settings, bootstrap=bootstrap)
    try:
        services.start(wait=True)
        return True
    except Unavailable:
        return False  # logged by Services ("storage_unavailable")
    finally:
        services.stop()


def run_workers(settings: Settings, bootstrap: BootstrapAdmin | None, workers: int) -> int:
    """`authbridge serve` with `workers` processes: listen, do the once-per-start work, then
    become the workers' lean supervisor (web/supervisor.py); the exit status is its own."""
    server = settings.server
    config = WorkerConfig(settings, workers)
    # Bound first: a busy port stops `serve` before it migrates or prints a setup link.
    # Connections that arrive during the once-per-start work wait in the backlog.
    public = worker_sockets(config, workers)
    shared: list[socket] = []
    if server.management_port is not None:
        management = uvicorn.Config(
            "authbridge.web.workers:worker_app",
            host=server.management_address,
            port=server.management_port,
            log_config=None,
        )
        shared.append(listen(management))
    slots = [[public[slot % len(public)], *shared] for slot in range(workers)]
    if not prepare(settings, bootstrap):
        log.warning("workers_start_without_database", detail="each worker starts it up")
        # The bootstrap admin's password reaches the workers only if they must make it.
        config.once, config.bootstrap = True, bootstrap
    if sys.executable:
        from authbridge.web.supervisor import become_supervisor

        become_supervisor(config, slots)  # the same pid, a lean image: never returns
    return supervise(config, slots)  # an embedded interpreter: no executable to exec


def supervise(config: WorkerConfig, slots: list[list[socket]]) -> int:
    """Run the workers under uvicorn's supervisor until a signal, worker i on the sockets of
    `slots[i]`; the exit status: 0 after a graceful stop, 3 if a worker could not start."""
    log.info("workers_starting", workers=config.workers)
    supervisor = _Supervisor(config, slots)
    supervisor.run()
    for sock in supervisor.sockets:
        sock.close()
    failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    log.info("stopped", workers=config.workers)
    return STARTUP_FAILURE if failed else 0
