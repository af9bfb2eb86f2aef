"""`auth.ldap.<id>`: one LDAP / Active Directory connector, in Dex's keys.

The keys are Dex's `connector/ldap` config keys spelt as Dex spells them (`bindDN`,
`insecureNoSSL`, `userSearch.baseDN`), so a Dex `type: ldap` entry of Pachyderm's
`oidc.upstreamIDPs` is the same block under another roof (config/pachyderm.py). Where
authbridge differs from Dex it says so on the key: an LDAP `mail` is not a verified address
unless `insecureSkipEmailVerified` says the directory vouches for it (as with OIDC), and a
host without a port uses 389 for StartTLS (Dex dials 636 then starts TLS, which no server
answers).

Attribute names and filters are checked here, at load: an attribute is an RFC 4512 §2.5
description (a name or an OID, with options), a filter an RFC 4515 parenthesised filter,
so nothing the configuration holds can change the shape of a search.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from authbridge.config.section import DomainSignup, Section

__all__ = [
    "LdapGroupSearch",
    "LdapSettings",
    "LdapUserMatcher",
    "LdapUserSearch",
    "ldap_id_problem",
]

# RFC 4512 §2.5: a short name (keystring) or numeric OID, then `;options`.
ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$")
# A connector id is in URLs (/v1/ldap/login/<id>) and in `idp:<id>` team sources.
CONNECTOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Dex's scopes: the whole subtree, or one level (base makes no sense: the DN is unknown).
Scope = Literal["sub", "one"]


def ldap_id_problem(name: str) -> str | None:
    """Why `name` cannot be an LDAP connector's id, or None."""
    if not CONNECTOR_ID.match(name):
        return f"{name!r}: an LDAP connector id is letters, digits, - and _ (up to 64)"
    if name in ("local", "mock"):
        return f"{name!r} is a reserved sign-in method name"
    return None


def _check_attribute(value: str | None) -> str | None:
    if value is not None and not ATTRIBUTE.match(value):
        raise ValueError(f"{value!r} is not an LDAP attribute name (RFC 4512 §2.5)")
    return value


def _check_filter(value: str) -> str:
    """An RFC 4515 filter: parenthesised, its parentheses balanced (a value's own parentheses
    are escaped as \\28 \\29 in a filter, so counting is exact)."""
    if not value:
        return value
    depth = 0
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if not (value.startswith("(") and value.endswith(")")) or depth != 0:
        raise ValueError(
            f"{value!r} is not an LDAP filter: write it in parentheses, e.g. "
            "(objectClass=person) (RFC 4515)"
        )
    return value


class LdapUserSearch(Section):
    """How the service account finds the person signing in (Dex's `userSearch`)."""

    base_dn: str = Field(alias="baseDN", min_length=1, description="Where users are searched.")
    filter: str = Field(
        default="", description="Added to the username match, e.g. (objectClass=person)."
    )
    username: list[str] = Field(
        min_length=1,
        description="Attribute(s) the typed username is matched against (one, or a list "
        "OR-ed together: [uid, mail]).",
    )
    scope: Scope = Field(
        default="sub", description="sub: the whole subtree under baseDN; one: one level."
    )
    id_attr: str = Field(
        default="uid",
        description="The stable id users are keyed by (entryUUID, objectGUID; uid if names "
        "are never reused).",
    )
    email_attr: str = Field(default="mail", description="Attribute of the email.")
    name_attr: str | None = Field(default=None, description="Display name (cn).")
    preferred_username_attr: str | None = Field(
        default=None, description="Attribute of the preferred username (uid)."
    )
    email_suffix: str | None = Field(
        default=None,
        description="Email made from the idAttr value: <id>@<emailSuffix> (no @).",
    )

    @field_validator("username", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        # Dex's UsernameAttributes: a single string or a list of strings.
        return [value] if isinstance(value, str) else value

    @field_validator("username")
    @classmethod
    def _attributes(cls, value: list[str]) -> list[str]:
        for name in value:
            _check_attribute(name)
        return value

    _attrs = field_validator("id_attr", "email_attr", "name_attr", "preferred_username_attr")(
        _check_attribute
    )
    _filter = field_validator("filter")(_check_filter)

    @field_validator("email_suffix")
    @classmethod
    def _suffix(cls, value: str | None) -> str | None:
        if value is not None and ("@" in value or not value.strip()):
            raise ValueError("a domain without the @, e.g. example.com")
        return value


class LdapUserMatcher(Section):
    """A group holds the user when its `groupAttr` equals the user's `userAttr` (`DN`:
    the user's DN; `memberOf` against `entryDN` or AD's `distinguishedName` reads the
    groups the directory lists on the user)."""

    user_attr: str = Field(
        description="Attribute of the user whose value the group holds (DN, uid)."
    )
    group_attr: str = Field(description="Attribute of the group listing its members (member).")

    _attrs = field_validator("user_attr", "group_attr")(_check_attribute)


class LdapGroupSearch(Section):
    """How the user's groups are found (Dex's `groupSearch`); their names become teams."""

    base_dn: str | None = Field(
        default=None, alias="baseDN", description="Where groups are searched; unset: no groups."
    )
    filter: str = Field(default="", description="e.g. (objectClass=groupOfNames).")
    scope: Scope = Field(
        default="sub", description="sub: the whole subtree under baseDN; one: one level."
    )
    user_matchers: list[LdapUserMatcher] = Field(
        default_factory=list,
        description="How a group names its members: a user matches when its userAttr "
        "equals the group's groupAttr.",
    )
    name_attr: str = Field(default="cn", description="The group's name: the team's name.")

    _attrs = field_validator("name_attr")(_check_attribute)
    _filter = field_validator("filter")(_check_filter)

    @model_validator(mode="after")
    def _matchers_when_searching(self) -> LdapGroupSearch:
        if self.base_dn and not self.user_matchers:
            raise ValueError(
                "userMatchers is empty: say how a group names its members, e.g. "
                "[{userAttr: DN, groupAttr: member}]"
            )
        return self


class LdapSettings(DomainSignup):
    """One LDAP directory users sign in against with their directory password (Dex's
    `type: ldap` connector): found by the service account, then bound as themselves."""

    enabled: bool = Field(default=True, description="Offer this connector.")
    display_name: str | None = Field(default=None, description="The form's heading.")
    host: str = Field(
        min_length=1,
        description="host or host:port ([v6]:port); without a port 636 (LDAPS), or 389 "
        "with startTLS or insecureNoSSL.",
    )
    insecure_no_ssl: bool = Field(
        default=False,
        alias="insecureNoSSL",
        description="Plain LDAP: passwords cross the network in clear. Loopback or tests only.",
    )
    insecure_skip_verify: bool = Field(
        default=False, description="Accept any certificate (no CA, no host name check)."
    )
    start_tls: bool = Field(
        default=False, alias="startTLS", description="Connect in plain, then StartTLS (RFC 4513)."
    )
    root_ca: str | None = Field(
        default=None, alias="rootCA", description="PEM file of the CA(s) the directory chains to."
    )
    root_ca_data: str | None = Field(
        default=None,
        alias="rootCAData",
        description="The CA PEM itself, base64-encoded as Dex takes it (or as PEM text).",
    )
    bind_dn: str | None = Field(
        default=None, alias="bindDN", description="The service account that searches."
    )
    bind_pw: str | None = Field(
        default=None,
        alias="bindPW",
        description="Password of bindDN.",
        json_schema_extra={"secret": True},
    )
    username_prompt: str = Field(
        default="Username", max_length=64, description="The label of the username field."
    )
    user_search: LdapUserSearch
    group_search: LdapGroupSearch = Field(default_factory=LdapGroupSearch)
    insecure_skip_email_verified: bool = Field(
        default=False,
        description="Treat the directory's email as verified (it links invitations, "
        "initialAdmins, domain rules): only when users cannot change their own mail.",
    )
    timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to connect, and to wait for an answer."
    )
    pool_size: int = Field(
        default=4, ge=1, le=32, description="Service-account connections kept open."
    )

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if "://" in value or "/" in value or any(c.isspace() for c in value):
            raise ValueError("host or host:port, without a scheme (ldap.example.com:636)")
        return value

    @field_validator("root_ca_data")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is None or "-----BEGIN" in value:
            return value
        try:
            text = base64.b64decode(value, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            raise ValueError("must be a PEM certificate, base64-encoded (Dex) or as is") from None
        if "-----BEGIN CERTIFICATE" not in text:
            raise ValueError("the base64 value is not a PEM certificate")
        return text

    @model_validator(mode="after")
    def _coherent(self) -> LdapSettings:
        if self.insecure_no_ssl and self.start_tls:
            raise ValueError(
                "insecureNoSSL and startTLS contradict each other: drop insecureNoSSL to "
                "protect passwords with StartTLS"
            )
        if (self.bind_dn is None) != (self.bind_pw is None):
            raise ValueError("bindDN and bindPW go together (the service account that finds users)")
        if self.bind_dn is not None and not self.bind_pw:
            # An empty password would be an unauthenticated bind (RFC 4513 §5.1.2).
            raise ValueError("bindPW is empty: that is an unauthenticated bind, not a login")
        return self
