"""`authentication.callbackUrl` becomes OpenMetadata's client registration, and both
`config check` and `config export` show it (issue 11 part 4: one translation, visible)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.config import load_settings

SEEDS = Path(__file__).parent.parent / "data" / "seeds" / "openmetadata"
runner = CliRunner()


@pytest.fixture
def mounted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    secret = tmp_path / "oidc-secrets"
    secret.mkdir()
    (secret / "openmetadata-oidc-client-id").write_text("0oa1om\n")
    (secret / "openmetadata-oidc-client-secret").write_text("om-secret\n")
    monkeypatch.setenv("AUTHBRIDGE_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE__URL", f"sqlite:///{tmp_path / 'x.db'}")
    return tmp_path


def test_confidential_callback_url_registers_a_code_flow_client(mounted: Path) -> None:
    settings = load_settings(SEEDS / "okta-confidential.yaml")
    client = settings.clients["0oa1om"]
    assert client.redirect_uris == ["http://localhost:8585/callback"]
    assert not client.public and client.secret == "om-secret"
    assert client.grant_types == ["authorization_code", "refresh_token"]


def test_public_callback_url_registers_the_spa_with_its_silent_callback() -> None:
    settings = load_settings(SEEDS / "okta-public.yaml", {})
    client = settings.clients["0oa1om"]
    # The seed page's two sign-in redirect URIs.
    assert client.redirect_uris == [
        "http://localhost:8585/callback",
        "http://localhost:8585/silent-callback",
    ]
    assert client.public and client.secret is None and "implicit" in client.grant_types


def test_config_check_and_export_show_the_client(mounted: Path) -> None:
    path = str(SEEDS / "okta-confidential.yaml")
    check = runner.invoke(app, ["config", "check", "--config", path])
    assert check.exit_code == 0, check.output
    assert (
        "translated: openmetadata.config.authentication.callbackUrl -> "
        "clients.0oa1om.redirectUris" in check.stderr
    )
    assert "om-secret" not in check.output
    exported = runner.invoke(app, ["config", "export", "--config", path])
    assert exported.exit_code == 0, exported.output
    tree = yaml.safe_load(exported.stdout)
    assert tree["clients"]["0oa1om"]["redirectUris"] == ["http://localhost:8585/callback"]
    assert "secret left out: clients.0oa1om.secret" in exported.stderr


def test_a_callback_url_that_is_not_a_url_is_named(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(
        "openmetadata:\n  config:\n    authentication:\n      provider: okta\n"
        "      authority: https://idp.example\n      clientId: spa\n"
        "      callbackUrl: localhost:8585/callback\n"
    )
    result = runner.invoke(app, ["config", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert "openmetadata.config.authentication.callbackUrl" in result.stderr
