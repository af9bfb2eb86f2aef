"""Loading settings from files, environment variables and secret files; error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from authbridge.config import ConfigError, load_settings, masked

DATA = Path(__file__).parent.parent / "data" / "config"


def test_defaults_run_out_of_the_box() -> None:
    settings = load_settings(None, {})
    assert settings.server.issuer == "http://localhost:8080"
    assert settings.database.url.startswith("sqlite:///")
    assert settings.auth.local.enabled is True
    assert settings.auth.openid_connect.flow == "implicit"  # the seeds' default
    assert settings.tokens.algorithm == "ES256"


def test_astronomer_houston_file_is_read_as_written() -> None:
    settings = load_settings(DATA / "astronomer-okta-code.yaml", {})
    oidc = settings.auth.openid_connect
    assert oidc.flow == "code"
    okta = oidc.providers["okta"]
    assert okta.enabled and okta.client_id == "ffhsdf78f734h2fsd"
    assert okta.auth_url_params == {"audience": "GYHWEYHTHR443fFEW"}
    assert settings.auth.github.enabled is False


def test_microsoft_example_and_json_authorizer() -> None:
    settings = load_settings(DATA / "astronomer-microsoft.yaml", {})
    microsoft = settings.auth.openid_connect.providers["microsoft"]
    assert microsoft.base_domain == "login.microsoftonline.com"
    assert settings.auth.openid_connect.providers["google"].enabled is False
    om = load_settings(DATA / "openmetadata-authorizer.json", {})
    assert om.authorizer.initial_admins == ["admin", "user1", "user2"]
    assert om.authorizer.principal_domain == "open-metadata.org"


def test_seed_environment_variables_map_to_keys() -> None:
    # The exact variables of the Astronomer seed's tip.
    env = {
        "AUTH__OPENID_CONNECT__OKTA__ENABLED": "true",
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_ID": "client-1",
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": "s3cret",
        "AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL": "https://x.okta.com/.well-known/openid-configuration",
        "AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__AUDIENCE": "aud-1",
        "AUTH__OPENID_CONNECT__FLOW": "implicit",
        "AUTH__OPENID_CONNECT__OKTA__BASE_DOMAIN": "x.okta.com",
        "AUTH__OPENID_CONNECT__CUSTOM__DISPLAY_NAME": "Custom OAuth",
        "AUTH__OPENID_CONNECT__COGNITO__AUTH_URL_PARAMS__RESPONSE_TYPE": "token",
    }
    oidc = load_settings(None, env).auth.openid_connect
    okta = oidc.providers["okta"]
    assert okta.enabled is True and okta.client_id == "client-1"
    assert okta.client_secret == "s3cret"
    assert okta.auth_url_params == {"audience": "aud-1"}
    assert okta.base_domain == "x.okta.com"
    assert oidc.providers["custom"].display_name == "Custom OAuth"
    # OAuth parameter names keep the IdP's spelling, not camelCase.
    assert oidc.providers["cognito"].auth_url_params == {"response_type": "token"}


def test_environment_overrides_file_and_extends_it(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("auth:\n  openidConnect:\n    corp-sso:\n      clientId: from-file\n")
    env = {
        "AUTH__OPENID_CONNECT__CORP_SSO__CLIENT_ID": "from-env",
        "AUTHORIZER__INITIAL_ADMINS": "alice@example.com, bob",
        "SERVER__PORT": "9000",
    }
    settings = load_settings(config, env)
    # The env variable finds the file's `corp-sso` block (names match spelling-insensitively).
    assert settings.auth.openid_connect.providers["corp-sso"].client_id == "from-env"
    assert settings.authorizer.initial_admins == ["alice@example.com", "bob"]
    assert settings.server.port == 9000


def test_values_from_files_for_kubernetes_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "okta-secret"
    secret.write_text("from-file-secret\n")
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "AUTH__OPENID_CONNECT__OKTA__CLIENT_ID").write_text("id-from-dir")
    (secrets_dir / "DATABASE__URL").write_text("postgresql://u:pw@db/authbridge")
    env = {
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET_FILE": str(secret),
        "AUTHBRIDGE_SECRETS_DIR": str(secrets_dir),
    }
    settings = load_settings(None, env)
    okta = settings.auth.openid_connect.providers["okta"]
    assert okta.client_secret == "from-file-secret"  # trailing newline of the mount dropped
    assert okta.client_id == "id-from-dir"
    assert settings.database.url == "postgresql://u:pw@db/authbridge"


def test_environment_wins_over_secrets_dir(tmp_path: Path) -> None:
    (tmp_path / "SERVER__PORT").write_text("7000")
    settings = load_settings(
        None, {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path), "SERVER__PORT": "7001"}
    )
    assert settings.server.port == 7001


def test_unknown_file_key_names_full_path_and_closest_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "auth:\n  openidConnect:\n    okta:\n      clientSecrt: x\n  locl:\n    enabled: true\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    messages = [str(issue) for issue in caught.value.issues]
    assert (
        "auth.openidConnect.okta.clientSecrt: unknown key; did you mean "
        "auth.openidConnect.okta.clientSecret?" in messages
    )
    assert "auth.locl: unknown key; did you mean auth.local?" in messages


def test_unknown_env_key_names_variable_and_the_right_one() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"AUTH__LOCAL__ENABLE": "true"})
    (issue,) = caught.value.issues
    assert issue.path == "auth.local.enable"
    assert "$AUTH__LOCAL__ENABLE" in issue.message
    assert issue.suggestion == "auth.local.enabled ($AUTH__LOCAL__ENABLED)"


def test_wrong_values_are_named_with_what_was_given() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            None,
            {
                "AUTH__OPENID_CONNECT__FLOW": "hybrid",
                "SERVER__PORT": "eighty",
                "SERVER__ISSUER": "auth.example.com",
            },
        )
    text = str(caught.value)
    assert "auth.openidConnect.flow" in text and "'hybrid'" in text
    assert "server.port" in text and "'eighty'" in text
    assert "server.issuer" in text and "http(s) URL" in text


def test_dex_style_spelling_is_accepted(tmp_path: Path) -> None:
    # Pachyderm/Dex write clientID; Astronomer's prose writes discoveryURL.
    config = tmp_path / "c.yaml"
    config.write_text(
        "auth:\n  openidConnect:\n    okta:\n      clientID: a\n"
        "      discoveryURL: https://x.okta.com\n"
    )
    okta = load_settings(config, {}).auth.openid_connect.providers["okta"]
    assert okta.client_id == "a" and okta.discovery_url == "https://x.okta.com"


def test_invalid_yaml_is_reported_with_position(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("auth:\n  local: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert "not valid YAML/JSON at line" in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml", {})


def test_masked_hides_every_secret() -> None:
    env = {
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": "topsecret",
        "AUTH__GITHUB__CLIENT_SECRET": "gh-secret",
        "DATABASE__URL": "postgresql://app:dbpass@db:5432/auth",
        "SERVER__SECRET_KEY": "csrf-key",
    }
    text = repr(masked(load_settings(None, env)))
    for secret in ("topsecret", "gh-secret", "dbpass", "csrf-key"):
        assert secret not in text
    assert "postgresql://app:********@db:5432/auth" in text
    assert "okta" in text  # provider blocks are shown under their own names
