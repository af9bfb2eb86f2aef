"""The one account factory: every new account, with its roles and identity link, at once."""

from __future__ import annotations

import pytest

from authbridge.directory.accounts import IdentityLink, new_account
from authbridge.directory.roles import DEFAULT_ROLE
from authbridge.storage import Conflict, Storage
from tests.wiring import system_roles


def test_an_account_is_made_with_its_default_role_and_a_clean_name(storage: Storage) -> None:
    user = new_account(storage.users, username="Ada@Example.com", name=" Ada\x00 L.\x7f ")
    assert user.name == "Ada L." and user.username_key == "ada@example.com"
    assert system_roles(storage, user.id) == [DEFAULT_ROLE]
    assert new_account(storage.users, username="nameless", name="\x01").name is None


def test_an_idp_account_and_its_identity_link_are_made_together(storage: Storage) -> None:
    link = IdentityLink("okta", "00u-1", "ivy@example.com")
    user = new_account(storage.users, username="ivy@example.com", identity=link)
    found = storage.users.by_identity("okta", "00u-1")
    assert found is not None and found.id == user.id
    # The identity is taken: no second account is left behind half-made.
    with pytest.raises(Conflict):
        new_account(storage.users, username="other@example.com", identity=link)
    assert storage.users.by_username("other@example.com") is None


def test_usernames_are_taken_case_insensitively(storage: Storage) -> None:
    new_account(storage.users, username="lin@example.com")
    with pytest.raises(Conflict):
        new_account(storage.users, username="LIN@example.com")
