"""One principal builder: the signed-in page and the OpenID Provider's grants say the same."""

from __future__ import annotations

from authbridge.directory.principals import principal_of
from authbridge.provider.principals import subject_principal
from authbridge.storage import Storage
from authbridge.storage.models import Team, TeamMember
from authbridge.storage.provider_store import ProviderStore
from tests.wiring import role_bindings


def test_the_directory_and_the_grants_build_the_same_principal(storage: Storage) -> None:
    user = storage.users.create(
        username="ada@example.com", email="ada@example.com", name="Ada", roles=["viewer"]
    )
    with storage.db.session() as session:
        session.add(Team(id="t1", name="Data", name_key="data"))
        session.flush()
        session.add(TeamMember(team_id="t1", user_id=user.id))
    bindings = role_bindings(storage)
    bindings.grant("editor", team_id="t1", origin="test")
    bindings.grant("editor", team_id="t1", scope="workspace:ws1", origin="test")
    bindings.grant("viewer", user_id=user.id, scope="deployment:d1", origin="test")
    built = principal_of(bindings, user)
    assert built.roles == ("editor", "viewer") and built.groups == ("Data",)
    # editor at workspace:ws1 adds nothing to editor at system; viewer at d1 does not either.
    assert built.scoped_roles == ()
    subject = ProviderStore(storage.db).subject(user.id)
    assert subject is not None and subject_principal(subject, bindings.resolver) == built
