"""pytest plugin for CI: a PostgreSQL test that skips is a failure, and some must run.

Loaded by `.ci/run` through `PYTEST_PLUGINS=tests.require_postgres`, so the README's test
command runs unchanged while CI refuses a green run that never touched PostgreSQL (for
instance because AUTHBRIDGE_TEST_DATABASE_URL was lost or the server was down).
"""

from __future__ import annotations

import pytest

from tests.required import RequiredBackend


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequiredBackend("postgres", "PostgreSQL"), "required-postgres")
