"""The first admin from the environment (issue 15, part 1), as Keycloak's
KC_BOOTSTRAP_ADMIN_* and authentik's AUTHENTIK_BOOTSTRAP_*: created once at start-up while
no admin exists, whatever number of replicas start together; then no setup link is printed,
and the password is never written anywhere."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from authbridge.storage.database import engine_url
from tests.e2e.server import SETUP_LINK, AuthbridgeServer, run_cli
from tests.e2e.visitor import Visitor

EMAIL = "Root@Example.com"
PASSWORD = "a long bootstrap passphrase"


def _bootstrap_env(workdir: Path) -> dict[str, str]:
    secret = workdir / "admin-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")  # as a mounted Secret ends
    return {
        "AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL": EMAIL,
        "AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD_FILE": str(secret),
    }


def _users(database_url: str) -> list[tuple[str, str]]:
    engine = create_engine(engine_url(database_url))
    try:
        with engine.connect() as connection:
            return [
                (row[0], row[1])
                for row in connection.execute(
                    text(
                        "SELECT u.username, r.role FROM users u "
                        "LEFT JOIN role_bindings r ON r.user_id = u.id"
                    )
                )
            ]
    finally:
        engine.dispose()


def _signs_in(server: AuthbridgeServer) -> None:
    visitor = Visitor(server.url)
    try:
        signed_in = visitor.sign_in("root@example.com", PASSWORD)
        assert signed_in.status_code == 303, signed_in.text[:500]
        assert signed_in.headers["location"] == "/account"
    finally:
        visitor.close()


def _quiet(server: AuthbridgeServer) -> None:
    """No setup link, no password, no error in what the replica wrote."""
    assert not SETUP_LINK.search(server.output), server.output
    assert PASSWORD not in server.output
    for word in ("Traceback", "UniqueViolation", "IntegrityError", "storage_unavailable"):
        assert word not in server.output, server.output


@pytest.mark.postgres
def test_three_replicas_start_together_one_migration_one_bootstrap_admin(
    tmp_path: Path, e2e_postgres_url: str
) -> None:
    env = _bootstrap_env(tmp_path)
    replicas = []
    for number in range(3):
        workdir = tmp_path / f"replica-{number}"
        workdir.mkdir()
        replicas.append(AuthbridgeServer(workdir, e2e_postgres_url, **env))
    try:
        # Released together, as a Deployment's pods: each migrates and bootstraps in the
        # background once it answers /healthz.
        with ThreadPoolExecutor(len(replicas)) as pool:
            list(pool.map(lambda replica: replica.start(wait_ready=True, timeout=60), replicas))
        assert _users(e2e_postgres_url) == [("Root@example.com", "admin")]
        for replica in replicas:
            _signs_in(replica)
            _quiet(replica)
        created = sum("bootstrap_admin_created" in replica.output for replica in replicas)
        assert created == 1
    finally:
        for replica in replicas:
            replica.stop()


def test_bootstrap_admin_from_a_secret_file_and_a_restart_keeps_it(tmp_path: Path) -> None:
    env = _bootstrap_env(tmp_path)
    with AuthbridgeServer(tmp_path, **env) as server:
        _signs_in(server)
        _quiet(server)
        assert "bootstrap_admin_created" in server.output
    # A restart (the variables still set) finds the admin and makes nothing.
    with AuthbridgeServer(tmp_path, **env) as again:
        _signs_in(again)
        _quiet(again)
        assert "bootstrap_admin_created" not in again.output
    assert _users(f"sqlite:///{tmp_path / 'authbridge.db'}") == [("Root@example.com", "admin")]


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD": "password"}, "EMAIL"),
        ({"AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL": EMAIL}, "PASSWORD_FILE"),
        (
            {
                "AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL": EMAIL,
                "AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD": "password",
            },
            "too common",
        ),
        (
            {
                "AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL": EMAIL,
                "AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD_FILE": "/nonexistent/secret",
            },
            "cannot be read",
        ),
    ],
)
def test_an_incomplete_or_weak_bootstrap_admin_stops_serve(
    tmp_path: Path, variables: dict[str, str], named: str
) -> None:
    server = AuthbridgeServer(tmp_path, **variables)
    result = run_cli(["serve"], tmp_path, server.env, timeout=30)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert named in output
    assert "Traceback" not in output
    assert "password\n" not in result.stdout
