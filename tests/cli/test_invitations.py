"""`authbridge invitations`: the admin service from the command line, the API's JSON with
`--output json`; the link printed once without SMTP, mailed (and not printed) with it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from authbridge.cli.main import app
from tests.mailserver import mail_server

runner = CliRunner()


def write_config(tmp_path: Path, sqlite_url: str, extra: str = "") -> str:
    path = tmp_path / "authbridge.yaml"
    path.write_text(f"database:\n  url: {sqlite_url}\n{extra}")
    return str(path)


def test_create_list_resend_revoke(tmp_path: Path, sqlite_url: str) -> None:
    config = write_config(tmp_path, sqlite_url)
    created = runner.invoke(
        app,
        ["invitations", "create", "ada@example.com", "--team", "eng", "--role",
         "editor@workspace:ws1", "--config", config, "--output", "json"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    doc = json.loads(created.stdout)
    assert doc["link"].startswith("http://localhost:8080/invite/")
    assert doc["roleBindings"] == [{"role": "editor", "scope": "workspace:ws1"}]
    listed = runner.invoke(app, ["invitations", "list", "--config", config, "-o", "json"])
    items = json.loads(listed.stdout)["items"]
    assert [i["id"] for i in items] == [doc["id"]] and items[0]["link"] is None
    resent = runner.invoke(app, ["invitations", "resend", doc["id"], "--config", config])
    assert resent.exit_code == 0 and "/invite/" in resent.stdout
    revoked = runner.invoke(app, ["invitations", "revoke", doc["id"], "--config", config])
    assert revoked.exit_code == 0
    again = runner.invoke(app, ["invitations", "revoke", doc["id"], "--config", config])
    assert again.exit_code == 1 and "Not found" in again.output
    by_status = ["invitations", "list", "--config", config, "-o", "json", "--status"]
    revoked_ones = json.loads(runner.invoke(app, [*by_status, "revoked"]).stdout)["items"]
    assert [i["id"] for i in revoked_ones] == [doc["id"]]
    assert json.loads(runner.invoke(app, [*by_status, "pending"]).stdout)["items"] == []
    bad = runner.invoke(app, ["invitations", "create", "nope", "--config", config])
    assert bad.exit_code == 2


def test_with_smtp_the_link_is_mailed_not_printed(tmp_path: Path, sqlite_url: str) -> None:
    with mail_server() as server:
        smtp = (
            f"smtp:\n  host: {server.host}\n  port: {server.port}\n  security: none\n"
            "  fromAddress: auth@example.com\n"
        )
        config = write_config(tmp_path, sqlite_url, smtp)
        created = runner.invoke(app, ["invitations", "create", "ada@example.com", "-c", config])
        assert created.exit_code == 0, created.output
        assert "/invite/" not in created.stdout and "mailed" in created.stdout
        (message,) = server.inbox.wait()
    assert "/invite/" in server.inbox.link()
    assert message["To"] == "ada@example.com"


def test_a_mail_that_cannot_be_sent_is_reported(tmp_path: Path, sqlite_url: str) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here
    smtp = f"smtp:\n  host: 127.0.0.1\n  port: {port}\n  security: none\n  timeout: 2\n"
    config = write_config(tmp_path, sqlite_url, smtp)
    created = runner.invoke(app, ["invitations", "create", "ada@example.com", "-c", config])
    assert created.exit_code == 1
    assert "could not be sent" in created.output and "resend" in created.output
