"""`authbridge clients|service-accounts|robots`: secrets shown once and stored as digests."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from authbridge.cli.clients import parse_lifetime
from authbridge.cli.main import app as cli
from authbridge.storage import Storage


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "authbridge.yaml"
    path.write_text(
        f"database:\n  url: {sqlite_url}\nclients:\n  static-app:\n"
        f"    public: true\n    redirectUris: ['https://s.example/cb']\n"
    )
    return path


def run(config: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--config", str(config)])


def test_add_list_remove_a_confidential_client(config: Path, sqlite_url: str) -> None:
    added = run(
        config,
        "clients",
        "add",
        "reports",
        "--redirect-uri",
        "https://reports.example/cb",
        "--grant",
        "authorization_code",
    )
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    assert len(secret) >= 40
    storage = Storage.open(sqlite_url)
    with storage.db.session() as session:
        stored = session.execute(text("SELECT secret_hash FROM oauth_clients")).scalar_one()
    assert secret not in stored and len(stored) == 64
    listed = run(config, "clients", "list").output
    assert "reports  confidential  [database]" in listed
    assert "static-app  public  [config]" in listed and "authbridge-cli" in listed
    assert run(config, "clients", "add", "reports").exit_code == 1  # exists
    assert run(config, "clients", "remove", "static-app").exit_code == 1  # from the file
    assert run(config, "clients", "remove", "reports").exit_code == 0
    assert "reports" not in run(config, "clients", "list").output


def test_rotate_secret_replaces_the_stored_digest_and_shows_the_new_secret_once(
    config: Path, sqlite_url: str
) -> None:
    added = run(config, "clients", "add", "etl-app", "--redirect-uri", "https://etl.example/cb")
    assert added.exit_code == 0, added.output
    old = added.output.strip().splitlines()[-1]
    rotated = run(config, "clients", "rotate-secret", "etl-app", "--previous-expires-in", "1h")
    assert rotated.exit_code == 0, rotated.output
    assert "old secret keeps working until" in rotated.output
    new = rotated.output.strip().splitlines()[-1]
    assert len(new) >= 40 and new != old
    storage = Storage.open(sqlite_url)
    query = (
        "SELECT secret_hash, previous_secret_hash FROM oauth_clients WHERE client_id = 'etl-app'"
    )
    with storage.db.session() as session:
        stored = session.execute(text(query)).one()
    # Digests only (SHA-256, hex): the new secret, and the old one for its hour of grace.
    assert tuple(stored) == (
        hashlib.sha256(new.encode()).hexdigest(),
        hashlib.sha256(old.encode()).hexdigest(),
    )
    at_once = run(config, "clients", "rotate-secret", "etl-app", "--previous-expires-in", "0")
    assert "refused from now on" in at_once.output
    with storage.db.session() as session:
        assert session.execute(text(query)).one()[1] is None
    assert (
        run(config, "clients", "rotate-secret", "etl-app", "--previous-expires-in", "31d").exit_code
        == 2
    )
    for refused in ("static-app", "nobody"):
        result = run(config, "clients", "rotate-secret", refused)
        assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        run(
            config, "clients", "add", "spa", "--public", "--redirect-uri", "https://spa.example/cb"
        ).exit_code
        == 0
    )
    assert run(config, "clients", "rotate-secret", "spa").exit_code == 1  # no secret to rotate


def test_bad_client_registrations_are_refused(config: Path) -> None:
    for args in (
        ["bad id!"],
        ["x", "--redirect-uri", "https://a.example/cb#frag"],
        ["x", "--grant", "password"],
        ["x", "--public", "--grant", "client_credentials"],
        ["x", "--access-token-lifetime", "10s"],
    ):
        result = run(config, "clients", "add", *args)
        assert result.exit_code == 2, args  # invalid input (the one validator)
        assert "Traceback" not in result.output
    result = run(config, "clients", "add", "static-app")
    assert result.exit_code == 1 and "Managed elsewhere" in result.output  # the config file's


def test_lists_print_the_admin_apis_json(config: Path) -> None:
    assert run(config, "service-accounts", "add", "etl").exit_code == 0
    robot = run(config, "robots", "add", "ci")
    assert robot.exit_code == 0
    token = robot.output.strip().splitlines()[-1]
    clients = json.loads(run(config, "clients", "list", "--output", "json").output)
    by_id = {c["clientId"]: c for c in clients["items"]}
    assert by_id["sa-etl"]["serviceAccount"] is True
    assert by_id["static-app"]["source"] == "config"
    assert by_id["authbridge-cli"]["source"] == "builtin"
    accounts = json.loads(run(config, "service-accounts", "list", "-o", "json").output)
    assert [a["name"] for a in accounts["items"]] == ["etl"]
    assert accounts["items"][0]["roles"] == ["viewer"]
    robots = run(config, "robots", "list", "-o", "json").output
    assert token not in robots
    assert json.loads(robots)["items"][0]["state"] == "active"
    keys = json.loads(run(config, "keys", "list", "-o", "json").output)["items"]
    assert [k["state"] for k in keys] == ["signing"] and set(keys[0]) == {
        "kid",
        "alg",
        "created",
        "signsFrom",
        "state",
        "publishedUntil",
    }


def test_service_account_and_robot_lifecycle(config: Path) -> None:
    added = run(config, "service-accounts", "add", "etl", "--role", "editor", "--lifetime", "1h")
    assert added.exit_code == 0 and "sa-etl" in added.output
    assert (
        "etl  client_id sa-etl  roles: editor  active"
        in run(config, "service-accounts", "list").output
    )
    assert run(config, "service-accounts", "add", "x", "--role", "god").exit_code == 2
    assert run(config, "service-accounts", "remove", "etl").exit_code == 0
    robot = run(config, "robots", "add", "ci", "--role", "viewer", "--lifetime", "30d")
    assert robot.exit_code == 0
    jti = re.search(r"token id (\S+),", robot.output).group(1)
    assert f"{jti}  robot:ci" in run(config, "robots", "list").output
    assert run(config, "robots", "revoke", jti).exit_code == 0
    assert "revoked" in run(config, "robots", "list").output
    assert run(config, "robots", "revoke", jti).exit_code == 1


def test_lifetimes() -> None:
    assert parse_lifetime("90m") == 5400 and parse_lifetime("30d") == 2592000
    assert parse_lifetime("3600") == 3600
    import typer

    with pytest.raises(typer.BadParameter):
        parse_lifetime("forever")


def test_client_credentials_client_is_refused_with_the_way_to_get_one(config: Path) -> None:
    """A plain client cannot speak for anyone with client_credentials (issue 10, defect 4):
    registration refuses it and names `service-accounts add`, which does work."""
    result = run(config, "clients", "add", "etl", "--grant", "client_credentials")
    assert result.exit_code == 2  # invalid input
    assert "grantTypes[0]" in result.output and "service-accounts add" in result.output
    assert "etl" not in run(config, "clients", "list").output
    added = run(config, "service-accounts", "add", "etl", "--role", "viewer")
    assert added.exit_code == 0, added.output


@pytest.mark.parametrize(
    ("client", "path"),
    [
        (
            "    redirectUris: ['https://ok.example/cb', 'https://a.example/cb#frag']\n",
            "clients.web.redirectUris[1]",
        ),
        ("    redirectUris: ['/relative']\n", "clients.web.redirectUris[0]"),
        ("    grantTypes: [authorization_code, password]\n", "clients.web.grantTypes[1]"),
        ("    grantTypes: [client_credentials]\n", "clients.web.grantTypes[0]"),
        (
            "    postLogoutRedirectUris: ['https://u:p@a.example/bye']\n",
            "clients.web.postLogoutRedirectUris[0]",
        ),
    ],
)
def test_config_file_clients_go_through_the_same_validation(
    tmp_path: Path, sqlite_url: str, client: str, path: str
) -> None:
    """`clients.<id>` in the file were not validated at all; now `config check` (and every
    command that loads the file) refuses them, naming the key path."""
    config = tmp_path / "authbridge.yaml"
    config.write_text(f"database:\n  url: {sqlite_url}\nclients:\n  web:\n{client}")
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert path in result.output
    assert "Traceback" not in result.output
