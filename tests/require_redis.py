"""pytest plugin for CI: a Redis test that skips is a failure, and some must run.

Loaded by `.ci/run` through `PYTEST_PLUGINS=...,tests.require_redis` (as
`tests.require_postgres` is), so a green CI run has exercised the Redis counters against
the real Redis (AUTHBRIDGE_TEST_REDIS_URL), not skipped them because it was down.
"""

from __future__ import annotations

import pytest

from tests.required import RequiredBackend


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequiredBackend("redis", "Redis"), "required-redis")
