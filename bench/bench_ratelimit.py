"""Rate-limit counters on the database vs Redis, in one run: the throttle work of one failed
password sign-in and of one failed client authentication at the token endpoint.

    python bench/bench_ratelimit.py [--seconds 2] [--rounds 3] [--threads 1,8]
        [--postgres URL] [--redis URL]

Backends (each the implementation `storage.counters.counters_for` wires):
  sqlite    the rate-limit table in a SQLite file (WAL), the embedded default;
  postgres  the same table on PostgreSQL (--postgres, default $AUTHBRIDGE_TEST_DATABASE_URL;
            a throwaway database is created and dropped);
  redis     Redis (--redis, default $AUTHBRIDGE_TEST_REDIS_URL or redis://127.0.0.1:6379/0),
            under a throwaway key prefix deleted at the end.
Paths, through the real throttles (`directory/throttle.py`), limits set out of reach so
every call does the full work:
  signin    `SignInThrottle.check` (one read of three counters) + `.failed` (three hits);
  token     `CredentialThrottle.check` + `.failed` for an OAuth client (two hits; the reads
            start after this process's first failure for the key, as on a replica).
Each (backend, path, threads) cell runs `--seconds` per round; rounds interleave the
backends so machine drift hits all alike; the median round is printed: operations/s and
p50/p99 latency of one path, and each backend's rate over sqlite's. It also checks that
with Redis the database's counter table stayed empty.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from served import postgres_database  # noqa: E402

from authbridge.clock import utcnow  # noqa: E402
from authbridge.config.model import RateLimitSettings, RedisSettings  # noqa: E402
from authbridge.directory.throttle import (  # noqa: E402
    CredentialLimits,
    CredentialThrottle,
    SignInThrottle,
)
from authbridge.storage import Storage  # noqa: E402
from authbridge.storage.counters import Counters, counters_for  # noqa: E402

HIGH = 10**9  # limits out of reach: every call counts and reads, none is refused early


def paths(counters: Counters) -> dict[str, Callable[[int], None]]:
    """One failed attempt per call; `n` picks the account/client and the address."""
    signin = SignInThrottle(
        counters.rate,
        RateLimitSettings(per_account_and_address=HIGH, per_address=HIGH, per_account=HIGH),
    )
    token = CredentialThrottle(counters.rate, "oauth-client", CredentialLimits(60, HIGH, HIGH))

    def failed_sign_in(n: int) -> None:
        account, address = f"user{n % 5000}@example.com", f"10.0.{n % 200}.{n % 250}"
        signin.check(account, address)
        signin.failed(account, address)

    def failed_client(n: int) -> None:
        client, address = f"client-{n % 500}", f"10.1.{n % 200}.{n % 250}"
        token.check(client, address)
        token.failed(client, address)

    return {"signin": failed_sign_in, "token": failed_client}


def run_cell(
    call: Callable[[int], None], threads: int, seconds: float
) -> tuple[float, list[float]]:
    """Operations per second over `seconds`, and every operation's latency."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(threads)

    def worker(index: int) -> None:
        mine = latencies[index]
        n = index * 1_000_003
        barrier.wait()
        while True:
            began = time.perf_counter()
            if began >= stop:
                return
            call(n)
            mine.append(time.perf_counter() - began)
            n += 1

    began = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - began
    flat = [value for per_thread in latencies for value in per_thread]
    return len(flat) / elapsed, flat


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,8")
    parser.add_argument("--postgres", default=os.environ.get("AUTHBRIDGE_TEST_DATABASE_URL"))
    parser.add_argument(
        "--redis", default=os.environ.get("AUTHBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]

    import redis

    work = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    prefix = f"authbridge-bench:{uuid.uuid4().hex[:10]}:"
    backends: dict[str, Counters] = {}
    closers: list[Callable[[], None]] = []
    stack = ExitStack()
    try:
        sqlite = Storage.open(f"sqlite:///{work / 'bench.db'}")
        closers.append(sqlite.db.dispose)
        backends["sqlite"] = counters_for(sqlite.rate_limits, RedisSettings())
        if args.postgres:
            pg_url, drop = postgres_database(args.postgres)
            stack.callback(drop)
            pg = Storage.open(pg_url, pool_size=max(thread_counts) + 2)
            closers.append(pg.db.dispose)
            backends["postgres"] = counters_for(pg.rate_limits, RedisSettings())
        else:
            print("postgres: skipped (no --postgres URL)")
        # The Redis backend's own database must stay empty of counters: checked at the end.
        beside = Storage.open(f"sqlite:///{work / 'beside-redis.db'}")
        closers.append(beside.db.dispose)
        backends["redis"] = counters_for(
            beside.rate_limits, RedisSettings(url=args.redis, key_prefix=prefix)
        )
        assert backends["redis"].ping is not None
        backends["redis"].ping()

        results: dict[tuple[str, str, int], list[tuple[float, float, float]]] = {}
        names = list(backends)
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for threads in thread_counts:
                for path in ("signin", "token"):
                    for name in order:
                        call = paths(backends[name])[path]
                        call(0)  # warm: connections, prepared statements, the Lua script
                        rate, latencies = run_cell(call, threads, args.seconds)
                        results.setdefault((path, name, threads), []).append(
                            (rate, percentile(latencies, 0.5), percentile(latencies, 0.99))
                        )

        print(
            f"\n{'path':7} {'threads':>7} {'backend':9} {'ops/s':>9} {'p50 ms':>8} "
            f"{'p99 ms':>8} {'vs sqlite':>9}"
        )
        for path in ("signin", "token"):
            for threads in thread_counts:
                base = statistics.median(r[0] for r in results[(path, "sqlite", threads)])
                for name in names:
                    rounds = results[(path, name, threads)]
                    rate = statistics.median(r[0] for r in rounds)
                    p50 = statistics.median(r[1] for r in rounds) * 1000
                    p99 = statistics.median(r[2] for r in rounds) * 1000
                    print(
                        f"{path:7} {threads:>7} {name:9} {rate:>9.0f} {p50:>8.3f} "
                        f"{p99:>8.3f} {rate / base:>8.2f}x"
                    )
        leftover = beside.rate_limits.garbage_collect(utcnow() + timedelta(days=2), batch=10**6)
        print(f"\nrate-limit rows in the database beside Redis after the run: {leftover}")
        return 0 if leftover == 0 else 1
    finally:
        for close in closers:
            close()
        for counters in backends.values():
            if counters.close is not None:
                counters.close()
        stack.close()
        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        for start in range(0, len(keys), 1000):
            client.delete(*keys[start : start + 1000])
        client.close()


if __name__ == "__main__":
    sys.exit(main())
