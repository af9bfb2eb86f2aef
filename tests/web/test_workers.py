"""A worker of `serve --workers` stops itself once its parent is gone (web/workers.py), even
when the parent died before the worker had started watching: the pid it watches for is the
one the parent recorded, not whatever getppid() says by then."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap

WATCH = textwrap.dedent(
    """
    import sys, time
    from authbridge.web.workers import _follow_parent
    _follow_parent(int(sys.argv[1]), interval=0.05)
    time.sleep(30)
    """
)


def _run(parent: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", WATCH, str(parent)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_whose_recorded_parent_is_gone_stops_itself() -> None:
    # The recorded parent is not this worker's parent (it was reparented before watching).
    orphan = _run(parent=2**22 + 1)
    try:
        assert orphan.wait(10) == -15  # SIGTERM: uvicorn's graceful stop in a real worker
    finally:
        orphan.kill()


def test_a_worker_whose_parent_lives_keeps_serving() -> None:
    child = _run(parent=os.getpid())
    try:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(1.5)
        assert child.poll() is None, "stopped while its parent lives"
    finally:
        child.kill()
        child.wait(5)


def test_workers_run_uvicorn_as_one_process_does() -> None:
    """No access log of uvicorn's (ours is the middleware's), no Server header, proxy
    headers left to server.trustedProxies, no WebSocket library: in workers as in one
    process (the import test holds a default serve free of websockets)."""
    from authbridge.config.model import Settings
    from authbridge.web.serving import _config
    from authbridge.web.workers import WorkerConfig

    for config in (WorkerConfig(Settings(), 2), _config(object(), "127.0.0.1", 0)):
        assert config.ws == "none"
        assert config.access_log is False
        assert config.server_header is False
        assert config.proxy_headers is False
