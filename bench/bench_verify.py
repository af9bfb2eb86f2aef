"""Token verification throughput, single core: raw ``cryptography`` vs PyJWT vs ours.

    python bench/bench_verify.py [--seconds 0.1] [--rounds 15] [--instructions]
    python bench/bench_verify.py --only-instructions

For ES256, RS256 and EdDSA it measures verifications per second of:

* raw    — ``public_key.verify(...)`` alone, key and (DER) signature prepared in advance:
           the ceiling for any verifier.
* pyjwt  — ``jwt.decode`` with a pre-built key object and the checks it offers (alg
           allow-list, signature, iss, aud, exp/iat/nbf with leeway, required claims).
* ours   — ``TokenVerifier.verify`` with every check on: header rules, issuer binding,
           JWKS-cached key, typ (RFC 9068), iss, sub, aud/azp, exp/nbf/iat with leeway,
           principalDomain, a required scope — on a token presented again, as a bearer
           token is on every request of a session (its decoding comes from the memo; the
           signature and every claim are checked again).
* new    — the same on a token never seen before (a cycle of more distinct tokens than
           the verifier remembers): the first request of a session.

Both of ours get a fresh ``str`` per call, as a web server hands over (so its hash is not
already cached). Ratios are against raw. Goals: ours ≥ 90% of raw for ES256 and EdDSA,
≥ 75% for RS256. Timing is thread CPU time (time spent descheduled by a neighbour does not
count), pinned to one CPU, best of ``--rounds`` rounds with the contenders interleaved and
rotated. ``--instructions`` also counts instructions per call under valgrind, which no
neighbour can disturb (OpenSSL may take other code paths under valgrind, so compare our
overhead in instructions rather than the crypto itself).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
)

from authbridge.middleware import (
    FetchResult,
    IssuerTrust,
    TokenVerifier,
    VerifierConfig,
)

ISSUER = "https://auth.example.com"
AUDIENCE = "api://platform"
GOALS = {"ES256": 0.90, "RS256": 0.75, "EdDSA": 0.90}
# More than TokenVerifier remembers having seen (4 x its 1024-entry decode memo): cycling
# through them, every call is the first sight of its token.
DISTINCT = 5000
WARM = 200


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "sub": "00u1a2b3c4d5e6f7g8h9",
        "aud": AUDIENCE,
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "jti": "7f0e4a52-7c1b-4f7e-9d2f-0a8d1c3e5b61",
        "client_id": "airflow-webserver",
        "scope": "openid profile email read:dags write:dags",
        "email": "jane.doe@example.com",
        "name": "Jane Doe",
        "groups": ["data-engineering", "platform"],
        "roles": ["viewer", "op"],
    }


def setup(
    alg: str, distinct: int = DISTINCT
) -> tuple[str, list[bytes], dict[str, Any], Any, Callable[[], None]]:
    """Token, distinct other tokens, public JWK, public key object, raw verify closure."""
    if alg == "ES256":
        private: Any = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(65537, 2048)
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    public = private.public_key()
    kid = f"{alg.lower()}-1"
    token = pyjwt.encode(claims(), private, algorithm=alg, headers={"kid": kid, "typ": "at+jwt"})
    others = [
        pyjwt.encode(
            claims() | {"jti": f"bench-{i}"},
            private,
            algorithm=alg,
            headers={"kid": kid, "typ": "at+jwt"},
        ).encode()
        for i in range(distinct)
    ]
    head, payload, sig_b64 = token.split(".")
    signing_input = f"{head}.{payload}".encode()
    sig = base64.urlsafe_b64decode(sig_b64 + "==")
    jwk: dict[str, Any] = {"kid": kid, "use": "sig", "alg": alg}
    if alg == "ES256":
        nums = public.public_numbers()
        jwk |= {"kty": "EC", "crv": "P-256"}
        jwk |= {"x": b64(nums.x.to_bytes(32, "big")), "y": b64(nums.y.to_bytes(32, "big"))}
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        assert decode_dss_signature(der)
        scheme = ec.ECDSA(hashes.SHA256())

        def raw() -> None:
            public.verify(der, signing_input, scheme)

    elif alg == "RS256":
        nums = public.public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        jwk |= {"kty": "RSA", "n": b64(n), "e": b64(nums.e.to_bytes(3, "big"))}
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

        def raw() -> None:
            public.verify(sig, signing_input, pkcs1, sha256)

    else:
        x = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk |= {"kty": "OKP", "crv": "Ed25519", "x": b64(x)}

        def raw() -> None:
            public.verify(sig, signing_input)

    return token, others, jwk, public, raw


def rate(fn: Callable[[], object], seconds: float, clock: Callable[[], float]) -> float:
    """Calls per second of ``clock`` time over roughly ``seconds``."""
    n = 1
    while True:  # calibrate a batch of about 10 ms
        start = clock()
        for _ in range(n):
            fn()
        took = clock() - start
        if took > 0.01:
            break
        n *= 2
    batches = max(1, int(seconds / took))
    start = clock()
    for _ in range(batches * n):
        fn()
    return batches * n / (clock() - start)


def instruction_counts(algs: list[str], calls: int) -> dict[str, dict[str, float]]:
    """Instructions per call of each contender, counted by valgrind's callgrind.

    Counts are immune to neighbours on the machine. The child marks the span of each
    contender with two system calls that nothing else in the loop makes (``getppid``
    zeroes the counters, ``getpgrp`` dumps them), so set-up and key generation are left out.
    """
    out_dir = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    try:
        cmd = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out_dir / 'cg'}",
            "--zero-before=getppid",
            "--dump-before=getpgrp",
            sys.executable,
            __file__,
            "--child-count",
            str(calls),
            "--algs",
            ",".join(algs),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        order = done.stdout.split()
        counts: dict[str, dict[str, float]] = {}
        for i, label in enumerate(order, start=1):
            alg, name = label.split(":")
            text = (out_dir / f"cg.{i}").read_text()
            total = int(re.search(r"^summary: (\d+)", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
            counts.setdefault(alg, {})[name] = total / calls
        return counts
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def child_count(algs: list[str], calls: int) -> None:
    """Run under callgrind by :func:`instruction_counts`: each contender between markers."""
    labels = []
    contenders = []
    for alg in algs:
        # Never more calls than distinct tokens: each "new" call is a first sight.
        for name, fn in build(alg, WARM + calls).items():
            for _ in range(WARM):  # warm: specialised bytecode, caches, allocator pools
                fn()
            labels.append(f"{alg}:{name}")
            contenders.append(fn)
    os.getppid()
    for fn in contenders:
        for _ in range(calls):
            fn()
        os.getpgrp()
    print(" ".join(labels))


def verifier_config(alg: str) -> VerifierConfig:
    """Every check on: issuer binding, allow-list, audience, principalDomain, a scope."""
    return VerifierConfig(
        (
            IssuerTrust(
                ISSUER,
                (f"{ISSUER}/api/v1/system/config/jwks",),
                (AUDIENCE,),
                algorithms=(alg,),
                principal_domains=("example.com",),
                required_scopes=("read:dags",),
            ),
        )
    )


def build(alg: str, distinct: int = DISTINCT) -> dict[str, Callable[[], object]]:
    """The three contenders for ``alg``, ready to call."""
    token, others, jwk, public, raw = setup(alg, distinct)
    jwks = json.dumps({"keys": [jwk]}).encode()
    config = verifier_config(alg)
    verifier = TokenVerifier(config, fetcher=lambda url, body=jwks: FetchResult(body))
    verifier.verify(token)  # warm the JWKS cache: steady state is what we measure

    encoded = token.encode()

    def ours(verifier: TokenVerifier = verifier, encoded: bytes = encoded) -> object:
        return verifier.verify(encoded.decode())

    cycle = itertools.cycle(others)

    def new(verifier: TokenVerifier = verifier, cycle: Iterator[bytes] = cycle) -> object:
        return verifier.verify(next(cycle).decode())

    def with_pyjwt(token: str = token, public: Any = public, alg: str = alg) -> object:
        return pyjwt.decode(
            token,
            public,
            algorithms=[alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=60,
            options={"require": ["exp", "iat", "iss", "sub", "aud"]},
        )

    return {"raw": raw, "pyjwt": with_pyjwt, "ours": ours, "new": new}


def pin_cpu() -> str:
    """Pin this process to one CPU; says which."""
    if not hasattr(os, "sched_setaffinity"):
        return "unpinned"
    # The least loaded core is unknowable in advance; the last one is where fewer
    # system daemons land. Every contender runs on it, so ratios stay comparable.
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to cpu {core}"


def best_rates(
    contenders: dict[str, dict[str, Callable[[], object]]], rounds: int, seconds: float
) -> dict[str, dict[str, float]]:
    """Best calls per second of each contender over interleaved rounds, in CPU time of this
    thread (time spent descheduled by a neighbour is not counted)."""
    clock = time.thread_time
    best = {group: dict.fromkeys(fns, 0.0) for group, fns in contenders.items()}
    for round_no in range(rounds):
        for group, fns in contenders.items():
            names = list(fns)
            # Rotate the order each round so no contender always runs after the same one.
            shift = round_no % len(names)
            for name in names[shift:] + names[:shift]:
                best[group][name] = max(best[group][name], rate(fns[name], seconds, clock))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.1, help="per measurement")
    parser.add_argument("--rounds", type=int, default=15, help="best of N interleaved rounds")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count instructions per call under valgrind (slow; needs valgrind)",
    )
    parser.add_argument(
        "--only-instructions",
        action="store_true",
        help="count instructions under valgrind and skip the timed rounds",
    )
    parser.add_argument("--calls", type=int, default=300, help="calls counted per contender")
    parser.add_argument("--algs", default="ES256,RS256,EdDSA")
    parser.add_argument("--child-count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    algs = args.algs.split(",")
    if args.child_count:
        child_count(algs, args.child_count)
        return
    if args.only_instructions:
        print_instructions(algs, args.calls)
        return
    cpu = pin_cpu()
    contenders = {alg: build(alg) for alg in algs}
    best = best_rates(contenders, args.rounds, args.seconds)

    print(
        f"python {sys.version.split()[0]}, {cpu}, thread CPU time; verifications per second, "
        f"best of {args.rounds} interleaved rounds"
    )
    print(
        f"{'alg':6} {'raw':>7} {'pyjwt':>7} {'ours':>7} {'new':>7} {'pyjwt/raw':>9} "
        f"{'ours/raw':>8} {'new/raw':>7} {'goal':>4}  met  {'overhead':>8} {'(new)':>8}"
    )
    for alg in algs:
        b = best[alg]
        ratio = b["ours"] / b["raw"]
        overhead = (1 / b["ours"] - 1 / b["raw"]) * 1e6
        overhead_new = (1 / b["new"] - 1 / b["raw"]) * 1e6
        print(
            f"{alg:6} {b['raw']:7.0f} {b['pyjwt']:7.0f} {b['ours']:7.0f} {b['new']:7.0f} "
            f"{b['pyjwt'] / b['raw']:9.1%} {ratio:8.1%} {b['new'] / b['raw']:7.1%} "
            f"{GOALS[alg]:4.0%}  {'yes' if ratio >= GOALS[alg] else 'NO ':3}  "
            f"{overhead:5.1f} µs {overhead_new:5.1f} µs"
        )
    if args.instructions:
        print()
        print_instructions(algs, args.calls)


def print_instructions(algs: list[str], calls: int) -> None:
    counts = instruction_counts(algs, calls)
    print(f"instructions per call (callgrind, {calls} calls each)")
    print(
        f"{'alg':6} {'raw':>9} {'pyjwt':>9} {'ours':>9} {'new':>9} {'ours/raw':>8} "
        f"{'new/raw':>7} {'overhead':>8} {'(new)':>8}"
    )
    for alg in algs:
        c = counts[alg]
        print(
            f"{alg:6} {c['raw']:9.0f} {c['pyjwt']:9.0f} {c['ours']:9.0f} {c['new']:9.0f} "
            f"{c['raw'] / c['ours']:8.1%} {c['raw'] / c['new']:7.1%} "
            f"{c['ours'] - c['raw']:8.0f} {c['new'] - c['raw']:8.0f}"
        )


if __name__ == "__main__":
    main()
