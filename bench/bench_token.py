"""The token endpoint in process: instructions per grant (callgrind) and where its time goes.

    python bench/bench_token.py [--calls 100] [--database URL] [--profile SECONDS]

Builds the app as `authbridge serve` does (logging at `info`, audit log on), seeded by
bench_provider.py, and drives the ASGI app directly (no sockets, no HTTP parsing) with:

* a client_credentials grant (RFC 6749 §4.4) by the seeded service account, HTTP Basic;
* a refresh grant (RFC 6749 §6) presenting the newest token of a family, so every call
  rotates it in the database (the response's refresh_token is presented next).

Default: instructions per grant under valgrind's callgrind between marker system calls
(set-up excluded; no neighbour on a shared machine moves these). `--profile S`: samples the
same loop with py-spy for S seconds per grant type and prints the busiest functions
(inclusive, by share of samples). `--database`: PostgreSQL instead of a SQLite file (a
throw-away database is created on that server).
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_provider import basic, free_port, seed_authbridge
from served import postgres_database

CC_BODY = b"grant_type=client_credentials"
FAMILIES = 4


def _scope(client_id: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/oauth2/token",
        "raw_path": b"/oauth2/token",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
            (b"authorization", basic(client_id).encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


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
        workdir, free_port(), FAMILIES, log_level="info", database=database
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
    out_dir = Path(tempfile.mkdtemp(prefix="bench-token-"))
    command = [sys.executable, __file__, "--child-count", str(calls)]
    if database:
        command += ["--database", database]
    try:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_dir / 'cg'}",
                "--zero-before=getppid",
                "--dump-before=getpgrp",
                *command,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        names = done.stdout.strip().splitlines()[-1].split("|")
        where = "PostgreSQL" if database else "SQLite"
        print(f"instructions per grant (callgrind, in process, {where}, {calls} grants each)")
        for index, name in enumerate(names, start=1):
            text = (out_dir / f"cg.{index}").read_text()
            total = int(re.search(r"^summary: (\d+)", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
            print(f"  {name:20} {total / calls:12,.0f}")
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


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
        if database:
            command += ["--database", database]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
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
            inclusive: Counter[str] = Counter()
            total = 0
            for line in Path(raw.name).read_text().splitlines():
                stack, _, count_text = line.rpartition(" ")
                count = int(count_text)
                total += count
                for frame in set(stack.split(";")):
                    inclusive[re.sub(r" \(/[^)]*/(site-packages|src)/", " (", frame)] += count
        print(f"\n{name}: {rate} in the loop; busiest frames (inclusive share of samples)")
        for frame, count in inclusive.most_common(top):
            print(f"  {100 * count / total:5.1f}%  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument(
        "--database",
        help="PostgreSQL server URL (a throw-away database is made there); SQLite if absent",
    )
    parser.add_argument("--profile", type=float, help="py-spy for this many seconds per grant")
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--child-count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-loop", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
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
    if args.profile:
        profile(args.profile, args.database, args.top)
    else:
        instruction_counts(args.calls, args.database)


if __name__ == "__main__":
    main()
