"""The token endpoint in process: instructions per grant (callgrind) and where its time goes.

    python bench/bench_token.py [--calls 100] [--database URL] [--profile SECONDS]
    python bench/bench_token.py --cpu ROUNDS [--calls 300] [--no-audit]

Builds the app as `authbridge serve` does (logging at `info`, audit log on unless
`--no-audit`), seeded by bench_provider.py, and drives the ASGI app directly (no sockets,
no HTTP parsing) with:

* a client_credentials grant (RFC 6749 §4.4) by the seeded service account, HTTP Basic;
* a refresh grant (RFC 6749 §6) presenting the newest token of a family, so every call
  rotates it in the database (the response's refresh_token is presented next).

Default: instructions per grant under valgrind's callgrind between marker system calls
(set-up excluded; no neighbour on a shared machine moves these). `--profile S`: samples the
same loop with py-spy for S seconds per grant type and prints the busiest functions
(inclusive, by share of samples). `--database`: PostgreSQL instead of a SQLite file (a
throw-away database is created on that server). `--cpu R`: CPU per grant without valgrind,
best of R rounds of `--calls` grants: the event loop's thread and the whole process (the
audit writer's thread included), for a loaded machine where callgrind does not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_provider import basic, free_port, seed_authbridge
from callgrind import instructions
from served import postgres_database, token_scope

CC_BODY = b"grant_type=client_credentials"
NO_AUDIT = "AUTHBRIDGE_BENCH_NO_AUDIT"  # `--no-audit`, passed on to the measured children
FAMILIES = 4


def _scope(client_id: str, body: bytes) -> dict[str, Any]:
    return token_scope(basic(client_id), body)


class Driver:
    """Calls the app with one grant at a time and checks each answer is a 200."""

    def __init__(self, app: Any, refresh_tokens: list[str]) -> None:
        self.app = app
        self.refresh = refresh_tokens
        self.body = b""
        self.status = 0

    async def _call(self, client_id: str, body: bytes) -> bytes:
        self.body = b""

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            else:
                self.body += message.get("body", b"")

        await self.app(_scope(client_id, body), receive, send)
        assert self.status == 200, (self.status, self.body)
        return self.body

    async def client_credentials(self, index: int) -> None:
        await self._call("sa-etl", CC_BODY)

    async def refresh_grant(self, index: int) -> None:
        slot = index % len(self.refresh)
        body = f"grant_type=refresh_token&refresh_token={self.refresh[slot]}".encode()
        answer = await self._call("bench", body)
        self.refresh[slot] = json.loads(answer)["refresh_token"]


@contextmanager
def in_process_app(workdir: Path, database: str | None) -> Iterator[Driver]:
    os.environ["AUTHBRIDGE_SECRETS_DIR"] = str(workdir)
    tokens, config = seed_authbridge(
        workdir,
        free_port(),
        FAMILIES,
        log_level="info",
        database=database,
        audit=os.environ.get(NO_AUDIT) != "1",
    )
    from authbridge.config import load_settings
    from authbridge.web.app import create_app
    from authbridge.web.observability import configure_logging
    from authbridge.web.services import Services

    settings = load_settings(Path(config), {})
    configure_logging(settings.logging.level, settings.logging.format)
    services = Services(settings)
    app = create_app(settings, services=services)
    services.start(wait=True)
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115  # the access log's and audit's lines
    try:
        yield Driver(app, tokens)
    finally:
        services.stop()


GRANTS = ("client_credentials", "refresh_grant")


def child_count(calls: int, database: str | None) -> None:
    """Run under callgrind: each grant type's calls between two marker system calls."""
    with (
        tempfile.TemporaryDirectory(prefix="authbridge-bench-token-") as temp,
        in_process_app(Path(temp), database) as driver,
    ):

        async def run() -> None:
            for name in GRANTS:
                for index in range(30):  # warm: specialised bytecode, caches
                    await getattr(driver, name)(index)
            os.getppid()
            for name in GRANTS:
                for index in range(calls):
                    await getattr(driver, name)(index)
                os.getpgrp()

        asyncio.run(run())
    print("|".join(GRANTS))


def instruction_counts(calls: int, database: str | None) -> None:
    command = [sys.executable, __file__, "--child-count", str(calls)]
    if database:
        command += ["--database", database]
    totals = instructions(command)
    where = "PostgreSQL" if database else "SQLite"
    print(f"instructions per grant (callgrind, in process, {where}, {calls} grants each)")
    for name, total in totals.items():
        print(f"  {name:20} {total / calls:12,.0f}")


def cpu_per_grant(rounds: int, calls: int, database: str | None) -> None:
    """Best of `rounds` rounds: the least CPU a round took is the one least disturbed."""
    with (
        tempfile.TemporaryDirectory(prefix="authbridge-bench-token-") as temp,
        in_process_app(Path(temp), database) as driver,
    ):
        import authbridge

        async def run() -> dict[str, tuple[float, float]]:
            best: dict[str, tuple[float, float]] = {}
            for name in GRANTS:
                grant = getattr(driver, name)
                for index in range(30):
                    await grant(index)
            for _ in range(rounds):
                for name in GRANTS:
                    grant = getattr(driver, name)
                    thread, process = time.thread_time(), time.process_time()
                    for index in range(calls):
                        await grant(index)
                    spent = (time.thread_time() - thread, time.process_time() - process)
                    old = best.get(name, spent)
                    best[name] = (min(old[0], spent[0]), min(old[1], spent[1]))
            return best

        best = asyncio.run(run())
    where = "PostgreSQL" if database else "SQLite"
    print(f"µs of CPU per grant ({where}, best of {rounds} x {calls}; {authbridge.__file__})")
    print(f"  {'':20} {'loop thread':>12} {'process':>10}")
    for name, (thread, process) in best.items():
        print(f"  {name:20} {1e6 * thread / calls:12,.0f} {1e6 * process / calls:10,.0f}")


def child_loop(name: str, seconds: float, database: str | None) -> None:
    """The grant in a loop for `seconds` (py-spy attaches to this process)."""
    with (
        tempfile.TemporaryDirectory(prefix="authbridge-bench-token-") as temp,
        in_process_app(Path(temp), database) as driver,
    ):

        async def run() -> None:
            grant = getattr(driver, name)
            index = 0
            print("ready", flush=True)
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                await grant(index)
                index += 1
            print(f"{index / seconds:.0f}/s", flush=True)

        asyncio.run(run())


def profile(seconds: float, database: str | None, top: int) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    for name in GRANTS:
        command = [sys.executable, __file__, "--child-loop", name, "--seconds", str(seconds)]
        drop: Callable[[], None] | None = None
        if database:
            # Each child seeds its own database (the same users twice would conflict).
            child_database, drop = postgres_database(database)
            command += ["--database", child_database]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        # The app's own start-up log lines come first (logging goes to stdout).
        while (line := child.stdout.readline()) and line.strip() != "ready":
            pass
        assert line, "the child loop ended before it was ready"
        with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
            subprocess.run(
                [
                    py_spy,
                    "record",
                    "--format",
                    "raw",
                    "--rate",
                    "500",
                    "--duration",
                    str(max(1, int(seconds) - 1)),
                    "--pid",
                    str(child.pid),
                    "--output",
                    raw.name,
                ],
                check=True,
                capture_output=True,
            )
            rate = child.stdout.readline().strip()
            child.wait()
            if drop is not None:
                drop()
            inclusive: Counter[str] = Counter()
            total = 0
            for line in Path(raw.name).read_text().splitlines():
                stack, _, count_text = line.rpartition(" ")
                if "Thread._bootstrap" in stack:
                    continue  # another thread (grant threads, audit writer, housekeeping)
                count = int(count_text)
                total += count
                for frame in set(stack.split(";")):
                    inclusive[re.sub(r" \(/[^)]*/(site-packages|src)/", " (", frame)] += count
        print(f"\n{name}: {rate} in the loop; busiest frames (inclusive share of the main")
        print("thread's samples: the event loop's, and its greenlets')")
        for frame, count in inclusive.most_common(top):
            print(f"  {100 * count / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--no-audit", action="store_true", help="the audit log off")
    parser.add_argument(
        "--database",
        help="PostgreSQL server URL (a throw-away database is made there); SQLite if absent",
    )
    parser.add_argument("--profile", type=float, help="py-spy for this many seconds per grant")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--cpu", type=int, help="CPU per grant, best of this many rounds")
    parser.add_argument("--child-count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-loop", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.no_audit:
        os.environ[NO_AUDIT] = "1"
    if args.child_count:
        child_count(args.child_count, args.database)
    elif args.child_loop:
        child_loop(args.child_loop, args.seconds, args.database)
    elif args.database:
        url, drop = postgres_database(args.database)
        try:
            args.database = url
            run(args)
        finally:
            drop()
    else:
        run(args)


def run(args: argparse.Namespace) -> None:
    if args.cpu:
        cpu_per_grant(args.cpu, args.calls, args.database)
    elif args.profile:
        profile(args.profile, args.database, args.top)
    else:
        instruction_counts(args.calls, args.database)


if __name__ == "__main__":
    main()
