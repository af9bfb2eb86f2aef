"""`authbridge doctor` for an LDAP directory, against a real OpenLDAP: the service bind,
a test search of users and of groups, and what each failure says to fix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.doctor import diagnose
from authbridge.doctor.report import Check
from tests.conftest import make_settings
from tests.ldapserver import BASE, Slapd, closed_port, slapd

pytestmark = pytest.mark.ldap
__all__ = ["slapd"]


def run(sqlite_url: str, **config: Any) -> dict[str, Check]:
    settings = make_settings(sqlite_url, AUTH__LDAP=json.dumps({"corp": config}))
    return {c.check: c for c in diagnose(settings, {}) if c.subject == "corp"}


def test_a_working_directory(slapd: Slapd, sqlite_url: str) -> None:
    checks = run(sqlite_url, **slapd.config())
    assert checks["bind"].status == "ok"
    assert "bound as cn=authbridge,ou=services" in checks["bind"].message
    assert checks["search"].status == "ok" and f"ou=people,{BASE}" in checks["search"].message
    assert checks["groups"].status == "ok" and f"ou=groups,{BASE}" in checks["groups"].message
    assert "config" not in checks  # plain LDAP to loopback: nothing to warn about


def test_start_tls_with_its_ca(slapd: Slapd, sqlite_url: str) -> None:
    config = slapd.config(insecureNoSSL=False, startTLS=True, rootCA=str(slapd.ca_file))
    checks = run(sqlite_url, **config)
    assert checks["bind"].status == "ok" and "(StartTLS)" in checks["bind"].message


def test_a_tls_error_is_explained(slapd: Slapd, sqlite_url: str) -> None:
    checks = run(sqlite_url, **slapd.config(insecureNoSSL=False, startTLS=True))
    assert checks["bind"].status == "fail"
    assert "not signed by a CA authbridge trusts; set rootCA" in checks["bind"].message
    assert "search" not in checks


def test_skipping_verification_is_warned_about(slapd: Slapd, sqlite_url: str) -> None:
    config = slapd.config(insecureNoSSL=False, startTLS=True, insecureSkipVerify=True)
    checks = run(sqlite_url, **config)
    assert checks["config"].status == "warn" and "insecureSkipVerify" in checks["config"].message
    assert checks["bind"].status == "ok"


def test_a_directory_that_is_down(slapd: Slapd, sqlite_url: str) -> None:
    checks = run(sqlite_url, **slapd.config(host=f"127.0.0.1:{closed_port()}"))
    assert checks["bind"].status == "fail" and "connection refused" in checks["bind"].message


def test_a_wrong_service_password(slapd: Slapd, sqlite_url: str) -> None:
    checks = run(sqlite_url, **slapd.config(bindPW="wrong"))
    assert checks["bind"].status == "fail" and "check bindDN and bindPW" in checks["bind"].message


def test_a_search_that_finds_nobody(slapd: Slapd, sqlite_url: str) -> None:
    config = slapd.config()
    config["userSearch"] = {**config["userSearch"], "filter": "(objectClass=posixAccount)"}
    config["groupSearch"] = {**config["groupSearch"], "filter": "(objectClass=device)"}
    checks = run(sqlite_url, **config)
    assert checks["search"].status == "fail" and "nobody could sign in" in checks["search"].message
    assert checks["groups"].status == "warn"


def test_the_command_exits_1_on_a_failed_directory(slapd: Slapd, sqlite_url: str, tmp_path) -> None:
    config = {
        "database": {"url": sqlite_url},
        "auth": {"ldap": {"corp": slapd.config(host=f"127.0.0.1:{closed_port()}")}},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(app, ["doctor", "--config", str(path), "--output", "json"])
    assert result.exit_code == 1, result.output
    lines = json.loads(result.output)
    bind = next(c for c in lines if c["subject"] == "corp" and c["check"] == "bind")
    assert bind["status"] == "fail"
