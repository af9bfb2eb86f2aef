"""The role and group claims of a token against RFC 9068 §2.2.3.1, and their size bound."""

from __future__ import annotations

import json

from authbridge.tokens.claims import (
    GROUPS_OVERFLOW,
    MAX_GROUPS_BYTES,
    MAX_SCOPED_SCOPES,
    ROLES_OVERFLOW,
    SCOPED_ROLES,
    Principal,
    bounded_claims,
)

# RFC 9068 §2.2.3.1 names `roles`, `groups` and `entitlements` after the SCIM attributes of
# RFC 7643 §4.1.2, multi-valued: in a JWT, arrays of strings. The IANA JWT claims registry
# holds these names; ours are private (RFC 7519 §4.3), prefixed to stay collision-free.
REGISTERED = {"roles", "groups", "entitlements", "scope", "sub", "iss", "aud"}


def _principal(scopes: int = 0, groups: int = 0, name_length: int = 10) -> Principal:
    return Principal(
        subject="u1",
        username="ada",
        roles=("viewer",),
        groups=tuple(f"g{i:0{name_length}d}" for i in range(groups)),
        scoped_roles=tuple((f"workspace:ws{i}", ("editor",)) for i in range(scopes)),
    )


def test_roles_and_groups_are_arrays_of_strings_and_scoped_roles_a_private_claim() -> None:
    claims = bounded_claims(_principal(scopes=2, groups=2))
    assert claims["roles"] == ["viewer"]
    assert all(isinstance(g, str) for g in claims["groups"])
    assert claims[SCOPED_ROLES] == {"workspace:ws0": ["editor"], "workspace:ws1": ["editor"]}
    private = set(claims) - {"roles", "groups"}
    assert private and all(name.startswith("authbridge_") for name in private)
    assert not private & REGISTERED


def test_no_scoped_roles_no_claim() -> None:
    assert set(bounded_claims(_principal())) == {"roles", "groups"}


def test_the_scoped_bound_is_a_count_and_a_size() -> None:
    at_bound = bounded_claims(_principal(scopes=MAX_SCOPED_SCOPES))
    assert len(at_bound[SCOPED_ROLES]) == MAX_SCOPED_SCOPES and ROLES_OVERFLOW not in at_bound
    over = bounded_claims(_principal(scopes=MAX_SCOPED_SCOPES + 1))
    assert SCOPED_ROLES not in over and over[ROLES_OVERFLOW] is True
    assert over["roles"] == ["viewer"]  # system roles always travel


def test_groups_beyond_their_size_are_left_out_whole() -> None:
    long_names = _principal(groups=40, name_length=60)
    size = len(json.dumps(list(long_names.groups), separators=(",", ":")))
    assert size > MAX_GROUPS_BYTES
    claims = bounded_claims(long_names)
    assert "groups" not in claims and claims[GROUPS_OVERFLOW] is True
