"""Differential test: our fast JWS path against joserfc (RFC 7515 §5.2) on shared vectors.

``tests/data/jose/vectors.json`` holds the RFC 7515 A.3 and RFC 8037 A.4 examples plus
valid and forged tokens (regenerate with ``tests/data/jose/make_vectors.py``). For every
vector, both implementations must reach the verdict the vector states, and on accepted
vectors return the same payload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import import_key

from authbridge.middleware.errors import InvalidToken
from authbridge.middleware.jws import verify_compact
from authbridge.middleware.keys import JwkError, load_jwk

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "jose" / "vectors.json").read_text())[
    "vectors"
]


def ours(vector: dict[str, Any]) -> bytes | None:
    try:
        key = load_jwk(vector["jwk"])
        _, payload = verify_compact(vector["token"], [key], vector["algorithms"])
    except (InvalidToken, JwkError):
        return None
    return payload


def joserfc_verdict(vector: dict[str, Any]) -> bytes | None:
    try:
        key = import_key(vector["jwk"])
        obj = jws.deserialize_compact(vector["token"], key, algorithms=vector["algorithms"])
    except (JoseError, ValueError):
        return None
    return obj.payload


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_agrees_with_joserfc(vector: dict[str, Any]) -> None:
    mine, theirs = ours(vector), joserfc_verdict(vector)
    assert (theirs is not None) is vector["valid"], "joserfc disagrees with the vector"
    assert (mine is not None) is vector["valid"], "fast path disagrees with the vector"
    assert mine == theirs


def test_rfc_vectors_present() -> None:
    names = {v["name"] for v in VECTORS}
    assert {"rfc7515-a3-es256", "rfc8037-a4-ed25519"} <= names
    assert ours(next(v for v in VECTORS if v["name"] == "rfc8037-a4-ed25519")) == (
        b"Example of Ed25519 signing"
    )
