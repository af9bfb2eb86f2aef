"""The principal a grant's tokens speak for (`Grants._principal`): kept per subject value, so
a change of role or team read in the next grant's transaction shows in its token."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, cast

from authbridge.directory.roles import SYSTEM_SCOPE
from authbridge.provider import grants as grants_module
from authbridge.provider.grants import Grants
from authbridge.provider.principals import subject_principal
from authbridge.storage.bindings import Grants as RoleRows
from authbridge.storage.bindings import TeamRef
from authbridge.storage.provider_store import Subject

SUBJECT = Subject(
    id="u-1",
    username="ada",
    email="ada@example.com",
    email_verified=True,
    name="Ada",
    kind="person",
    active=True,
    grants=RoleRows(bindings=(("editor", SYSTEM_SCOPE),), teams=(TeamRef("t-1", "data"),)),
)


def _grants() -> Grants:
    # Only the principal is asked for: no store nor issuer is reached.
    return Grants(cast(Any, None), cast(Any, None), ["platform"])


def test_the_same_subject_gets_the_same_principal_as_computed_afresh() -> None:
    grants = _grants()
    first = grants._principal(SUBJECT)
    assert first == subject_principal(SUBJECT, grants.roles)
    assert grants._principal(replace(SUBJECT)) is first  # an equal value read again


def test_a_changed_role_or_team_or_name_gives_the_new_principal() -> None:
    grants = _grants()
    assert grants._principal(SUBJECT).roles == ("editor",)
    viewer = replace(SUBJECT, grants=RoleRows(bindings=(("viewer", SYSTEM_SCOPE),)))
    assert grants._principal(viewer).roles == ("viewer",)
    assert grants._principal(viewer).groups == ()
    renamed = replace(SUBJECT, name="Ada King", email=None)
    assert grants._principal(renamed).name == "Ada King"
    assert grants._principal(renamed).email is None
    for changed in (viewer, renamed):
        assert grants._principal(changed) == subject_principal(changed, grants.roles)


def test_the_memo_is_bounded() -> None:
    grants = _grants()
    for index in range(5000):
        grants._principal(replace(SUBJECT, id=f"u-{index}"))
    assert grants_module._principal_of.cache_info().currsize <= 4096
