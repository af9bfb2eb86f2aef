"""``at_hash``/``c_hash`` (OIDC Core §3.1.3.6, §3.3.2.11): the one implementation, against
the spec's examples and, differentially, against Authlib's ``create_half_hash``."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from authlib.oidc.core.util import create_half_hash

from authbridge.middleware.hashes import half_hash

DATA = Path(__file__).parents[1] / "data"


def test_oidc_core_appendix_a_examples() -> None:
    data = json.loads((DATA / "connectors" / "oidc-core-hashes.json").read_text())
    for example in data["examples"]:
        assert half_hash(example["value"], data["alg"]) == example["hash"]
    vectors = json.loads((DATA / "tokens" / "oidc-core-hash-vectors.json").read_text())
    for vector in vectors["vectors"]:
        assert half_hash(vector["input"]) == vector["expected"]


@pytest.mark.parametrize(
    "alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
)
def test_same_as_authlib_for_every_sha2_algorithm(alg: str) -> None:
    for _ in range(50):
        value = secrets.token_urlsafe(secrets.randbelow(64) + 1)
        assert half_hash(value, alg) == create_half_hash(value, alg).decode()


def test_eddsa_hashes_with_sha512() -> None:
    # Authlib has none for EdDSA; Ed25519 signs with SHA-512, so its half is 32 octets.
    assert half_hash("tok", "EdDSA") == half_hash("tok", "RS512")


@pytest.mark.parametrize(("value", "alg"), [("tok", "HS256"), ("tok", "none"), ("\u00e9", "RS256")])
def test_no_hash_for_symmetric_none_or_non_ascii(value: str, alg: str) -> None:
    with pytest.raises(ValueError):
        half_hash(value, alg)
