"""`auth.local.mfa` and `auth.local.mfaRequiredForAdmins`: read from the file and the
environment; a wrong value or a misspelt key names its path."""

from __future__ import annotations

from pathlib import Path

import pytest

from authbridge.config import ConfigError, load_settings


def test_keys_from_the_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "authbridge.yaml"
    config.write_text("auth:\n  local:\n    mfa: required\n    mfaRequiredForAdmins: true\n")
    local = load_settings(config, {}).auth.local
    assert (local.mfa, local.mfa_required_for_admins) == ("required", True)
    defaults = load_settings(None, {}).auth.local
    assert (defaults.mfa, defaults.mfa_required_for_admins) == ("optional", False)
    env = {"AUTH__LOCAL__MFA": "off", "AUTH__LOCAL__MFA_REQUIRED_FOR_ADMINS": "true"}
    from_env = load_settings(None, env).auth.local
    assert (from_env.mfa, from_env.mfa_required_for_admins) == ("off", True)


def test_wrong_value_and_misspelt_key_name_their_path(tmp_path: Path) -> None:
    config = tmp_path / "authbridge.yaml"
    config.write_text("auth:\n  local:\n    mfa: sometimes\n    mfaRequiredForAdmin: true\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    text = str(caught.value)
    assert "auth.local.mfa:" in text and "'off', 'optional' or 'required'" in text
    assert "did you mean auth.local.mfaRequiredForAdmins?" in text
