"""The Redis URL as logs and /readyz may show it: the password replaced, nothing else."""

from __future__ import annotations

import pytest

from authbridge.config import ConfigError, load_settings
from authbridge.storage.urls import redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw-secret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:pw-secret@cache.example:6380/2", "rediss://app:***@cache.example:6380/2"),
        ("redis://app:pw-secret@cache", "redis://app:***@cache"),
    ],
)
def test_redacted_hides_only_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown
    assert "pw-secret" not in redacted(url)


def test_redis_url_must_be_a_redis_url_and_the_error_names_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"REDIS__URL": "http://:pw-secret@cache:6379"})
    (issue,) = caught.value.issues
    assert issue.path == "redis.url"
    assert "redis://" in issue.message
    assert "pw-secret" not in str(issue)  # a secret is never echoed, even a wrong one


def test_redis_settings_from_the_environment() -> None:
    settings = load_settings(
        None,
        {
            "REDIS__URL": "redis://cache:6379/1",
            "REDIS__KEY_PREFIX": "tenant-a:",
            "REDIS__TIMEOUT": "0.25",
        },
    )
    assert settings.redis.url == "redis://cache:6379/1"
    assert settings.redis.key_prefix == "tenant-a:"
    assert settings.redis.timeout == 0.25
