"""deploy/compose.yaml, parsed and validated by the compose-spec library (a Rust
implementation of the Compose Specification: unknown keys, bad durations, undefined
secrets or volumes and unknown depends_on conditions are errors), then its intent checked.
No Docker engine runs here: `docker compose up` itself is not exercised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from authbridge.config import load_with_report
from authbridge.directory.bootstrap import BootstrapAdmin
from tests.deploy.conftest import DEPLOY

COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = PyCompose.from_yaml(COMPOSE.read_text())
    parsed.validate()  # every referenced secret, volume and network is defined
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_the_validator_refuses_what_compose_refuses() -> None:
    text = COMPOSE.read_text().replace("condition: service_healthy", "condition: healthy")
    with pytest.raises(ValueError, match="condition"):
        PyCompose.from_yaml(text)
    broken = PyCompose.from_yaml(
        COMPOSE.read_text().replace("  database-url:\n    file", "  db-url:\n    file")
    )
    with pytest.raises(ValueError, match="database-url"):
        broken.validate()


def test_authbridge_waits_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["authbridge"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["redis"]["profiles"] == ["redis"]  # optional
    check = services["authbridge"]["healthcheck"]["test"]
    assert check[:2] == ["CMD", "python"] and "/readyz" in check[-1]  # slim has no curl


def test_secrets_are_files_not_environment_values(compose: dict[str, Any]) -> None:
    authbridge = compose["services"]["authbridge"]
    env = authbridge["environment"]
    assert env["DATABASE__URL_FILE"] == "/run/secrets/database-url"
    assert env["AUTHBRIDGE_BOOTSTRAP_ADMIN_PASSWORD_FILE"] == "/run/secrets/admin-password"
    assert set(authbridge["secrets"]) == {"database-url", "admin-password"}
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
    for value in env.values():
        assert "postgresql://" not in str(value)
    assert all("file" in s for s in compose["secrets"].values())


def test_authbridge_runs_read_only_as_the_images_user(compose: dict[str, Any]) -> None:
    authbridge = compose["services"]["authbridge"]
    assert authbridge["read_only"] is True
    assert authbridge["tmpfs"] == ["/tmp"]
    assert [v.split(":")[1] for v in authbridge["volumes"]] == ["/data"]
    assert authbridge["user"] == "10001:10001"
    assert authbridge["cap_drop"] == ["ALL"]
    assert authbridge["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (COMPOSE.parent / ".." / authbridge["build"]["dockerfile"]).resolve().is_file()


def test_the_loader_reads_the_compose_secrets(compose: dict[str, Any], tmp_path: Path) -> None:
    # Compose mounts each secret at /run/secrets/<name>; rebased on tmp_path, the service's
    # environment gives authbridge its database URL and first admin.
    files = {
        "database-url": "postgresql://authbridge:pw@postgres:5432/authbridge\n",
        "admin-password": "a long passphrase for the first admin\n",
    }
    for name, value in files.items():
        (tmp_path / name).write_text(value)
    environ = {
        name: str(tmp_path / value.rsplit("/", 1)[1])
        if value.startswith("/run/secrets/")
        else value
        for name, value in compose["services"]["authbridge"]["environment"].items()
    }
    settings, _report = load_with_report(None, environ)
    assert settings.database.url == "postgresql://authbridge:pw@postgres:5432/authbridge"
    assert settings.server.issuer == "http://localhost:8080"
    admin = BootstrapAdmin.from_environ(environ)
    assert admin is not None and admin.password == "a long passphrase for the first admin"
