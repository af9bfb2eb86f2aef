"""Token verification throughput with the revocation feed on vs off, single core.

    python bench/bench_feed.py [--seconds 0.1] [--rounds 15] [--revoked 10000]

Two ``TokenVerifier``s over the same key and configuration (every check on, as in
``bench_verify.py``); the second follows a revocation feed holding ``--revoked`` token ids
and a tenth as many deactivated subjects (polled in the background, as in a service), so
each verification also looks the token's ``jti`` and ``sub`` up. Measured on a token
presented again (``ours``, the steady state of a session) and on tokens never seen before
(``new``). Goal: feed on ≥ 95% of off. Timing as in ``bench_verify.py``: thread CPU time,
pinned to one CPU, best of ``--rounds`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench_verify import ISSUER, best_rates, pin_cpu, setup, verifier_config

from authbridge.middleware import (
    FetchResult,
    RevocationFeed,
    RevocationPolicy,
    TokenVerifier,
)

GOAL = 0.95


def feed_page(revoked: int) -> bytes:
    now = int(time.time())
    entries = [
        {"kind": "jti", "value": f"revoked-{i}", "revoked_at": now, "exp": now + 3600}
        for i in range(revoked)
    ] + [
        {"kind": "sub", "value": f"user-{i}", "revoked_at": now, "exp": now + 86400}
        for i in range(revoked // 10)
    ]
    return json.dumps(
        {"cursor": str(len(entries)), "more": False, "reset": False, "entries": entries}
    ).encode()


def build(alg: str, revoked: int) -> tuple[dict[str, Callable[[], object]], RevocationFeed]:
    token, others, jwk, _public, _raw = setup(alg)
    jwks = json.dumps({"keys": [jwk]}).encode()
    page = feed_page(revoked)
    config = verifier_config(alg)

    def fetch(url: str) -> FetchResult:
        return FetchResult(page if "revocations" in url else jwks)

    feed = RevocationFeed(
        RevocationPolicy(f"{ISSUER}/api/v1/system/revocations", ISSUER), fetcher=fetch
    )
    assert feed.poll() and feed.revoked_count == revoked + revoked // 10
    off = TokenVerifier(config, fetcher=fetch)
    on = TokenVerifier(config, fetcher=fetch, revocations=feed)
    contenders: dict[str, Callable[[], object]] = {}
    for label, verifier in (("off", off), ("on", on)):
        verifier.verify(token)  # warm the JWKS cache (and start the feed's poller)
        encoded = token.encode()
        cycle = itertools.cycle(others)

        def again(v: TokenVerifier = verifier, e: bytes = encoded) -> object:
            return v.verify(e.decode())

        def new(v: TokenVerifier = verifier, c: Iterator[bytes] = cycle) -> object:
            return v.verify(next(c).decode())

        contenders[f"{label}:ours"] = again
        contenders[f"{label}:new"] = new
    return contenders, feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.1, help="per measurement")
    parser.add_argument("--rounds", type=int, default=15, help="best of N interleaved rounds")
    parser.add_argument("--revoked", type=int, default=10_000, help="token ids on the feed")
    parser.add_argument("--algs", default="ES256,EdDSA")
    args = parser.parse_args()
    algs = args.algs.split(",")
    cpu = pin_cpu()
    built = {alg: build(alg, args.revoked) for alg in algs}
    best = best_rates({alg: fns for alg, (fns, _) in built.items()}, args.rounds, args.seconds)
    for _, feed in built.values():
        feed.stop()
    print(
        f"python {sys.version.split()[0]}, {cpu}, thread CPU time; verifications per second, "
        f"best of {args.rounds} interleaved rounds; feed holds {args.revoked} token ids "
        f"and {args.revoked // 10} subjects"
    )
    print(f"{'alg':6} {'token':5} {'feed off':>9} {'feed on':>9} {'on/off':>7} {'goal':>5}  met")
    for alg in algs:
        b = best[alg]
        for kind in ("ours", "new"):
            off, on = b[f"off:{kind}"], b[f"on:{kind}"]
            ratio = on / off
            label = "again" if kind == "ours" else "new"
            print(
                f"{alg:6} {label:5} {off:9.0f} {on:9.0f} {ratio:7.1%} {GOAL:5.0%}  "
                f"{'yes' if ratio >= GOAL else 'NO'}"
            )


if __name__ == "__main__":
    main()
