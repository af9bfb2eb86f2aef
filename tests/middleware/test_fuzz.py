"""Every verification path refuses hostile tokens with its refusal, never another exception
(see ``fuzz.py``): the middleware's ``verify``/``averify``/``verify_signature``, the local
``verify_jwt``, and the provider's check of its own tokens built on it."""

from __future__ import annotations

import asyncio
import json
import random
from types import SimpleNamespace

import pytest

from authbridge.middleware import InvalidToken, TokenVerifier
from authbridge.middleware.jws import verify_jwt
from authbridge.middleware.keys import load_jwks
from authbridge.provider.verification import OwnTokens

from .forge import ISSUER, NOW, Signer, access_claims, at_header, compact
from .fuzz import COUNT, describe, fuzz_tokens


def tokens(signer: Signer, seed: int) -> list[str]:
    claims = access_claims(exp=NOW + 10**6)
    return list(fuzz_tokens(random.Random(seed), COUNT, signer, at_header(signer), claims))


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_verify_refuses_with_invalid_token_only(
    verifier: TokenVerifier, signers: dict[str, Signer], alg: str
) -> None:
    accepted = 0
    for token in tokens(signers[alg], seed=10):
        try:
            verifier.verify(token)
            accepted += 1
        except InvalidToken as exc:
            assert exc.status == 401, describe(token)
        except Exception as exc:  # the finding this test exists for
            pytest.fail(f"{type(exc).__name__} for {describe(token)}")
    assert accepted < COUNT  # the generator does produce refusals


def test_averify_and_verify_signature_refuse_with_invalid_token_only(
    verifier: TokenVerifier, signers: dict[str, Signer]
) -> None:
    async def run(token: str) -> None:
        await verifier.averify(token)

    for token in tokens(signers["ES256"], seed=11)[: COUNT // 4]:
        for check in (lambda t: asyncio.run(run(t)), verifier.verify_signature):
            try:
                check(token)
            except InvalidToken:
                pass
            except Exception as exc:
                pytest.fail(f"{type(exc).__name__} for {describe(token)}")


def test_local_keys_refuse_with_invalid_token_only(signers: dict[str, Signer]) -> None:
    keys = load_jwks({"keys": [s.jwk() for s in signers.values()]})
    for token in tokens(signers["RS256"], seed=12):
        try:
            verify_jwt(token, keys, {"ES256", "RS256"})
        except InvalidToken:
            pass
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} for {describe(token)}")


def test_the_providers_own_token_check_answers_none(signers: dict[str, Signer]) -> None:
    signer = signers["ES256"]
    published = SimpleNamespace(etag='"1"', jwks=json.dumps({"keys": [signer.jwk()]}).encode())
    ring = SimpleNamespace(current=lambda: published)
    own = OwnTokens(ring, ISSUER)  # type: ignore[arg-type]
    valid = access_claims(exp=10**10, iat=0)
    assert own.access_token(compact(at_header(signer), valid, signer)) is not None
    for token in tokens(signer, seed=13):
        try:
            own.access_token(token)
            own.id_token_hint(token)
        except Exception as exc:
            pytest.fail(f"{type(exc).__name__} for {describe(token)}")
