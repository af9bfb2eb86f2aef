"""Token-endpoint throughput: refresh-token grants/s (rotation persisted) and
client-credentials grants/s, next to a peer measured in the same run.

    python bench/bench_provider.py [--seconds 10] [--concurrency 32] [--workers auto]
    python bench/bench_provider.py --audit [--rounds 10] [--seconds 4] [--database URL]

`--audit`: refresh and client_credentials grants/s with the audit log on and off, in one
run (two servers, same seed, started anew each round and measured in alternating order
on/off/off/on/...; the ratio of the medians and the median of the rounds' ratios; goal:
on within 5% of off by both). Logging at `info` (the default), so "on" also pays the
event's JSON line. With `--database`, each server on its own throw-away
PostgreSQL database, and the ratio also per CPU-second of authbridge and PostgreSQL
together (the audit rows' INSERTs run in PostgreSQL's backends).

One run measures, on this machine, each over HTTP/1.1 keep-alive on loopback:

(a) authbridge (`authbridge serve --workers N`, SQLite file in WAL mode): every refresh
    grant rotates its token in the database (one transaction: conditional UPDATE of the old
    token, INSERT of the new one, user and roles read) and signs an ES256 RFC 9068 token;
(b) the peer: panva's `oidc-provider` (npm, Node) in bench/peer/, ES256 JWT access tokens,
    rotateRefreshToken on, in-memory storage (it persists nothing), one Node process;
(c) the ceiling: raw ES256 signatures per second with `cryptography`, one thread.

Each virtual client holds its own refresh-token family and always presents the newest
token. Prints grants/s, p50/p99 latency, the servers' CPU-seconds and grants per server
CPU-second (the load generator shares the cores), and the ratios. Goal on 2 cores:
>= 1,000 refresh grants/s with p99 < 50 ms.

Needs `npm install` in bench/peer (done on first run; node_modules is git-ignored).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PEER = ROOT / "bench" / "peer"
SECRET = "bench-secret-" + "0123456789abcdef" * 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GOAL_RATE, GOAL_P99 = 1000.0, 0.050


# Seconds a server may take to answer: generous, a loaded shared machine starts slowly.
START_TIMEOUT = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_cpu() -> float:
    """CPU-seconds of every PostgreSQL server process on this machine (its backends do the
    statements' work; shown beside the server's own with `--database`)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def tree_cpu(pid: int) -> float:
    """CPU-seconds of a process and its children (the workers of `serve`)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        this = int(stat.parent.name)
        if this == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def wait_port(port: int, path: bytes, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if b" 200 " in sock.recv(200):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not become ready")


# -- authbridge -------------------------------------------------------------------------------
# `authbridge serve`, from this tree's src/ (the bench measures its own checkout).
SERVE = "import sys; from authbridge.cli.main import app; sys.argv[0] = 'authbridge'; app()"


def seed_authbridge(
    workdir: Path,
    port: int,
    families: int,
    *,
    audit: bool = True,
    log_level: str = "warning",
    database: str | None = None,
) -> tuple[list[str], str]:
    """Config, schema, a user with `families` refresh-token families, a service account;
    on `database` (an empty PostgreSQL database's URL), else on a SQLite file."""
    from authbridge.clock import utcnow
    from authbridge.config import load_settings
    from authbridge.provider.secrets import digest, new_value
    from authbridge.storage import Storage
    from authbridge.storage.provider_store import ClientRow, ProviderStore, RefreshRow

    db = workdir / "bench.db"
    config = workdir / "authbridge.yaml"
    config.write_text(
        f"server:\n  issuer: http://127.0.0.1:{port}\n"
        f"database:\n  url: {database or f'sqlite:///{db}'}\n"
        f"logging:\n  level: {log_level}\n"
        f"audit:\n  enabled: {'true' if audit else 'false'}\n"
        f"clients:\n  bench:\n    secret: {SECRET}\n"
        "    redirectUris: ['https://rp.example/cb']\n"
    )
    settings = load_settings(config, {})
    storage = Storage.open(settings.database.url)
    store = ProviderStore(storage.db)
    user = storage.users.create(
        username="ada@example.com", email="ada@example.com", roles=["viewer"]
    )
    now = utcnow()
    tokens = []
    for index in range(families):
        token = new_value()
        store.add_refresh(
            digest(token),
            RefreshRow(
                family_id=f"family-{index}",
                client_id="bench",
                user_id=user.id,
                scope="openid email",
                auth_time=int(now.timestamp()),
                family_expires_at=now + timedelta(days=30),
                idle_expires_at=now + timedelta(days=7),
            ),
        )
        tokens.append(token)
    robot = storage.users.create(username="service:etl", kind="service", roles=["editor"])
    store.add_client(
        ClientRow(
            "sa-etl",
            grant_types=("client_credentials",),
            secret_hash=digest(SECRET),
            service_user_id=robot.id,
        )
    )
    storage.db.dispose()
    return tokens, str(config)


def start_authbridge(
    workdir: Path, port: int, config: str, workers: int
) -> subprocess.Popen[bytes]:
    """`authbridge serve --workers N` as an operator runs it (its supervisor and its
    listening sockets, web/workers.py), on the seeded configuration."""
    env = {k: v for k, v in os.environ.items() if "__" not in k}
    env.update(PYTHONPATH=str(ROOT / "src"), AUTHBRIDGE_SECRETS_DIR=str(workdir))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVE,
            "serve",
            "--config",
            config,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, b"/readyz", process)
    # Every worker listening on its own socket (web/listeners.py), not the first one only:
    # a worker still starting would leave its share of the load to the other at first.
    deadline = time.monotonic() + START_TIMEOUT
    while _listening(port) < workers and time.monotonic() < deadline:
        time.sleep(0.2)
    return process


def _listening(port: int) -> int:
    """How many sockets listen on `port` (Linux's TCP table: state 0A)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            return 1_000_000  # not Linux: no way to tell, do not wait
        for line in lines:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                count += 1
    return count


# -- the peer ---------------------------------------------------------------------------------
def start_peer(port: int, families: int) -> tuple[subprocess.Popen[bytes], list[str]]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    if not (PEER / "node_modules" / "oidc-provider").is_dir():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=PEER, check=True
        )
    process = subprocess.Popen(
        [node, "oidc_peer.mjs", str(port), SECRET, str(families)],
        cwd=PEER,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError("oidc-provider did not start")
    return process, list(json.loads(line)["refresh_tokens"])


# -- load -------------------------------------------------------------------------------------
@dataclass
class Connection:
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: str, authorization: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = body.encode()
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: {authorization}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, chunked = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            payload = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                payload += chunk[:-2]
            return status, payload
        return status, await self.reader.readexactly(length) if length else b""


@dataclass
class Result:
    name: str
    grants: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0  # PostgreSQL's processes, over the same span

    @property
    def rate(self) -> float:
        return self.grants / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    @property
    def per_cpu(self) -> float:
        return self.grants / self.server_cpu if self.server_cpu else 0.0


async def run_load(
    name: str,
    port: int,
    path: str,
    bodies: list[str] | None,
    seconds: float,
    concurrency: int,
    basic: str,
    pid: int,
    cc_body: str,
) -> Result:
    result = Result(name)
    stop = time.perf_counter() + seconds
    warm = time.perf_counter() + min(1.0, seconds / 5)
    counting = False
    cpu_start = 0.0
    database_start = 0.0
    began = 0.0

    async def worker(index: int) -> None:
        nonlocal counting, cpu_start, began, database_start
        conn = Connection(port)
        refresh = bodies[index] if bodies is not None else None
        while (now := time.perf_counter()) < stop:
            if not counting and now >= warm:
                counting, cpu_start, began = True, tree_cpu(pid), now
                database_start = postgres_cpu()
            body = (
                f"grant_type=refresh_token&refresh_token={quote(refresh)}"
                if refresh is not None
                else cc_body
            )
            t0 = time.perf_counter()
            status, payload = await conn.post(path, body, basic)
            elapsed = time.perf_counter() - t0
            if status == 200:
                if refresh is not None:
                    refresh = json.loads(payload)["refresh_token"]
                    assert bodies is not None
                    bodies[index] = refresh  # the next round goes on from the newest
                if counting:
                    result.grants += 1
                    result.latencies.append(elapsed)
            else:
                result.errors += 1
                if result.errors < 3:
                    print(f"  {name}: HTTP {status} {payload[:200]!r}")
                if refresh is not None:
                    return  # a family that failed once is dead (as it should be)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.seconds = time.perf_counter() - began
    result.server_cpu = tree_cpu(pid) - cpu_start
    result.database_cpu = postgres_cpu() - database_start
    return result


def es256_ceiling(seconds: float) -> float:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    message = b"x" * 600  # about the signing input of a platform access token
    count, stop = 0, time.perf_counter() + seconds
    began = time.perf_counter()
    while time.perf_counter() < stop:
        key.sign(message, ec.ECDSA(hashes.SHA256()))
        count += 1
    return count / (time.perf_counter() - began)


def basic(client_id: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()


def report(rows: list[Result]) -> None:
    print(
        f"\n{'':34} {'grants/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
        f"{'srv CPU-s':>9} {'grants/CPU-s':>12}"
    )
    for row in rows:
        print(
            f"{row.name:34} {row.rate:9.0f} {row.percentile(0.5) * 1000:8.1f} "
            f"{row.percentile(0.99) * 1000:8.1f} {row.errors:6d} {row.server_cpu:9.1f} "
            f"{row.per_cpu:12.0f}"
        )


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def audit_comparison(args: argparse.Namespace) -> None:
    """Refresh and client_credentials grants/s with the audit log on and off, two servers
    in one run, each on its own SQLite file or (`--database`) throw-away PostgreSQL
    database."""
    where = "PostgreSQL" if args.database else "SQLite (WAL)"
    print(
        f"{os.cpu_count()} CPUs; {args.concurrency} connections; {args.rounds} rounds of "
        f"{args.seconds:.0f}s per server and grant; authbridge serve with {args.workers} "
        f"worker(s), {where}, logging at info"
    )
    grants = ("refresh", "client_credentials")
    results: dict[tuple[str, str], list[Result]] = {
        (grant, mode): [] for grant in grants for mode in ("on", "off")
    }
    databases: dict[str, tuple[str | None, Callable[[], None] | None]] = {}
    if args.database:
        from served import postgres_database

        for mode in ("on", "off"):
            databases[mode] = postgres_database(args.database)
    with (
        tempfile.TemporaryDirectory(prefix="authbridge-bench-on-") as on_dir,
        tempfile.TemporaryDirectory(prefix="authbridge-bench-off-") as off_dir,
    ):
        # Each mode's seed (its directory, port, refresh tokens, config), made once.
        seeds: dict[str, tuple[Path, int, list[str], str]] = {}
        for mode, temp in (("on", on_dir), ("off", off_dir)):
            port = free_port()
            tokens, config = seed_authbridge(
                Path(temp),
                port,
                args.concurrency,
                audit=mode == "on",
                log_level="info",
                database=databases.get(mode, (None, None))[0],
            )
            seeds[mode] = (Path(temp), port, tokens, config)
        # Every round starts both servers anew: one process of the same code can run a few
        # percent faster or slower than another for all its life (its memory layout, its
        # hash seed), as much as the audit log costs; an A/A run of two "on" servers read
        # 0.97 to 1.03. New processes each round average that out. Rounds alternate their
        # order (on off, off on, ...): a drift of the machine's speed falls on both alike.
        for round_ in range(args.rounds):
            order = ("on", "off") if round_ % 2 == 0 else ("off", "on")
            servers: dict[str, subprocess.Popen[bytes]] = {}
            try:
                for mode in ("on", "off"):
                    temp, port, _tokens, config = seeds[mode]
                    servers[mode] = start_authbridge(temp, port, config, args.workers)
                for grant in grants:
                    for mode in order:
                        _temp, port, tokens, _config = seeds[mode]
                        server = servers[mode]
                        refresh = grant == "refresh"
                        result = asyncio.run(
                            run_load(
                                f"{grant}, audit {mode} (round {round_ + 1})",
                                port,
                                "/oauth2/token",
                                tokens if refresh else None,
                                args.seconds,
                                args.concurrency,
                                basic("bench" if refresh else "sa-etl"),
                                server.pid,
                                "" if refresh else "grant_type=client_credentials",
                            )
                        )
                        results[grant, mode].append(result)
            finally:
                for server in servers.values():
                    server.terminate()
                    server.wait(timeout=20)
        # What the audit log stored, read from the "on" server's database afterwards.
        stored = _audit_rows(Path(on_dir), databases.get("on", (None, None))[0])
    for _url, drop in databases.values():
        if drop is not None:
            drop()
    met = True
    for grant in grants:
        on_runs, off_runs = results[grant, "on"], results[grant, "off"]
        report([r for pair in zip(on_runs, off_runs, strict=True) for r in pair])
        on = median([r.rate for r in on_runs])
        off = median([r.rate for r in off_runs])
        on_cpu = median([r.per_cpu for r in on_runs])
        off_cpu = median([r.per_cpu for r in off_runs])
        print(f"\nmedian {grant} grants/s: audit on {on:,.0f}, audit off {off:,.0f}")
        print(
            f"audit on / off: {on / off:.3f} per wall-second, {on_cpu / off_cpu:.3f} per "
            "server CPU-second (ratio of the medians)"
        )
        # Each round's on and off ran back to back: their ratio cancels a drift of the
        # machine's speed over the run, which moves the medians of either side by more
        # than the audit log costs (rounds of one run read 1,600 to 2,800 grants/s).
        wall = median([a.rate / b.rate for a, b in zip(on_runs, off_runs, strict=True)])
        cpu = median([a.per_cpu / b.per_cpu for a, b in zip(on_runs, off_runs, strict=True)])
        print(
            f"audit on / off: {wall:.3f} per wall-second, {cpu:.3f} per server CPU-second "
            "(median of the rounds' ratios)"
        )
        met = met and min(on / off, on_cpu / off_cpu, wall, cpu) >= 0.95
        if args.database:
            # The audit rows' INSERTs run in PostgreSQL's backends: counted with the server's.
            both_on = median([r.grants / (r.server_cpu + r.database_cpu) for r in on_runs])
            both_off = median([r.grants / (r.server_cpu + r.database_cpu) for r in off_runs])
            ratio = both_on / both_off
            print(f"audit on / off per CPU-second of authbridge and PostgreSQL: {ratio:.3f}")
            met = met and ratio >= 0.95
    print(f"\nevents stored by the 'on' server: {stored:,}")
    print(f"goal (on within 5% of off, per wall- and CPU-second): {'met' if met else 'not met'}")


def _audit_rows(workdir: Path, database: str | None) -> int:
    if database is not None:
        from sqlalchemy import create_engine, text

        from authbridge.storage.database import engine_url

        engine = create_engine(engine_url(database))
        try:
            with engine.connect() as connection:
                return int(
                    connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one()
                )
        finally:
            engine.dispose()
    import sqlite3

    with sqlite3.connect(workdir / "bench.db") as connection:
        return int(connection.execute("SELECT count(*) FROM audit_events").fetchone()[0])


def _workers(option: str, database: str | None) -> int:
    """The processes `authbridge serve --workers OPTION` runs on this database."""
    from authbridge.config.workers import shares_changes, worker_count

    if option != "auto":
        return int(option)
    url = "postgresql://" if database else "sqlite://"
    return worker_count("auto", changes_shared=shares_changes(url, None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--workers",
        default="auto",
        help="worker processes of `authbridge serve`, or auto (the default: what `serve "
        "--workers auto` runs, 1 on SQLite alone, the CPUs on PostgreSQL)",
    )
    parser.add_argument(
        "--audit", action="store_true", help="grants/s with the audit log on and off"
    )
    parser.add_argument(
        "--rounds", type=int, default=10, help="rounds, each on new servers (--audit)"
    )
    parser.add_argument(
        "--database",
        metavar="URL",
        help="run authbridge on a throw-away database of this PostgreSQL server (default: "
        "a SQLite file)",
    )
    args = parser.parse_args()
    args.workers = _workers(args.workers, args.database)
    if args.audit:
        audit_comparison(args)
        return
    where = "PostgreSQL" if args.database else "SQLite"
    print(
        f"{os.cpu_count()} CPUs; {args.concurrency} connections; {args.seconds:.0f}s per "
        f"measurement; authbridge serve with {args.workers} worker(s), {where}"
    )
    rows: list[Result] = []
    database, drop = None, None
    if args.database:
        from served import postgres_database

        database, drop = postgres_database(args.database)
    with tempfile.TemporaryDirectory(prefix="authbridge-bench-") as temp:
        workdir = Path(temp)
        port = free_port()
        tokens, config = seed_authbridge(workdir, port, args.concurrency, database=database)
        server = start_authbridge(workdir, port, config, args.workers)
        try:
            rows.append(
                asyncio.run(
                    run_load(
                        f"authbridge refresh (rotated, {where})",
                        port,
                        "/oauth2/token",
                        tokens,
                        args.seconds,
                        args.concurrency,
                        basic("bench"),
                        server.pid,
                        "",
                    )
                )
            )
            rows.append(
                asyncio.run(
                    run_load(
                        "authbridge client_credentials",
                        port,
                        "/oauth2/token",
                        None,
                        args.seconds,
                        args.concurrency,
                        basic("sa-etl"),
                        server.pid,
                        "grant_type=client_credentials",
                    )
                )
            )
        finally:
            server.terminate()
            server.wait(timeout=20)
            if drop is not None:
                drop()
    peer_rows: list[Result] = []
    try:
        peer_port = free_port()
        peer, peer_tokens = start_peer(peer_port, args.concurrency)
        try:
            wait_port(peer_port, b"/.well-known/openid-configuration", peer)
            peer_rows.append(
                asyncio.run(
                    run_load(
                        "oidc-provider refresh (in memory)",
                        peer_port,
                        "/token",
                        peer_tokens,
                        args.seconds,
                        args.concurrency,
                        basic("bench"),
                        peer.pid,
                        "",
                    )
                )
            )
            peer_rows.append(
                asyncio.run(
                    run_load(
                        "oidc-provider client_credentials",
                        peer_port,
                        "/token",
                        None,
                        args.seconds,
                        args.concurrency,
                        basic("bench"),
                        peer.pid,
                        "grant_type=client_credentials&scope=api",
                    )
                )
            )
        finally:
            peer.terminate()
            peer.wait(timeout=20)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"peer unavailable ({exc}); only the ES256 ceiling is the baseline")
    ceiling = es256_ceiling(min(3.0, args.seconds))
    report(rows + peer_rows)
    print(f"\nES256 ceiling (cryptography, 1 thread): {ceiling:,.0f} signatures/s")
    ours_refresh, ours_cc = rows
    for label, mine, index in (("refresh", ours_refresh, 0), ("client_credentials", ours_cc, 1)):
        line = f"{label}: {mine.rate / ceiling:.2f} x the 1-thread ES256 ceiling"
        if peer_rows:
            peer_row = peer_rows[index]
            line += (
                f"; {mine.rate / peer_row.rate:.2f} x oidc-provider per wall-second, "
                f"{mine.per_cpu / peer_row.per_cpu:.2f} x per server CPU-second"
            )
        print(line)
    if args.database:
        for mine in rows:
            print(
                f"{mine.name}: PostgreSQL's processes {mine.database_cpu:.1f} CPU-s, "
                f"{mine.database_cpu / max(1, mine.grants) * 1e6:.0f} µs per grant"
            )
    ok = ours_refresh.rate >= GOAL_RATE and ours_refresh.percentile(0.99) < GOAL_P99
    print(
        f"goal (>= {GOAL_RATE:.0f} refresh grants/s, p99 < {GOAL_P99 * 1000:.0f} ms): "
        f"{'met' if ok else 'not met'}"
    )


if __name__ == "__main__":
    main()
