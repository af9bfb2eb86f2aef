"""A SAML IdP's lines: its metadata fetched and usable, each signing certificate's expiry
(a real certificate the test makes, expired, expiring and valid), what to register."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from authbridge.connectors.registry import build_connectors
from authbridge.connectors.saml import SamlConnector
from authbridge.doctor.report import Check
from authbridge.doctor.saml import check_saml
from tests.conftest import make_settings
from tests.connectors.saml_idp import SamlIdp, make_key_pair, need_xmlsec1, running_idp


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[SamlIdp]:
    need_xmlsec1()
    with running_idp(tmp_path) as running:
        yield running


def run(sqlite_url: str, **settings: str) -> dict[str, Check]:
    configured = make_settings(sqlite_url, **settings)
    connectors = build_connectors(configured, {})
    try:
        connector = connectors.by_id["corp"]
        assert isinstance(connector, SamlConnector)
        return {c.check: c for c in check_saml(connector, configured)}
    finally:
        connectors.close()


def test_metadata_by_url_and_a_valid_certificate(idp: SamlIdp, sqlite_url: str) -> None:
    checks = run(sqlite_url, AUTH__SAML__CORP__METADATA_URL=idp.entity_id)
    assert checks["metadata"].status == "ok"
    assert checks["certificate"].status == "ok"
    assert "CN=idp" in checks["certificate"].message
    assert "/v1/saml/acs/corp" in checks["sp"].message


def test_unreachable_metadata_fails(sqlite_url: str) -> None:
    need_xmlsec1()
    checks = run(sqlite_url, AUTH__SAML__CORP__METADATA_URL="http://127.0.0.1:9/metadata")
    assert checks["metadata"].status == "fail"
    assert "127.0.0.1:9" in checks["metadata"].message


@pytest.mark.parametrize(("days", "status"), [(-1, "fail"), (10, "warn"), (365, "ok")])
def test_certificate_expiry_from_dex_keys(
    sqlite_url: str, tmp_path: Path, days: int, status: str
) -> None:
    need_xmlsec1()
    _, cert = make_key_pair(tmp_path, "idp", days=days)
    checks = run(
        sqlite_url,
        AUTH__SAML__CORP__SSO_URL="https://idp.example/sso",
        AUTH__SAML__CORP__SSO_ISSUER="https://idp.example",
        AUTH__SAML__CORP__CA=str(cert),
    )
    assert checks["certificate"].status == status, checks["certificate"]


def test_an_unreadable_ca_file_is_named(sqlite_url: str, tmp_path: Path) -> None:
    need_xmlsec1()
    checks = run(
        sqlite_url,
        AUTH__SAML__CORP__SSO_URL="https://idp.example/sso",
        AUTH__SAML__CORP__SSO_ISSUER="https://idp.example",
        AUTH__SAML__CORP__CA=str(tmp_path / "missing.pem"),
    )
    assert checks["metadata"].status == "fail"
    assert "auth.saml.corp.ca" in checks["metadata"].message
