"""The parent of `serve --workers N` once the workers are to start: a lean process.

`authbridge serve` has imported the whole CLI and run the once-per-start work (about 140 MB
resident, as much as a worker, bench/README.md "bench_workers.py"); none of it is needed to
supervise. So the parent replaces its own image (execv: the same pid, so the same process
for the orchestrator, its signals and its exit status) with `python -m
authbridge.web.supervisor FD`, which imports uvicorn's supervisor and the settings model
only. FD is an in-memory file (memfd) holding the pickled `WorkerConfig` and the numbers
of the listening sockets, which the new image inherits as they are. The spawned workers
import this module as their `__main__`, so they start from the same lean base too.

Its log lines are JSON or console as `logging.format` says, through a structlog pipeline of
its own (web/observability.py's `configure_logging` would import the app's modules): it
logs only its own events (workers started, replaced, stopped), with nothing to redact.
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import sys
import tempfile
from typing import NoReturn

import structlog

from authbridge.web.workers import STARTUP_FAILURE, WorkerConfig, supervise

__all__ = ["become_supervisor", "main"]


def become_supervisor(config: WorkerConfig, slots: list[list[socket.socket]]) -> NoReturn:
    """Replace this process's image with the lean supervisor of `config.workers` workers,
    worker i over the sockets of `slots[i]` (see the module's text); never returns."""
    # In memory where the kernel offers it: the image's root filesystem may be read-only
    # and /tmp absent (deploy/Dockerfile). Handed over open, by its number.
    memfd_create = getattr(os, "memfd_create", None)
    payload = (
        os.fdopen(memfd_create("authbridge-workers"), "w+b")
        if memfd_create is not None
        else tempfile.TemporaryFile()  # noqa: SIM115
    )
    pickle.dump((config, [[sock.fileno() for sock in slot] for slot in slots]), payload)
    payload.flush()
    payload.seek(0)
    os.set_inheritable(payload.fileno(), True)
    for slot in slots:
        for sock in slot:
            sock.set_inheritable(True)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "authbridge.web.supervisor", str(payload.fileno())]
    os.execv(sys.executable, argv)  # noqa: S606  # this interpreter, this package


def _configure_logging(level: str, fmt: str) -> None:
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def main(argv: list[str]) -> int:
    with os.fdopen(int(argv[1]), "rb") as payload:
        config, fds = pickle.load(payload)  # noqa: S301  # written by our own parent image
    assert isinstance(config, WorkerConfig)
    _configure_logging(config.settings.logging.level, config.settings.logging.format)
    # One socket object per descriptor: slots share the management socket (and, where
    # connections are not spread, the public one), and a second object would close the
    # descriptor when collected.
    sockets = {
        fd: socket.socket(fileno=fd) for fd in dict.fromkeys(f for slot in fds for f in slot)
    }
    return supervise(config, [[sockets[fd] for fd in slot] for slot in fds])


if __name__ == "__main__":
    sys.exit(main(sys.argv) if len(sys.argv) == 2 else STARTUP_FAILURE)
