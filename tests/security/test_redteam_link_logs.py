"""Red team: one-time links whose secret is in the path (`/password/reset/<token>`,
`/invite/<token>`, `/email/verify/<token>`). The access log wrote each request's path, so
every link opened (or merely probed) stood in the logs whole, to be used by whoever reads
them: a reset link is the account. The path is logged with the token cut out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from authbridge.audit.events import Actor
from authbridge.web.observability import configure_logging
from tests.security.conftest import AppFactory

SYSTEM = Actor("cli", "test")


@pytest.fixture
def json_logs() -> Iterator[None]:
    configure_logging("debug", "json")
    yield
    structlog.reset_defaults()


def test_links_opened_leave_no_token_in_the_logs(
    app_factory: AppFactory, json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory()
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.accounts.sign_up(
        email="ada@example.com", password="correct horse battery staple", self_service=False
    )
    reset = ready.admin.users.reset_password(SYSTEM, user.id)
    invite = ready.admin.invitations.create(SYSTEM, "grace@example.com", teams=[], grants=[])
    assert reset and invite.link
    tokens = [reset.rsplit("/", 1)[1], invite.link.rsplit("/", 1)[1], "A" * 43]
    capsys.readouterr()
    assert client.get(reset.split("8080", 1)[1]).status_code == 200
    assert client.get(invite.link.split("8080", 1)[1]).status_code == 200
    assert client.get(f"/email/verify/{tokens[2]}").status_code == 404
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "/password/reset/" in out and "/invite/" in out  # the requests are logged...
    for token in tokens:
        assert token not in out  # ...without their secret
