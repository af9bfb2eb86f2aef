"""The real `authbridge serve` as a child process on a free loopback port.

Tests drive it over HTTP exactly as an operator and a browser would: configuration comes
from environment variables, the one-time setup link is read from its standard output.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

__all__ = ["AuthbridgeServer", "authbridge_command", "clean_environ", "free_port", "run_cli"]

CONFIG_SECTIONS = (
    "SERVER__",
    "DATABASE__",
    "TOKENS__",
    "SESSIONS__",
    "AUTH__",
    "AUTHORIZER__",
    "LOGGING__",
    "TELEMETRY__",
    # OpenTelemetry's standard variables would turn tracing on in a test's server.
    "OTEL_",
    "SCIM__",
    "REDIS__",
    "CLIENTS__",
    "BRANDING__",
)
SETUP_LINK = re.compile(r"(https?://\S+/setup\?token=[\w-]+)")


def free_port() -> int:
    """A port the kernel just gave out on loopback (free unless raced in the next instant)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def authbridge_command() -> list[str]:
    """The installed console script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "authbridge"
    if script.exists():
        return [str(script)]
    found = shutil.which("authbridge")
    return [found] if found else [sys.executable, "-m", "authbridge"]


def clean_environ(workdir: Path, **env: str) -> dict[str, str]:
    """The parent's environment without any authbridge setting, plus `env`.

    A developer's own AUTH__/SERVER__ variables or mounted secrets must not leak into a
    test's server, so the secrets directory points at an empty folder.
    """
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(CONFIG_SECTIONS) and key not in ("AUTHBRIDGE_CONFIG",)
    }
    secrets_dir = workdir / "no-secrets"
    secrets_dir.mkdir(exist_ok=True)
    base["AUTHBRIDGE_SECRETS_DIR"] = str(secrets_dir)
    base["PYTHONUNBUFFERED"] = "1"
    base.update(env)
    return base


class AuthbridgeServer:
    """`authbridge serve` in `workdir`, its stdout collected line by line."""

    def __init__(self, workdir: Path, database_url: str | None = None, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{workdir / 'authbridge.db'}"
        self.env = clean_environ(
            workdir,
            SERVER__HOST="127.0.0.1",
            SERVER__PORT=str(self.port),
            SERVER__ISSUER=self.url,
            DATABASE__URL=self.database_url,
            # Rotations by the CLI show in the JWKS within a second, not the default 30.
            TOKENS__KEY_RELOAD_INTERVAL="1",
            # One process, whatever the machine's CPUs (`auto` would be 2 here, 3 processes
            # per server on 2 shared cores); tests of the workers ask for them.
            SERVER__WORKERS="1",
            **env,
        )
        # The command line: tests of serve's own options change it.
        self.args = ["serve"]
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.process: subprocess.Popen[str] | None = None

    # -- life cycle -----------------------------------------------------------------------
    def start(self, *, wait_ready: bool = True, timeout: float = 60.0) -> AuthbridgeServer:
        self.process = subprocess.Popen(
            [*authbridge_command(), *self.args],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        self.wait_for(lambda: self._answers("/healthz"), timeout, "/healthz never answered")
        if wait_ready:
            self.wait_for(lambda: self._answers("/readyz"), timeout, "/readyz never became 200")
        return self

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return int(self.process.returncode)

    def __enter__(self) -> AuthbridgeServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- observation ------------------------------------------------------------------------
    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        # Kept on disk too (every start appends): a failed run's servers still explain it.
        with self.log_path.open("a", encoding="utf-8") as log:
            for line in self.process.stdout:
                log.write(line)
                log.flush()
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def log_path(self) -> Path:
        """The server's whole output (stdout and stderr), kept after the test."""
        return self.workdir / "authbridge.log"

    def lines_with(self, text: str) -> list[str]:
        """Output lines that mention `text` (a request id: its access log line)."""
        return [line for line in self.lines if text in line]

    def _answers(self, path: str) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"authbridge exited {self.process.returncode}:\n{self.output}")
        try:
            return httpx.get(self.url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for(self, condition: object, timeout: float, message: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():  # type: ignore[operator]
                return
            time.sleep(0.1)
        raise AssertionError(
            f"{message} within {timeout}s ({self._state()}); log {self.log_path}; "
            f"output:\n{self.output}"
        )

    def _state(self) -> str:
        """The process as a failure needs it told: gone, or running and how busy (a server
        still importing on a starved machine has used little CPU and printed nothing)."""
        if self.process is None:
            return "not started"
        if self.process.poll() is not None:
            return f"exited {self.process.returncode}"
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return f"pid {self.process.pid} running"
        return f"pid {self.process.pid} running, {cpu:.1f} s of CPU, load {os.getloadavg()[0]:.1f}"

    def setup_link(self, timeout: float = 20.0) -> str:
        """The one-time first-admin link printed on stdout."""
        found: list[str] = []

        def printed() -> bool:
            for line in self.lines:
                match = SETUP_LINK.search(line)
                if match:
                    found.append(match.group(1))
                    return True
            return False

        self.wait_for(printed, timeout, "no setup link printed")
        return found[0]


def run_cli(
    args: list[str], workdir: Path, env: Mapping[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """One `authbridge ...` command, as an operator types it."""
    return subprocess.run(
        [*authbridge_command(), *args],
        cwd=workdir,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_status(url: str, status: int, timeout: float = 30.0) -> None:
    """Poll `url` until it answers `status` (a server coming up, an outage ending)."""
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        try:
            seen = httpx.get(url, timeout=10).status_code
        except httpx.HTTPError as exc:
            seen = type(exc).__name__
        if seen == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} answered {seen}, not {status}, within {timeout}s")


def timed_post(url: str, data: dict[str, str], timeout: float) -> tuple[int, float]:
    """A form POST's status (0: the client hung up at `timeout`) and how long it took."""
    started = time.monotonic()
    try:
        status = httpx.post(url, data=data, timeout=timeout).status_code
    except httpx.TimeoutException:
        status = 0
    return status, time.monotonic() - started
