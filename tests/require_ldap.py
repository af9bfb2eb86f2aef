"""pytest plugin for CI: an LDAP test (marked `ldap`) that skips is a failure, and some
must run.

Loaded by `.ci/run` through `PYTEST_PLUGINS=...,tests.require_ldap` (as
`tests.require_postgres` is), so a green CI run has signed in against the real OpenLDAP
`slapd` the tests start (tests/ldapserver.py), not skipped it because Debian's `slapd` or
`ldap-utils` was missing.
"""

from __future__ import annotations

import pytest

from tests.required import RequiredBackend


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequiredBackend("ldap", "OpenLDAP"), "required-ldap")
