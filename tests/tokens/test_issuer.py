"""Platform tokens checked by an independent library (PyJWT) against RFC 9068 and OIDC Core."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from authbridge.storage import Storage
from authbridge.tokens import KeyRing, Principal, TokenIssuer
from authbridge.tokens.issuer import half_hash, new_token_id

VECTORS = json.loads(
    (Path(__file__).parent.parent / "data" / "tokens" / "oidc-core-hash-vectors.json").read_text()
)
ISSUER = "https://auth.example.com"
ADA = Principal(
    subject="u-1",
    username="ada@example.com",
    email="ada@example.com",
    email_verified=True,
    name="Ada Lovelace",
    groups=("data-eng",),
    roles=("editor", "viewer"),
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


def make(
    storage: Storage, alg: str = "ES256", clock: Clock | None = None
) -> tuple[KeyRing, TokenIssuer]:
    clock = clock or Clock()
    ring = KeyRing(
        storage.keys,
        algorithm=alg,
        publish_ahead=timedelta(minutes=10),
        max_token_lifetime=timedelta(hours=1),
        clock=clock,
    )
    ring.ensure_key()
    return ring, TokenIssuer(
        ring, issuer=ISSUER, access_token_lifetime=3600, id_token_lifetime=600, clock=clock
    )


def verify(ring: KeyRing, token: str, audience: str) -> dict:
    jwks = jwt.PyJWKSet.from_json(ring.current().jwks.decode())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return jwt.decode(
        token,
        key.key,
        algorithms=["ES256", "RS256"],
        audience=audience,
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "jti"]},
    )


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_access_token_is_an_rfc9068_jwt(storage: Storage, alg: str) -> None:
    ring, issuer = make(storage, alg)
    issued = issuer.access_token(ADA, audience=["platform"], client_id="cli", scope="openid")
    header = jwt.get_unverified_header(issued.token)
    assert header["typ"] == "at+jwt" and header["alg"] == alg  # RFC 9068 §2.1
    claims = verify(ring, issued.token, "platform")
    # RFC 9068 §2.2 required claims, then the identity the platform relies on.
    assert claims["iss"] == ISSUER and claims["aud"] == "platform"
    assert claims["sub"] == "u-1" and claims["client_id"] == "cli"
    assert claims["exp"] - claims["iat"] == 3600 and claims["jti"] == issued.jti
    assert claims["email"] == "ada@example.com" and claims["name"] == "Ada Lovelace"
    assert claims["groups"] == ["data-eng"] and claims["roles"] == ["editor", "viewer"]
    assert claims["scope"] == "openid"


def test_id_token_carries_nonce_and_hashes(storage: Storage) -> None:
    ring, issuer = make(storage)
    access = issuer.access_token(ADA, audience=["platform"], client_id="ui")
    issued = issuer.id_token(
        ADA,
        client_id="ui",
        auth_time=1700000000,
        nonce="n-0S6",
        access_token=access.token,
        code="abc",
    )
    assert jwt.get_unverified_header(issued.token)["typ"] == "JWT"
    claims = verify(ring, issued.token, "ui")
    assert claims["nonce"] == "n-0S6" and claims["auth_time"] == 1700000000
    assert claims["at_hash"] == half_hash(access.token)
    assert claims["exp"] - claims["iat"] == 600


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["kind"])
def test_half_hash_matches_oidc_core_examples(vector: dict) -> None:
    assert half_hash(vector["input"]) == vector["expected"]


def test_jwks_never_contains_private_members(storage: Storage) -> None:
    ring, _ = make(storage, "RS256")
    for key in json.loads(ring.current().jwks)["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        assert key["use"] == "sig" and key["kid"]


def test_rotation_publishes_before_signing_and_keeps_old_key_until_tokens_expire(
    storage: Storage,
) -> None:
    clock = Clock()
    ring, issuer = make(storage, clock=clock)
    old_token = issuer.access_token(ADA, audience=["p"], client_id="c").token
    old_kid = jwt.get_unverified_header(old_token)["kid"]

    new_kid = ring.rotate().kid
    published = {k["kid"] for k in json.loads(ring.current().jwks)["keys"]}
    assert published == {old_kid, new_kid}  # published at once ...
    assert ring.current().signing.kid == old_kid  # ... but not signing yet

    clock.now += timedelta(minutes=10)
    assert ring.current().signing.kid == new_kid  # signs after keyPublishAhead
    verify(ring, old_token, "p")  # tokens of the old key still verify

    clock.now += timedelta(minutes=59)
    assert old_kid in {k["kid"] for k in json.loads(ring.current().jwks)["keys"]}
    clock.now += timedelta(minutes=2)  # every token the old key signed has expired
    assert {k["kid"] for k in json.loads(ring.current().jwks)["keys"]} == {new_kid}


def test_another_replica_sees_a_rotation(storage: Storage) -> None:
    clock = Clock()
    ring_a, _ = make(storage, clock=clock)
    ring_b, _ = make(storage, clock=clock)
    ring_b.current()
    new_kid = ring_a.rotate().kid
    clock.now += timedelta(seconds=31)  # past the snapshot's reload interval
    assert new_kid in {k["kid"] for k in json.loads(ring_b.current().jwks)["keys"]}


def test_private_key_never_in_repr_of_published_snapshot(storage: Storage) -> None:
    ring, _ = make(storage)
    snapshot = ring.current()
    pem_body = snapshot.signing.private_pem.splitlines()[1]
    assert pem_body not in snapshot.jwks.decode()


def test_old_key_stays_published_while_a_robot_token_it_signed_is_valid(storage: Storage) -> None:
    from authbridge.storage.provider_models import OAuthRobotToken

    clock = Clock()
    ring, issuer = make(storage, clock=clock)
    robot = storage.users.create(username="robot:etl", kind="robot", roles=["editor"])
    year = 365 * 24 * 3600
    token = issuer.access_token(ADA, audience=["p"], client_id="robot", lifetime=year, tracked=True)
    with storage.db.session() as session:
        session.add(
            OAuthRobotToken(
                jti=token.jti,
                user_id=robot.id,
                created_at=clock.now,
                expires_at=clock.now + timedelta(seconds=year),
            )
        )
    old_kid = ring.current().signing.kid
    ring.rotate()
    clock.now += timedelta(days=30)  # far past every short-lived token of the old key
    assert old_kid in {k["kid"] for k in json.loads(ring.current().jwks)["keys"]}
    verify(ring, token.token, "p")
    with storage.db.session() as session:
        session.get(OAuthRobotToken, token.jti).revoked_at = clock.now
    clock.now += timedelta(minutes=1)
    assert old_kid not in {k["kid"] for k in json.loads(ring.current().jwks)["keys"]}


def test_token_ids_are_unique_128_bit_and_safe_to_type_as_an_argument() -> None:
    # RFC 7519 §4.1.7: a jti must not collide. Operators pass robot token ids to
    # `authbridge robots revoke <id>`; an id starting with "-" would be read as an option
    # (base64url ids did, one in 64).
    ids = [new_token_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(bytes.fromhex(i)) == 16 for i in ids)
    assert not any(i.startswith("-") for i in ids)


def test_identity_claims_follow_the_principal_and_no_token_leaks_into_the_next(
    storage: Storage,
) -> None:
    """The identity claims are kept per principal value: the same principal gets the same
    claims, a changed one (a role or team taken away) its new ones, and what one token
    adds (scope, auth_time, amr, acr: RFC 9068 §2.2) never shows in the next."""
    ring, issuer = make(storage)
    first = issuer.access_token(
        ADA, audience=["platform"], client_id="cli", scope="openid", auth_time=1, amr=("pwd",)
    )
    again = verify(
        ring, issuer.access_token(ADA, audience=["platform"], client_id="b").token, "platform"
    )
    assert verify(ring, first.token, "platform")["amr"] == ["pwd"]
    assert not {"scope", "auth_time", "amr", "acr"} & set(again)
    assert again["roles"] == ["editor", "viewer"] and again["groups"] == ["data-eng"]
    demoted = replace(ADA, roles=("viewer",), groups=(), name="Ada King")
    claims = verify(ring, issuer.access_token(demoted, audience=["p"], client_id="c").token, "p")
    assert claims["roles"] == ["viewer"] and claims["groups"] == [] and claims["name"] == "Ada King"
    id_claims = verify(ring, issuer.id_token(demoted, client_id="c", auth_time=1).token, "c")
    assert id_claims["roles"] == ["viewer"] and id_claims["name"] == "Ada King"
    assert verify(ring, issuer.access_token(ADA, audience=["p"], client_id="c").token, "p")[
        "roles"
    ] == ["editor", "viewer"]
