"""The passkey store on every backend: a credential id is registered once (to anyone), the
signature counter moves only from the value the caller saw (one conditional UPDATE), and
a user's passkeys go with the user."""

from __future__ import annotations

from datetime import UTC, datetime

from authbridge.storage import Storage

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _add(storage: Storage, user_id: str, credential_id: bytes, name: str = "Laptop") -> object:
    return storage.passkeys.add(
        user_id,
        credential_id=credential_id,
        public_key=b"cose-key",
        sign_count=0,
        transports=("usb", "nfc"),
        backup_eligible=False,
        name=name,
        now=NOW,
    )


def test_a_credential_id_is_registered_once(storage: Storage) -> None:
    ada = storage.users.create(username="ada@example.com")
    bob = storage.users.create(username="bob@example.com")
    assert _add(storage, ada.id, b"\x01" * 16) is not None
    assert _add(storage, bob.id, b"\x01" * 16) is None
    assert _add(storage, ada.id, b"\x02" * 16, "Key") is not None
    listed = storage.passkeys.list(ada.id)
    assert [(p.name, p.transports, p.created_at) for p in listed] == [
        ("Laptop", ("usb", "nfc"), NOW),
        ("Key", ("usb", "nfc"), NOW),
    ]
    assert storage.passkeys.count(bob.id) == 0


def test_the_counter_moves_once_from_the_value_seen(storage: Storage) -> None:
    ada = storage.users.create(username="ada@example.com")
    _add(storage, ada.id, b"\x01" * 16)
    found = storage.passkeys.by_credential_id(b"\x01" * 16)
    assert found is not None and found.last_used_at is None
    assert storage.passkeys.record_use(found.id, 0, 5, now=NOW)
    assert not storage.passkeys.record_use(found.id, 0, 6, now=NOW)  # raced: stale value
    after = storage.passkeys.by_credential_id(b"\x01" * 16)
    assert after is not None and after.sign_count == 5 and after.last_used_at == NOW


def test_removal_is_by_owner_and_all_go_with_a_reset_or_the_user(storage: Storage) -> None:
    ada = storage.users.create(username="ada@example.com")
    bob = storage.users.create(username="bob@example.com")
    _add(storage, ada.id, b"\x01" * 16)
    _add(storage, ada.id, b"\x02" * 16)
    _add(storage, bob.id, b"\x03" * 16)
    first = storage.passkeys.list(ada.id)[0]
    assert storage.passkeys.remove(bob.id, first.id) is None
    assert storage.passkeys.remove(ada.id, first.id) == first
    assert storage.passkeys.remove_all(ada.id) == 1
    assert storage.passkeys.list(ada.id) == []
    storage.user_admin.delete(bob.id, lambda user, checks: None)
    assert storage.passkeys.by_credential_id(b"\x03" * 16) is None
