"""`authbridge config export`: each seed's foreign shape, written in authbridge's own keys,
loads back to the same settings, and no secret is ever printed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.config import load_settings
from authbridge.config.export import native

SEEDS = Path(__file__).parent.parent / "data" / "seeds"
SECRET_VALUES = ("s3cr3t-from-secret", "scim:pw", "entra-token", "om-secret", "dex-secret")


def _mount(base: Path, name: str, key: str, value: str) -> None:
    (base / name).mkdir(parents=True, exist_ok=True)
    (base / name / key).write_text(value)


@pytest.fixture
def mounted(tmp_path: Path) -> dict[str, str]:
    secrets = tmp_path / "secrets"
    _mount(secrets, "okta-secret", "okta_client_secret", "s3cr3t-from-secret")
    _mount(secrets, "okta-provisioning-secret", "okta_provisioning_account_secret", "scim:pw")
    _mount(secrets, "azure-provisioning-secret", "azure_provisioning_secret", "entra-token")
    _mount(secrets, "oidc-secrets", "openmetadata-oidc-client-id", "0oa1om")
    _mount(secrets, "oidc-secrets", "openmetadata-oidc-client-secret", "om-secret")
    return {"AUTHBRIDGE_SECRETS_DIR": str(secrets)}


SEED_FILES = [
    "astronomer/composed-values.yaml",
    "astronomer/generic-oidc.yaml",
    "astronomer/okta-client-secret.yaml",
    "openmetadata/okta-confidential.yaml",
    "openmetadata/okta-public.yaml",
    "pachyderm/okta-upstream-idps.yaml",
]


@pytest.mark.parametrize("seed", SEED_FILES)
def test_the_export_loads_back_to_the_same_settings(
    seed: str, mounted: dict[str, str], tmp_path: Path
) -> None:
    original = load_settings(SEEDS / seed, mounted)
    tree, left_out = native(original)
    exported = tmp_path / "native.yaml"
    exported.write_text(yaml.safe_dump(tree))
    # No foreign section is left: the file is authbridge's own keys.
    assert not {"astronomer", "openmetadata", "oidc", "global"} & set(tree)
    text = exported.read_text()
    assert not any(value in text for value in SECRET_VALUES)
    reloaded = load_settings(exported, {})
    assert native(reloaded)[0] == tree
    # Given back through the environment, the secrets make it the very same settings.
    env = {}
    for path in left_out:
        section, *rest = path.split(".")
        if section == "environment":
            continue  # plain process variables, read where they are used
        env["__".join(_upper_snake(part) for part in [section, *rest])] = _value_at(
            original.model_dump(by_alias=True), path
        )
    full = load_settings(exported, env)
    assert full.auth == original.auth
    assert full.scim == original.scim


def test_secrets_are_named_never_printed(mounted: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["config", "export", "--config", str(SEEDS / "astronomer" / "composed-values.yaml")],
        env=mounted,
    )
    assert result.exit_code == 0, result.output
    assert not any(value in result.output for value in SECRET_VALUES)
    assert "secret left out: auth.openidConnect.okta.clientSecret" in result.output
    assert "left out: $SCIM_AUTH_CODE_OKTA (set it in the process environment)" in result.output
    assert yaml.safe_load(result.stdout)["auth"]["openidConnect"]["okta"]["clientId"] == (
        "0oa1okta"
    )


def _upper_snake(key: str) -> str:
    return "".join("_" + c if c.isupper() else c for c in key).upper().lstrip("_")


def _value_at(tree: dict[str, object], path: str) -> str:
    node: object = tree
    for part in path.split("."):
        assert isinstance(node, dict)
        if part not in node and "providers" in node:
            node = node["providers"]
        node = node[part]
    return str(node)
