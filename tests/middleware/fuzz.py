"""Malformed and hostile tokens, many of them validly signed, for every verification path.

The 60,000-token fuzz run that tried wave 1 found that every malformed token must end in a
refusal (401, ``None``, an "invalid token" error), never in another exception. This
generator replays its families of input deterministically (a seeded ``random.Random``):
character flips, truncations, spliced segments, oversized and non-ASCII input, and headers
and claims sets of every JSON type, the latter signed by the trusted key so that they
reach the claim checks. ``AUTHBRIDGE_FUZZ_TOKENS`` sets how many per path (default 2,000;
60,000 repeats the original run).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from typing import Any

from .forge import Signer, b64, b64json, compact

__all__ = ["COUNT", "fuzz_tokens"]

COUNT = int(os.environ.get("AUTHBRIDGE_FUZZ_TOKENS", "2000"))

_CHARS = "AZaz09-_.=+/ \t\n\u00e9\u202e\x00\ud7ff\U0001f600%\\\"'{}[]"


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    choices: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        2**70,
        1.5,
        1e308,
        "",
        "x",
        "\u00e9t\u00e9",
        "a" * 300,
        [],
        {},
        ["ES256"],
        [1, "a"],
        {"k": [1]},
    ]
    if depth < 3 and rng.random() < 0.2:
        return [_json_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    return rng.choice(choices)


def _mutated(rng: random.Random, base: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out = dict(base)
    for _ in range(rng.randrange(1, 4)):
        name = rng.choice(names)
        if rng.random() < 0.25:
            out.pop(name, None)
        else:
            out[name] = _json_value(rng)
    return out


_HEADER_NAMES = ["alg", "kid", "typ", "crit", "jku", "jwk", "x5c", "b64", "cty", "zip"]
_CLAIM_NAMES = [
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "at_hash",
    "c_hash",
    "scope",
    "scp",
    "roles",
    "client_id",
    "cid",
    "token_use",
    "email",
    "email_verified",
]


def _raw_json(rng: random.Random) -> str:
    texts = [
        "NaN",
        '{"exp": NaN}',
        '{"exp": Infinity}',
        '{"alg": "ES256", "alg": "none"}',
        "[" * 5000 + "]" * 5000,
        '{"a": ' * 3000 + "1" + "}" * 3000,
        "null",
        "[]",
        '"text"',
        "1e999",
        "{",
        "\xff\xfe",
    ]
    return rng.choice(texts)


def fuzz_tokens(
    rng: random.Random,
    count: int,
    signer: Signer,
    header: dict[str, Any],
    claims: dict[str, Any],
) -> Iterator[str]:
    """``count`` hostile variants of the token ``header``/``claims`` signed by ``signer``."""
    valid = compact(header, claims, signer)
    for _ in range(count):
        family = rng.randrange(9)
        if family == 0:  # flipped characters
            chars = list(valid)
            for _ in range(rng.randrange(1, 4)):
                chars[rng.randrange(len(chars))] = rng.choice(_CHARS)
            yield "".join(chars)
        elif family == 1:  # truncated or extended
            cut = rng.randrange(len(valid) + 1)
            yield valid[:cut] + ("." * rng.randrange(3) if rng.random() < 0.3 else "")
        elif family == 2:  # segments spliced from another token
            h, p, s = valid.split(".")
            other = compact(_mutated(rng, header, _HEADER_NAMES), claims, signer).split(".")
            parts = [
                rng.choice([h, other[0]]),
                rng.choice([p, other[1]]),
                rng.choice([s, other[2]]),
            ]
            yield ".".join(parts)
        elif family == 3:  # signed, with a hostile header
            yield compact(_mutated(rng, header, _HEADER_NAMES), claims, signer, alg=signer.alg)
        elif family == 4:  # signed, with hostile claims
            yield compact(header, _mutated(rng, claims, _CLAIM_NAMES), signer)
        elif family == 5:  # signed, with a header or payload that is not a JSON object
            raw = b64(_raw_json(rng).encode("utf-8", "surrogatepass"))
            if rng.random() < 0.5:
                yield compact(raw, claims, signer, alg=signer.alg)
            else:
                yield compact(header, raw, signer)
        elif family == 6:  # random text of every size
            size = rng.choice([0, 1, 3, 50, 400, 17000])
            yield "".join(rng.choice(_CHARS) for _ in range(size))
        elif family == 7:  # wrong number of parts, empty parts
            h, p, s = valid.split(".")
            yield rng.choice(
                [f"{h}.{p}", f"{h}.{p}.{s}.{s}", f"{h}..{s}", f".{p}.{s}", f"{h}.{p}."]
            )
        else:  # a header of any JSON type, signed
            yield compact(b64json(_json_value(rng)), claims, signer, alg=signer.alg)


def describe(token: str) -> str:
    """A token shortened for a failure message."""
    return json.dumps(token[:200])
