"""Password sign-ins per second against the real server, next to the argon2id ceiling.

    python bench/bench_signin.py [--seconds 10] [--concurrency 8] [--rounds 3]

One run measures, on this machine:

(a) the ceiling: argon2id verifications per second with the configured cost
    (auth.local.passwordHash: m=19456 KiB, t=2, p=1 by default), one thread per core
    (argon2-cffi releases the GIL), measured while nothing else runs;
(b) complete password sign-ins per second against `authbridge serve` (uvicorn on loopback,
    SQLite file, default configuration: JSON access log at info, written to /dev/null):
    each sign-in is a fresh browser that GETs /login (CSRF cookie and token),
    then POSTs the credentials and gets its 303 and session cookie; redirects not followed.
    The client is plain asyncio sockets with keep-alive, `--concurrency` at once.

(a) and (b) alternate, a ceiling before and after each of `--rounds` sign-in rounds; each
round is judged against the higher of its two neighbouring ceilings, and the medians over
the rounds are the figures. It prints both, their ratio (goal: sign-ins reach 80% of the
ceiling), and, because the load generator shares the cores with the server, the CPU each
side used and the ratio per CPU-second (sign-ins per server CPU-second over verifications
per CPU-second), which does not depend on how much CPU the client took.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import served
from argon2 import PasswordHasher, Type

from authbridge.config.model import PasswordHashSettings

PASSWORD = "correct horse battery staple " + secrets.token_hex(4)
CSRF_FIELD = re.compile(rb'name="csrf_token" value="([^"]+)"')
GOAL = 0.80
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- (a) the argon2id ceiling ------------------------------------------------------------------
def argon2_ceiling(seconds: float, threads: int) -> Ceiling:
    """Verifications per second with `threads` threads verifying the same stored hash."""
    cost = PasswordHashSettings()
    hasher = PasswordHasher(
        time_cost=cost.time_cost,
        memory_cost=cost.memory_cost,
        parallelism=cost.parallelism,
        type=Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    counts = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(index: int) -> None:
        start.wait()
        while not stop.is_set():
            hasher.verify(stored, PASSWORD)
            counts[index] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began, cpu_began = time.perf_counter(), own_cpu()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    done = sum(counts)
    return Ceiling(done / (time.perf_counter() - began), (own_cpu() - cpu_began) / done)


@dataclass(frozen=True)
class Ceiling:
    per_second: float  # wall clock, all threads
    cpu_per_verify: float  # CPU-seconds one verification costs (independent of neighbours)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


# -- the server -------------------------------------------------------------------------------
def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    return served.start_server(workdir, DATABASE__URL=f"sqlite:///{workdir / 'bench.db'}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# -- (b) the load generator ----------------------------------------------------------------------
@dataclass
class Connection:
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, list[bytes]], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get(b"content-length", [b"0"])[0])
        body = await self.reader.readexactly(length) if length else b""
        return status, headers, body


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def sign_in_once(conn: Connection, username: str, tally: Tally) -> None:
    host = f"127.0.0.1:{conn.port}".encode()
    status, headers, body = await conn.request(
        b"GET /login HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
    )
    cookie = next(
        (c.split(b";", 1)[0] for c in headers.get(b"set-cookie", []) if b"_csrf=" in c), b""
    )
    match = CSRF_FIELD.search(body)
    if status != 200 or not match or not cookie:
        tally.failed += 1
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        return
    form = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrf_token": match.group(1).decode()}
    ).encode()
    status, _headers, _body = await conn.request(
        b"POST /login HTTP/1.1\r\nHost: "
        + host
        + b"\r\nOrigin: http://"
        + host
        + b"\r\nCookie: "
        + cookie
        + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
        + str(len(form)).encode()
        + b"\r\n\r\n"
        + form
    )
    if status == 303:
        tally.ok += 1
    else:
        tally.failed += 1
        tally.statuses[status] = tally.statuses.get(status, 0) + 1


async def create_users(port: int, count: int) -> list[str]:
    users = []
    conn = Connection(port)
    host = f"127.0.0.1:{port}".encode()
    for index in range(count):
        username = f"bench{index}@example.com"
        _s, headers, body = await conn.request(
            b"GET /signup HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"
        )
        cookie = next(c.split(b";", 1)[0] for c in headers[b"set-cookie"] if b"_csrf=" in c)
        token = CSRF_FIELD.search(body)
        assert token
        form = urllib.parse.urlencode(
            {"email": username, "password": PASSWORD, "csrf_token": token.group(1).decode()}
        ).encode()
        status, _h, _b = await conn.request(
            b"POST /signup HTTP/1.1\r\nHost: "
            + host
            + b"\r\nOrigin: http://"
            + host
            + b"\r\nCookie: "
            + cookie
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
            + str(len(form)).encode()
            + b"\r\n\r\n"
            + form
        )
        assert status == 303, f"sign-up failed: {status}"
        users.append(username)
    return users


async def load(
    port: int, users: list[str], concurrency: int, seconds: float
) -> tuple[Tally, float]:
    tally = Tally()
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        conn = Connection(port)
        n = 0
        while time.perf_counter() < deadline:
            await sign_in_once(conn, users[(index + n) % len(users)], tally)
            n += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return tally, time.perf_counter() - began


def profile_start(pid: int, seconds: float, folder: Path) -> subprocess.Popen[bytes]:
    """py-spy (pip install py-spy) samples every server thread, native frames excluded."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen(
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-r",
            "250",
            "--format",
            "raw",
            "-o",
            str(folder / "profile.txt"),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_report(profiler: subprocess.Popen[bytes], collapsed: Path, top: int = 12) -> list[str]:
    """Where the server's busy samples went: each function's inclusive share."""
    profiler.wait(60)
    if not collapsed.exists():
        return ["    (py-spy produced no profile; is it installed and allowed to ptrace?)"]
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        # Idle threads (the pool waiting for work, the loop in select) are not busy time.
        if any(
            f.startswith(("wait (", "Condition.wait (", "Queue.get (", "select (", "_worker ("))
            or f.startswith("select ")
            for f in frames[-2:]
        ):
            continue
        count = int(count_text)
        total += count
        for frame in set(frames):
            name = (
                frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1]
            )
            inclusive[name] = inclusive.get(name, 0) + count
    lines = [f"    server profile (py-spy, {total} busy samples), inclusive share:"]
    plumbing = ("Thread._bootstrap", "WorkerThread.run", "Context.", "Command.", "TyperGroup.")
    ranked = [
        kv
        for kv in sorted(inclusive.items(), key=lambda kv: -kv[1])
        if not kv[0].startswith(plumbing)
    ]
    lines += [f"      {count / total:6.1%}  {name}" for name, count in ranked[:top]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="sign-ins in flight")
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=3, help="sign-in rounds, each between two ceilings"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the server with py-spy during (b)"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    cost = PasswordHashSettings()
    print(
        f"authbridge sign-in benchmark: {cores} cores, argon2id m={cost.memory_cost} KiB, "
        f"t={cost.time_cost}, p={cost.parallelism}"
    )

    one = argon2_ceiling(args.seconds / 2, 1)
    print(f"(a) argon2id verify, 1 thread:        {one.per_second:7.1f} /s")
    ceilings = [argon2_ceiling(args.seconds / 2, cores)]
    _print_ceiling(cores, ceilings[-1])
    rounds: list[Round] = []
    profile: list[str] = []
    with tempfile.TemporaryDirectory(prefix="authbridge-bench-") as tmp:
        process, port = start_server(Path(tmp))
        try:
            users = asyncio.run(create_users(port, args.users))
            asyncio.run(load(port, users, args.concurrency, 2.0))  # warm-up
            for index in range(args.rounds):
                profiling = args.profile and index == 0
                measured = sign_in_round(process.pid, port, users, args, Path(tmp), profiling)
                rounds.append(measured)
                if rounds[-1].profiler is not None:
                    profile = profile_report(rounds[-1].profiler, Path(tmp) / "profile.txt")
                _print_round(index + 1, args.concurrency, cores, rounds[-1])
                # The server idles while the ceiling is measured between its rounds.
                ceilings.append(argon2_ceiling(args.seconds / 2, cores))
                _print_ceiling(cores, ceilings[-1])
        finally:
            process.terminate()
            process.wait(10)

    # Each round against the higher of the ceilings measured just before and just after it:
    # the machine's speed drifts over a minute, and a neighbour is at least as likely to slow
    # the ceiling as the sign-ins.
    wall, per_cpu = [], []
    for index, measured in enumerate(rounds):
        around = ceilings[index : index + 2]
        wall.append(measured.rate / max(c.per_second for c in around))
        per_cpu.append(min(c.cpu_per_verify for c in around) / measured.cpu_per_signin)
    listed = ", ".join(f"{r:.1%}" for r in wall)
    print(
        f"ratio sign-ins / ceiling (wall clock):  {statistics.median(wall):6.1%}  median of "
        f"{len(wall)} rounds ({listed}; goal {GOAL:.0%})"
    )
    listed = ", ".join(f"{r:.1%}" for r in per_cpu)
    print(
        f"ratio per CPU-second (argon2 / sign-in): {statistics.median(per_cpu):6.1%}  median "
        f"({listed}; the share of the server's work that is the password hash itself)"
    )
    for line in profile:
        print(line)
    if any(r.tally.failed for r in rounds):
        sys.exit(1)


@dataclass
class Round:
    tally: Tally
    elapsed: float
    server_cpu: float
    client_cpu: float
    busy: float
    machine_seconds: float
    profiler: subprocess.Popen[bytes] | None

    @property
    def rate(self) -> float:
        return self.tally.ok / self.elapsed

    @property
    def cpu_per_signin(self) -> float:
        return self.server_cpu / self.tally.ok if self.tally.ok else float("inf")


def sign_in_round(
    pid: int,
    port: int,
    users: list[str],
    args: argparse.Namespace,
    folder: Path,
    profile: bool,
) -> Round:
    server_before, client_before = cpu_seconds(pid), own_cpu()
    busy_before, total_before = machine_cpu()
    profiler = profile_start(pid, args.seconds, folder) if profile else None
    tally, elapsed = asyncio.run(load(port, users, args.concurrency, args.seconds))
    busy_after, total_after = machine_cpu()
    return Round(
        tally=tally,
        elapsed=elapsed,
        server_cpu=cpu_seconds(pid) - server_before,
        client_cpu=own_cpu() - client_before,
        busy=busy_after - busy_before,
        machine_seconds=total_after - total_before,
        profiler=profiler,
    )


def _print_ceiling(cores: int, ceiling: Ceiling) -> None:
    print(
        f"    argon2id verify, {cores} threads:      {ceiling.per_second:7.1f} /s  "
        f"({ceiling.cpu_per_verify * 1000:.1f} ms CPU each; load generator idle)"
    )


def _print_round(number: int, concurrency: int, cores: int, measured: Round) -> None:
    tally = measured.tally
    others = max(0.0, measured.busy - measured.server_cpu - measured.client_cpu)
    share = measured.machine_seconds
    print(
        f"(b) round {number}: password sign-ins (GET form + POST), {concurrency} in flight: "
        f"{measured.rate:7.1f} /s  ({tally.ok} in {measured.elapsed:.1f}s, {tally.failed} failed"
        f"{' ' + str(tally.statuses) if tally.statuses else ''})"
    )
    print(
        f"    CPU share of {cores} cores: server {measured.server_cpu / share:.0%}, load "
        f"generator {measured.client_cpu / share:.0%}, other processes {others / share:.0%}, "
        f"idle {1 - measured.busy / share:.0%}; server CPU per sign-in "
        f"{measured.cpu_per_signin * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
