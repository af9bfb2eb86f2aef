"""ClientAdmin: the one validator on create and update, If-Match inside the write, read-only
config clients, secret rotation with a grace period, and audit events without secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from authbridge.admin.clients import ClientChanges, client_version
from authbridge.admin.errors import (
    AlreadyExists,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ReadOnly,
)
from authbridge.admin.paging import PageRequest
from authbridge.provider.clients import CLI_CLIENT_ID, Client
from authbridge.provider.secrets import digest
from tests.admin.conftest import ACTOR, AdminEnv

WEB = Client(client_id="web", name="Web", redirect_uris=("https://web.example/cb",))


def test_create_returns_the_secret_once_and_audits_without_it(env: AdminEnv) -> None:
    created = env.admin.clients.create(ACTOR, WEB)
    assert created.secret and created.client.source == "database"
    stored = env.ready.provider.store.client("web")
    assert stored is not None and stored.secret_hash == digest(created.secret)
    (event,) = env.audit.of("client.created")
    text = json.dumps(event.details)
    assert created.secret not in text and digest(created.secret) not in text
    assert event.details["after"]["redirect_uris"] == ["https://web.example/cb"]
    with pytest.raises(AlreadyExists):
        env.admin.clients.create(ACTOR, WEB)


def test_the_one_validator_refuses_bad_clients_naming_each_field(env: AdminEnv) -> None:
    bad = Client(
        client_id="bad",
        redirect_uris=("https://x.example/cb#frag",),
        grant_types=("client_credentials", "password"),
        access_token_lifetime=5,
    )
    with pytest.raises(InvalidRequest) as refused:
        env.admin.clients.create(ACTOR, bad)
    fields = {e["field"] for e in refused.value.extensions["errors"]}
    assert {"redirectUris[0]", "grantTypes[1]", "grantTypes[0]", "accessTokenLifetime"} <= fields
    assert env.ready.provider.store.client("bad") is None


def test_config_and_builtin_clients_are_read_only(env: AdminEnv) -> None:
    cli = env.admin.clients.get(CLI_CLIENT_ID)
    assert cli.source == "builtin"
    for write in (
        lambda: env.admin.clients.create(ACTOR, Client(client_id=CLI_CLIENT_ID)),
        lambda: env.admin.clients.update(ACTOR, CLI_CLIENT_ID, ClientChanges(name="x"), "*"),
        lambda: env.admin.clients.delete(ACTOR, CLI_CLIENT_ID),
        lambda: env.admin.clients.rotate_secret(ACTOR, CLI_CLIENT_ID, 0),
    ):
        with pytest.raises(ReadOnly) as refused:
            write()
        assert refused.value.extensions["managedBy"] == "config"
    assert not env.audit.events


def test_update_needs_the_current_version(env: AdminEnv) -> None:
    created = env.admin.clients.create(ACTOR, WEB)
    version = client_version(created.client)
    change = ClientChanges(name="Web 2", redirect_uris=("https://web.example/cb2",))
    with pytest.raises(PreconditionRequired):
        env.admin.clients.update(ACTOR, "web", change, None)
    with pytest.raises(PreconditionFailed):
        env.admin.clients.update(ACTOR, "web", change, "0" * 32)
    updated = env.admin.clients.update(ACTOR, "web", change, version)
    assert updated.name == "Web 2" and updated.redirect_uris == ("https://web.example/cb2",)
    # The version it was read at is stale now: a second writer loses, nothing is overwritten.
    with pytest.raises(PreconditionFailed):
        env.admin.clients.update(ACTOR, "web", ClientChanges(name="Lost"), version)
    assert env.admin.clients.get("web").name == "Web 2"
    (event,) = env.audit.of("client.updated")
    assert event.details["before"]["name"] == "Web" and event.details["after"]["name"] == "Web 2"
    with pytest.raises(InvalidRequest):  # the one validator on the changed client too
        env.admin.clients.update(ACTOR, "web", ClientChanges(grant_types=("nope",)), "*")
    with pytest.raises(NotFound):
        env.admin.clients.update(ACTOR, "nobody", ClientChanges(name="x"), "*")


def test_rotation_keeps_the_old_secret_until_its_expiry(env: AdminEnv) -> None:
    created = env.admin.clients.create(ACTOR, WEB)
    assert created.secret is not None
    rotated = env.admin.clients.rotate_secret(ACTOR, "web", 600)
    assert rotated.previous_expires_at is not None
    stored = env.ready.provider.store.client("web")
    assert stored is not None
    assert stored.secret_hash == digest(rotated.secret)
    assert stored.previous_secret_hash == digest(created.secret)
    assert stored.previous_secret_live(rotated.previous_expires_at - timedelta(seconds=1))
    assert stored.previous_secret_live(rotated.previous_expires_at) is None
    (event,) = env.audit.of("client.secret_rotated")
    text = json.dumps(event.details)
    assert rotated.secret not in text and created.secret not in text
    assert event.details["previousSecretExpiresAt"] == rotated.previous_expires_at.isoformat()
    # 0: the old secret is refused at once.
    again = env.admin.clients.rotate_secret(ACTOR, "web", 0)
    assert again.previous_expires_at is None
    stored = env.ready.provider.store.client("web")
    assert stored is not None and stored.previous_secret_hash is None
    for out_of_range in (-1, 30 * 86400 + 1):
        with pytest.raises(InvalidRequest):
            env.admin.clients.rotate_secret(ACTOR, "web", out_of_range)
    with pytest.raises(NotFound):
        env.admin.clients.rotate_secret(ACTOR, "nobody", 0)


def test_list_pages_over_config_builtin_and_registered_clients(env: AdminEnv) -> None:
    for name in ("a1", "z9", "m5"):
        env.admin.clients.create(
            ACTOR, Client(client_id=name, redirect_uris=("https://x.example/",))
        )
    seen: list[str] = []
    page = env.admin.clients.list(PageRequest(limit=2))
    while True:
        seen.extend(c.client_id for c in page.items)
        if page.next_cursor is None:
            break
        page = env.admin.clients.list(PageRequest.of(2, page.next_cursor))
    assert seen == sorted(seen) and {"a1", "m5", "z9", CLI_CLIENT_ID} <= set(seen)
    assert len(seen) == len(set(seen))


def test_delete_removes_and_audits(env: AdminEnv) -> None:
    env.admin.clients.create(ACTOR, WEB)
    env.admin.clients.delete(ACTOR, "web")
    with pytest.raises(NotFound):
        env.admin.clients.get("web")
    with pytest.raises(NotFound):
        env.admin.clients.delete(ACTOR, "web")
    assert [e.type for e in env.audit.events] == ["client.created", "client.deleted"]
