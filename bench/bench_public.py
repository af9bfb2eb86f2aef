"""The public read endpoints (JWKS, discovery) next to oidc-provider's, in one run.

    python bench/bench_public.py [--seconds 8] [--connections 16] [--instructions]

Starts `authbridge serve` (one process, SQLite, logging at `info`: every request writes its
JSON access-log line, gets its request id and its latency sample) and panva's
`oidc-provider` (one Node process, bench/peer/), then drives each endpoint over HTTP/1.1
keep-alive on loopback with `wrk -t1 -c16 --latency` (`apt-get install -y wrk`), or, when wrk
is missing, with an asyncio load generator (which costs more CPU than wrk, so its wall-clock
figures are lower; the per-CPU-second ones are not affected). The endpoints are measured in
alternation (ours, peer, ours, ...) so a drift of the machine's speed falls on both.

Prints requests/s, p50/p99, the server's CPU-seconds and requests per server CPU-second, and
the ratios to oidc-provider's. The machine is shared: read the per-CPU-second ratio.

`--instructions` (needs valgrind) also counts instructions per request under callgrind,
in process (no HTTP parsing, no sockets): our ASGI app answering each document, next to a
bare ASGI callable that sends the same bytes (the floor for any Python server). No neighbour
moves these; the difference is what our stack (middlewares, routing, handler) costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_provider import (
    free_port,
    seed_authbridge,
    start_authbridge,
    start_peer,
    tree_cpu,
    wait_port,
)
from callgrind import instructions
from served import asgi_scope, token_scope

OURS = (
    ("jwks", "/api/v1/system/config/jwks"),
    ("discovery", "/.well-known/openid-configuration"),
    ("jwks (.well-known)", "/.well-known/jwks.json"),
)
PEER = (("jwks", "/jwks"), ("discovery", "/.well-known/openid-configuration"))
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * UNITS[unit]


def with_wrk(port: int, path: str, seconds: float, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--latency",
            f"http://127.0.0.1:{port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": requests,
        "errors": int(errors.group(1)) if errors else 0,
        "p50": _seconds(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _seconds(re.search(r"99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
    }


async def _asyncio_load(port: int, path: str, seconds: float, connections: int) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    stop = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            began = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            errors += not head.startswith(b"HTTP/1.1 200")
        writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99)],
    }


def measure(pid: int, port: int, path: str, seconds: float, connections: int) -> dict[str, float]:
    cpu, began = tree_cpu(pid), time.perf_counter()
    if shutil.which("wrk"):
        row = with_wrk(port, path, seconds, connections)
    else:
        row = asyncio.run(_asyncio_load(port, path, seconds, connections))
    row["seconds"] = time.perf_counter() - began
    row["cpu"] = tree_cpu(pid) - cpu
    return row


def serve_and_measure(args: argparse.Namespace) -> None:
    tool = "wrk -t1" if shutil.which("wrk") else "asyncio load generator (no wrk)"
    print(
        f"{os.cpu_count()} CPUs; {tool}, {args.connections} connections, {args.seconds:.0f}s "
        "per endpoint; authbridge serve: 1 process, logging at info; oidc-provider: 1 Node"
    )
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="authbridge-bench-public-") as temp:
        workdir = Path(temp)
        port = free_port()
        _tokens, config = seed_authbridge(workdir, port, 1, log_level="info")
        ours = start_authbridge(workdir, port, config, 1)
        peer_port = free_port()
        peer, _ = start_peer(peer_port, 1)
        try:
            wait_port(peer_port, b"/jwks", peer)
            for (name, path), (_, peer_path) in zip(OURS, PEER, strict=False):
                results[f"authbridge {name}"] = measure(
                    ours.pid, port, path, args.seconds, args.connections
                )
                results[f"oidc-provider {name}"] = measure(
                    peer.pid, peer_port, peer_path, args.seconds, args.connections
                )
            name, path = OURS[2]
            results[f"authbridge {name}"] = measure(
                ours.pid, port, path, args.seconds, args.connections
            )
        finally:
            for process in (ours, peer):
                process.terminate()
                process.wait(timeout=20)
    print(
        f"\n{'':34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'srv CPU-s':>9} "
        f"{'req/CPU-s':>9}"
    )
    for name, row in results.items():
        print(
            f"{name:34} {row['requests'] / row['seconds']:8.0f} {row['p50'] * 1e3:7.2f} "
            f"{row['p99'] * 1e3:7.2f} {row['errors']:6.0f} {row['cpu']:9.2f} "
            f"{row['requests'] / max(row['cpu'], 1e-9):9.0f}"
        )
    print()
    for name in ("jwks", "discovery"):
        mine, theirs = results[f"authbridge {name}"], results[f"oidc-provider {name}"]
        wall = (mine["requests"] / mine["seconds"]) / (theirs["requests"] / theirs["seconds"])
        cpu = (mine["requests"] / mine["cpu"]) / (theirs["requests"] / theirs["cpu"])
        print(
            f"{name}: {wall:.2f} x oidc-provider per wall-second, {cpu:.2f} x per server "
            f"CPU-second (goal >= 0.5); p99 {mine['p99'] * 1e3:.1f} ms (goal <= 5 ms)"
        )


# -- instruction counts (in process) ---------------------------------------------------------
def _in_process_app(workdir: Path) -> tuple[Any, Any]:
    """Our app with its services up, and a bare ASGI callable sending the same JWKS bytes."""
    os.environ["AUTHBRIDGE_SECRETS_DIR"] = str(workdir)
    _tokens, config = seed_authbridge(workdir, free_port(), 1, log_level="info")
    from authbridge.config import load_settings
    from authbridge.web.app import create_app
    from authbridge.web.observability import configure_logging
    from authbridge.web.services import Services

    settings = load_settings(Path(config), {})
    configure_logging(settings.logging.level, settings.logging.format)
    services = Services(settings)
    app = create_app(settings, services=services)
    services.start(wait=True)
    body = services.ready().keyring.current().jwks
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"application/jwk-set+json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await send(start)
        await send({"type": "http.response.body", "body": body})

    return app, bare


def _scope(path: str) -> dict[str, Any]:
    return asgi_scope(path)


CC_BODY = b"grant_type=client_credentials"


def _token_scope(path: str) -> dict[str, Any]:
    """A client_credentials grant (RFC 6749 §4.4) by the seeded service account."""
    from bench_provider import basic

    return token_scope(basic("sa-etl"), CC_BODY)


def child_count(calls: int) -> None:
    """Run under callgrind: each contender's calls between two marker system calls."""
    with tempfile.TemporaryDirectory(prefix="authbridge-bench-public-") as temp:
        app, bare = _in_process_app(Path(temp))
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115  # the access log's lines
        contenders = [("floor (bare ASGI)", bare, OURS[0][1], _scope)] + [
            (name, app, path, _scope) for name, path in OURS
        ]
        # For reference: the token endpoint's whole path (grant, signature, SQLite write).
        contenders.append(("token client_credentials", app, "/oauth2/token", _token_scope))

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": CC_BODY, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                assert message["status"] == 200, message

        async def run() -> None:
            for _name, target, path, scope in contenders:
                for _ in range(50):  # warm: specialised bytecode, caches
                    await target(scope(path), receive, send)
            os.getppid()
            for _name, target, path, scope in contenders:
                for _ in range(calls):
                    await target(scope(path), receive, send)
                os.getpgrp()

        asyncio.run(run())
        print("|".join(name for name, _, _, _ in contenders))


def instruction_counts(calls: int) -> None:
    totals = instructions([sys.executable, __file__, "--child-count", str(calls)])
    print(f"\ninstructions per request (callgrind, in process, {calls} requests each)")
    floor = 0.0
    for name, total in totals.items():
        per = total / calls
        floor = floor or per
        print(f"  {name:22} {per:10,.0f}   {per / floor:6.1f} x the floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--instructions", action="store_true", help="also count (valgrind)")
    parser.add_argument("--only-instructions", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--child-count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_count:
        child_count(args.child_count)
        return
    if not args.only_instructions:
        serve_and_measure(args)
    if args.instructions or args.only_instructions:
        instruction_counts(args.calls)


if __name__ == "__main__":
    main()
