"""The seeds' configuration blocks, copied with placeholders filled, load as written.

Each file under tests/data/seeds/<product>/ is an example from ../shared/seeds/ byte for
byte except its placeholders; `load_settings` is what `authbridge config check` runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from oidc_provider_mock import run_server_in_thread
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.config import ConfigError, load_settings, load_with_report
from authbridge.connectors.registry import build_connectors
from authbridge.middleware import VerifierConfig
from authbridge.scim.auth import credential_for
from tests.connectors.proxy import ForwardProxy
from tests.web.conftest import AppFactory

SEEDS = Path(__file__).parent.parent / "data" / "seeds"
ASTRONOMER = SEEDS / "astronomer"


def test_generic_oidc_example_with_empty_auth_url_params_loads() -> None:
    # `authUrlParams:` with nothing under it is YAML null; it means "no extra parameters".
    settings = load_settings(ASTRONOMER / "generic-oidc.yaml", {})
    provider = settings.auth.openid_connect.providers["keycloak"]
    assert provider.enabled and provider.client_id == "keycloak-client"
    assert provider.auth_url_params == {}
    assert settings.auth.openid_connect.clock_tolerance == 0


def test_null_list_and_section_take_their_defaults(tmp_path: Path) -> None:
    # One rule for every non-scalar key: null is "not given".
    path = tmp_path / "values.yaml"
    path.write_text(
        "auth:\n  openidConnect:\n    okta:\n      scopes:\nscim:\n  teamRoles:\nlogging:\n"
    )
    settings = load_settings(path, {})
    assert settings.auth.openid_connect.providers["okta"].scopes == ["openid", "profile", "email"]
    assert settings.scim.team_roles == []


@pytest.mark.parametrize(
    ("name", "provider", "client_id"),
    [
        ("entra.yaml", "microsoft", "0f9d8c7b-entra-client"),
        ("okta.yaml", "okta", "0oa1okta"),
        ("auth0.yaml", "auth0", "auth0-default-app"),
        ("cognito.yaml", "cognito", "cognito-client"),
        ("generic-oidc.yaml", "keycloak", "keycloak-client"),
        ("proxy-env.yaml", "okta", "0oa1okta"),
    ],
)
def test_astronomer_provider_examples_load(name: str, provider: str, client_id: str) -> None:
    settings = load_settings(ASTRONOMER / name, {})
    block = settings.auth.openid_connect.providers[provider]
    assert block.enabled and block.client_id == client_id


def test_astronomer_local_and_custom_flow_examples_load() -> None:
    assert load_settings(ASTRONOMER / "local.yaml", {}).auth.local.enabled
    custom = load_settings(ASTRONOMER / "custom-flow.yaml", {})
    assert custom.auth.openid_connect.flow == "code" and custom.auth.local.enabled


def _mount(secrets: Path, name: str, key: str, value: str) -> None:
    """A Kubernetes Secret volume: a directory per Secret, a file per key."""
    (secrets / name).mkdir(parents=True, exist_ok=True)
    (secrets / name / key).write_text(value + "\n")


@pytest.fixture
def secrets(tmp_path: Path) -> Path:
    secrets = tmp_path / "secrets"
    _mount(secrets, "okta-secret", "okta_client_secret", "s3cr3t-from-secret")
    _mount(secrets, "okta-provisioning-secret", "okta_provisioning_account_secret", "scim:pw")
    _mount(secrets, "azure-provisioning-secret", "azure_provisioning_secret", "entra-token")
    return secrets


def test_houston_env_and_secret_lists_apply_as_environment_variables(secrets: Path) -> None:
    env = {"AUTHBRIDGE_SECRETS_DIR": str(secrets)}
    settings, report = load_with_report(ASTRONOMER / "composed-values.yaml", env)
    okta = settings.auth.openid_connect.providers["okta"]
    assert okta.enabled and okta.client_id == "0oa1okta"
    assert okta.discovery_url == "https://dev-123.okta.com/.well-known/openid-configuration"
    assert okta.auth_url_params == {"audience": "api://astronomer"}
    assert okta.client_secret == "s3cr3t-from-secret"
    assert settings.auth.openid_connect.flow == "code"
    # Not settings keys: kept for the code that reads the environment.
    assert settings.environment == {
        "GLOBAL_AGENT_HTTPS_PROXY": "http://my-proxy:3129",
        "SCIM_AUTH_CODE_OKTA": "scim:pw",
    }
    assert credential_for("okta", settings.scim, settings.environ({})).secret == "scim:pw"
    assert set(report.not_read) == {
        "global",
        "nginx",
        "astronomer.commander",
        "astronomer.houston.replicas",
        "astronomer.houston.config.deployments",
    }
    assert "astronomer.houston.env[1] -> auth.openidConnect.okta.clientId" in report.translated
    assert (
        "astronomer.houston.secret[0] -> auth.openidConnect.okta.clientSecret" in report.translated
    )
    assert "astronomer.houston.env[4] -> environment $GLOBAL_AGENT_HTTPS_PROXY" in (
        report.translated
    )


def test_a_real_environment_variable_wins_over_the_files_list(secrets: Path) -> None:
    env = {
        "AUTHBRIDGE_SECRETS_DIR": str(secrets),
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_ID": "from-process",
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": "process-secret",
        "GLOBAL_AGENT_HTTPS_PROXY": "http://process-proxy:3128",
    }
    settings = load_settings(ASTRONOMER / "composed-values.yaml", env)
    okta = settings.auth.openid_connect.providers["okta"]
    assert (okta.client_id, okta.client_secret) == ("from-process", "process-secret")
    assert settings.environ(env)["GLOBAL_AGENT_HTTPS_PROXY"] == "http://process-proxy:3128"


@pytest.mark.parametrize(
    ("name", "variable", "value"),
    [
        ("scim-okta-secret.yaml", "SCIM_AUTH_CODE_OKTA", "scim:pw"),
        ("scim-microsoft-secret.yaml", "SCIM_AUTH_CODE_MICROSOFT", "entra-token"),
    ],
)
def test_scim_secret_examples_feed_the_scim_credential(
    secrets: Path, name: str, variable: str, value: str
) -> None:
    settings = load_settings(ASTRONOMER / name, {"AUTHBRIDGE_SECRETS_DIR": str(secrets)})
    assert settings.environment == {variable: value}
    source = "okta" if "OKTA" in variable else "microsoft"
    assert credential_for(source, settings.scim, settings.environ({})).secret == value


def test_okta_client_secret_example_sets_the_client_secret(secrets: Path) -> None:
    settings = load_settings(
        ASTRONOMER / "okta-client-secret.yaml", {"AUTHBRIDGE_SECRETS_DIR": str(secrets)}
    )
    assert settings.auth.openid_connect.providers["okta"].client_secret == "s3cr3t-from-secret"


def test_a_missing_secret_file_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            ASTRONOMER / "okta-client-secret.yaml", {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path)}
        )
    (issue,) = caught.value.issues
    assert issue.path == "astronomer.houston.secret[0]"
    assert str(tmp_path / "okta-secret" / "okta_client_secret") in issue.message


def test_unknown_keys_inside_read_sections_stay_errors(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(
        "sever:\n  port: 1\n"
        "astronomer:\n  houston:\n    config:\n      auth:\n        lokal: {}\n"
        "    secret:\n      - envName: X\n        secretName: s\n        secretKey: k\n"
        "        secretname: s\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path)})
    found = {(i.path, i.suggestion) for i in caught.value.issues}
    assert ("sever", "server") in found
    assert (
        "astronomer.houston.config.auth.lokal",
        "astronomer.houston.config.auth.local",
    ) in found
    assert ("astronomer.houston.secret[0].secretname", None) in found


def test_the_env_lists_proxy_carries_idp_calls(tmp_path: Path) -> None:
    """GLOBAL_AGENT_HTTP(S)_PROXY given only in the file's env list is the proxy used."""
    with run_server_in_thread() as server, ForwardProxy() as proxy:
        provider = f"http://localhost:{server.server_port}"
        path = tmp_path / "values.yaml"
        path.write_text(
            "astronomer:\n  houston:\n    env:\n"
            f"      - name: GLOBAL_AGENT_HTTP_PROXY\n        value: {proxy.url}\n"
        )
        settings = load_settings(path, {})
        connectors = build_connectors(settings, {})
        try:
            document = connectors.http.get_json(
                provider + "/.well-known/openid-configuration", what="discovery"
            )
        finally:
            connectors.http.close()
    assert document["issuer"].rstrip("/") == provider
    assert f"GET {provider}/.well-known/openid-configuration" in proxy.seen


def test_config_check_shows_what_each_foreign_entry_became(
    secrets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTHBRIDGE_SECRETS_DIR", str(secrets))
    config = ASTRONOMER / "composed-values.yaml"
    result = CliRunner().invoke(app, ["config", "check", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "translated: astronomer.houston.secret[1] -> environment $SCIM_AUTH_CODE_OKTA" in (
        result.output
    )
    assert "translated: astronomer.houston.env[0] -> auth.openidConnect.okta.enabled" in (
        result.output
    )
    assert "not read by authbridge: global" in result.output
    assert "not read by authbridge: astronomer.commander" in result.output
    # Values from mounted secrets are masked like every other secret; names are shown.
    assert "scim:pw" not in result.output and "s3cr3t-from-secret" not in result.output
    printed = yaml.safe_load(result.stdout)
    assert printed["environment"] == {
        "GLOBAL_AGENT_HTTPS_PROXY": "********",
        "SCIM_AUTH_CODE_OKTA": "********",
    }


OPENMETADATA = SEEDS / "openmetadata"


def test_openmetadata_public_example_stands_up_an_implicit_okta_login() -> None:
    settings, report = load_with_report(OPENMETADATA / "okta-public.yaml", {})
    oidc = settings.auth.openid_connect
    okta = oidc.providers["okta"]
    assert oidc.flow == "implicit"
    assert okta.enabled and okta.client_id == "0oa1om" and okta.client_secret is None
    assert okta.issuer == "https://dev-123.okta.com/oauth2/aus1om"
    assert okta.discovery_url == (
        "https://dev-123.okta.com/oauth2/aus1om/.well-known/openid-configuration"
    )
    assert settings.authorizer.initial_admins == ["admin", "user1", "user2"]
    assert settings.authorizer.principal_domain == "open-metadata.org"
    assert (
        "openmetadata.config.authentication.clientId -> auth.openidConnect.okta.clientId"
        in report.translated
    )
    assert (
        "openmetadata.config.authentication.publicKeys (the token verifier's: "
        "VerifierConfig.from_mapping)" in report.not_read
    )


def test_openmetadata_confidential_example_reads_its_mounted_secrets(tmp_path: Path) -> None:
    _mount(tmp_path, "oidc-secrets", "openmetadata-oidc-client-id", "0oa1om")
    _mount(tmp_path, "oidc-secrets", "openmetadata-oidc-client-secret", "om-secret")
    env = {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path)}
    settings = load_settings(OPENMETADATA / "okta-confidential.yaml", env)
    okta = settings.auth.openid_connect.providers["okta"]
    assert settings.auth.openid_connect.flow == "code"
    assert (okta.client_id, okta.client_secret) == ("0oa1om", "om-secret")
    # The page's "http://{ISSUER_URL}/..." with an https issuer means the https URL.
    assert okta.discovery_url == (
        "https://dev-123.okta.com/oauth2/aus1om/.well-known/openid-configuration"
    )


def test_openmetadata_missing_secret_and_unknown_classes_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(OPENMETADATA / "okta-confidential.yaml", {"AUTHBRIDGE_SECRETS_DIR": "/x"})
    paths = {issue.path for issue in caught.value.issues}
    assert "openmetadata.config.authentication.oidcConfiguration.clientSecret" in paths
    path = tmp_path / "om.yaml"
    path.write_text(
        "openmetadata:\n  config:\n    authorizer:\n"
        "      className: org.example.MyAuthorizer\n      initalAdmins: [a]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    found = {(i.path, i.suggestion) for i in caught.value.issues}
    assert ("openmetadata.config.authorizer.className", None) in found
    assert (
        "openmetadata.config.authorizer.initalAdmins",
        "openmetadata.config.authorizer.initialAdmins",
    ) in found


def test_openmetadata_public_keys_block_builds_the_verifier_as_written() -> None:
    # The same block feeds the token verifier: one trust per issuer, each with its audience.
    values = yaml.safe_load((OPENMETADATA / "okta-public.yaml").read_text())
    config = VerifierConfig.from_mapping(values["openmetadata"]["config"]["authentication"])
    audiences = {trust.issuer: trust.audiences for trust in config.issuers}
    assert audiences == {
        "https://auth.open-metadata.org": ("https://auth.open-metadata.org",),
        "https://dev-123.okta.com/oauth2/aus1om": ("0oa1om",),
    }


def test_a_scim_secret_from_the_houston_list_authenticates_the_okta_client(
    secrets: Path, sqlite_url: str, app_factory: AppFactory
) -> None:
    env = {"AUTHBRIDGE_SECRETS_DIR": str(secrets), "DATABASE__URL": sqlite_url}
    settings = load_settings(ASTRONOMER / "scim-okta-secret.yaml", env)
    app = app_factory(settings)
    ok = app.get("/v1/scim/v2/okta/Users", auth=("scim", "pw"))
    assert ok.status_code == 200, ok.text
    assert app.get("/v1/scim/v2/okta/Users", auth=("scim", "wrong")).status_code == 401


def _om(tmp_path: Path, authorizer: str) -> Path:
    path = tmp_path / "om.yaml"
    path.write_text("openmetadata:\n  config:\n    authorizer:\n" + authorizer)
    return path


def test_openmetadata_authorizer_keys(tmp_path: Path) -> None:
    accepted = _om(
        tmp_path,
        "      initialAdmins: [admin]\n      adminPrincipals: [admin, ops]\n"
        "      principalDomain: example.com\n      enforcePrincipalDomain: true\n"
        "      allowedEmailRegistrationDomains: [all]\n",
    )
    authorizer = load_settings(accepted, {}).authorizer
    assert authorizer.initial_admins == ["admin", "ops"]
    assert authorizer.principal_domain == "example.com"
    refused = _om(
        tmp_path,
        "      principalDomain: example.com\n      enforcePrincipalDomain: false\n"
        "      allowedEmailRegistrationDomains: [example.com, example.org]\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(refused, {})
    assert {i.path for i in caught.value.issues} == {
        "openmetadata.config.authorizer.enforcePrincipalDomain",
        "openmetadata.config.authorizer.allowedEmailRegistrationDomains",
    }
