"""initialAdmins and principalDomain, after OpenMetadata's authorizer."""

from __future__ import annotations

from authbridge.config.model import AuthorizerSettings
from authbridge.directory.roles import domain_allowed, is_initial_admin

OM = AuthorizerSettings(
    initial_admins=["admin", "user1", "boss@corp.example"], principal_domain="open-metadata.org"
)


def test_local_part_entries_match_within_principal_domain_only() -> None:
    assert is_initial_admin("admin@open-metadata.org", "admin@open-metadata.org", OM)
    assert not is_initial_admin("admin@evil.example", "admin@evil.example", OM)
    assert not is_initial_admin("administrator@open-metadata.org", None, OM)


def test_full_email_entries_match_exactly_case_insensitively() -> None:
    assert is_initial_admin("x", "Boss@Corp.Example", OM)
    assert not is_initial_admin("x", "boss@corp.example.evil", OM)


def test_principal_domain() -> None:
    assert domain_allowed("john.doe@Open-Metadata.org", OM)
    assert not domain_allowed("john.doe@open-metadata.org.evil.example", OM)
    assert not domain_allowed(None, OM)
    assert domain_allowed("anyone@anywhere.example", AuthorizerSettings())
