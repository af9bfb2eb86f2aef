"""Running the service under uvicorn: the public listener, the optional management
listener, and a graceful shutdown.

Both listeners are uvicorn servers in one event loop over one `Services` (the management
app has no lifespan of its own). Signals are handled here, once for both: on SIGTERM (or
Ctrl-C) `/readyz` turns 503 ("draining"), the public listener stops accepting (its socket
is closed: new connections are refused), requests in flight get `server.shutdownGracePeriod`
seconds to finish (uvicorn's `timeout_graceful_shutdown`; then they are cancelled), the app's
lifespan ends (background threads stopped, the connection pool disposed, spans exported),
the management listener closes last, and the process exits 0. A second Ctrl-C cuts the wait.

uvicorn's own signal capture is switched off: it re-raises the signal once the server has
stopped, so a SIGTERM that was handled gracefully would still end the process as killed
by SIGTERM (exit status 143), which orchestrators report as a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

import structlog
import uvicorn
from uvicorn.loops.auto import auto_loop_factory

from authbridge.config.model import Settings
from authbridge.web.app import create_app, create_management_app
from authbridge.web.services import Services
from authbridge.web.workers import UVICORN_OPTIONS

__all__ = ["run"]

log = structlog.get_logger("authbridge")


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `run` (one handler for every listener)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(app: object, host: str, port: int, **options: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]  # an ASGI app; uvicorn's alias is narrower
        host=host,
        port=port,
        **UVICORN_OPTIONS,  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


async def serve(settings: Settings, services: Services) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully (see the module's text)."""
    server = settings.server
    public = _Server(
        _config(
            create_app(settings, services=services),
            server.host,
            server.port,
            timeout_graceful_shutdown=server.shutdown_grace_period,
        )
    )
    management = (
        _Server(
            _config(
                create_management_app(services),
                server.management_address,
                server.management_port,
                lifespan="off",
            )
        )
        if server.management_port is not None
        else None
    )

    def shut_down(sig: signal.Signals) -> None:
        if public.should_exit and sig == signal.SIGINT:
            public.force_exit = True  # a second Ctrl-C: stop waiting for requests
            return
        log.info("shutting_down", signal=sig.name, grace_period=server.shutdown_grace_period)
        services.draining = True
        public.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shut_down, sig)
    # The management listener first: probes and scrapes see the process from its start.
    watching = asyncio.create_task(management.serve()) if management is not None else None
    try:
        await public.serve()
    finally:
        if management is not None and watching is not None:
            management.should_exit = True
            await watching
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")


def run(settings: Settings, services: Services) -> None:
    """`authbridge serve`: serve in a new event loop until a signal, then return. The loop
    is the one uvicorn picks for its workers (`loop="auto"`: uvloop where it is installed,
    as `uvicorn[standard]` installs it), so one process serves as each worker does: on
    asyncio's own loop a client_credentials grant cost one process about 14% more CPU
    (bench/README.md "Stop 28")."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        runner.run(serve(settings, services))


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """The event loop uvicorn's workers run on (its `loop="auto"`), taken from uvicorn's
    own chooser, not through a `uvicorn.Config`: building one applies uvicorn's default
    logging configuration, and its plain-text lines would mix into our JSON log."""
    return auto_loop_factory(use_subprocess=False)
