"""`smtp:` and per-connector `signup:` settings: the password from a mounted file, never
exported or shown; unknown security modes and signup modes refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from authbridge.config import ConfigError, load_settings, masked
from authbridge.config.export import native


def test_smtp_password_from_a_file_is_masked_and_not_exported(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text("hunter2-smtp\n")
    settings = load_settings(
        None,
        {
            "SMTP__HOST": "mail.example.com",
            "SMTP__USERNAME": "auth",
            "SMTP__PASSWORD_FILE": str(secret),
            "SMTP__SECURITY": "tls",
        },
    )
    assert settings.smtp.configured and settings.smtp.password == "hunter2-smtp"
    assert settings.smtp.port == 587 and settings.smtp.security == "tls"
    assert "hunter2-smtp" not in repr(masked(settings))
    exported, removed = native(settings)
    assert "hunter2-smtp" not in repr(exported) and "smtp.password" in removed


def test_smtp_is_off_by_default() -> None:
    assert not load_settings(None, {}).smtp.configured


@pytest.mark.parametrize(
    ("key", "value"),
    [("SMTP__SECURITY", "ssl"), ("AUTH__OPENID_CONNECT__OKTA__SIGNUP", "invite")],
)
def test_bad_modes_are_refused(key: str, value: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(None, {key: value})


def test_signup_invite_only_per_connector() -> None:
    settings = load_settings(
        None,
        {"AUTH__OPENID_CONNECT__OKTA__SIGNUP": "invite-only", "AUTH__GITHUB__SIGNUP": "open"},
    )
    assert settings.auth.openid_connect.providers["okta"].signup == "invite-only"
    assert settings.auth.github.signup == "open"
