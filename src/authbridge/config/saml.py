"""`auth.saml.<name>`: one SAML 2.0 upstream IdP (Dex's `saml` connector keys).

Dex's keys are accepted as Dex spells them (`ssoURL`, `caData`, `redirectURI`, ... the
schema walker folds the spelling), and IdP metadata by URL or file is the friendlier
alternative to `ssoURL` + `ssoIssuer` + `ca`/`caData`. Turning signature checks off
(`insecureSkipSignatureValidation`) is refused unless `insecureAcceptUnsignedAssertions`
says so as well: one forgotten test flag must not open sign-in to anyone who can POST.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from authbridge.config.section import DomainSignup

__all__ = ["NAMEID_FORMATS", "SAML_ACS_PATH", "SAML_METADATA_PATH", "SamlProviderSettings"]

SAML_ACS_PATH = "/v1/saml/acs/"
SAML_METADATA_PATH = "/v1/saml/metadata/"

# SAML Core §8.3: the NameID formats Dex accepts in nameIDPolicyFormat, by short name too.
NAMEID_FORMATS = {
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "emailAddress": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "unspecified": "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
    "X509SubjectName": "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName",
    "WindowsDomainQualifiedName": (
        "urn:oasis:names:tc:SAML:1.1:nameid-format:WindowsDomainQualifiedName"
    ),
    "kerberos": "urn:oasis:names:tc:SAML:2.0:nameid-format:kerberos",
    "entity": "urn:oasis:names:tc:SAML:2.0:nameid-format:entity",
}


class SamlProviderSettings(DomainSignup):
    """One `auth.saml.<name>` block."""

    enabled: bool = Field(default=True, description="Offer this connector.")
    display_name: str | None = Field(default=None, description="Label of the sign-in button.")
    # IdP metadata (the friendlier way): its URL or a file holding it.
    metadata_url: str | None = Field(default=None, description="IdP metadata URL.")
    metadata_file: str | None = Field(default=None, description="IdP metadata XML file.")
    # Dex's keys, for an IdP given without metadata.
    sso_url: str | None = Field(default=None, description="IdP SSO URL (HTTP-Redirect).")
    ca: str | None = Field(default=None, description="File of the IdP's signing certificate(s).")
    ca_data: str | None = Field(
        default=None, description="The IdP's signing certificate(s), PEM (or base64 of PEM)."
    )
    sso_issuer: str | None = Field(
        default=None, description="The IdP's entity id (the responses' Issuer)."
    )
    entity_issuer: str | None = Field(
        default=None,
        description="Our SP entity id (the audience); <issuer>/v1/saml/metadata/<name> if unset.",
    )
    redirect_uri: str | None = Field(
        default=None, description="ACS URL; <issuer>/v1/saml/acs/<name> if unset."
    )
    username_attr: str = Field(default="name", description="Attribute of the display name.")
    email_attr: str = Field(default="email", description="Attribute of the email.")
    groups_attr: str | None = Field(default=None, description="Attribute of the groups.")
    groups_delim: str | None = Field(
        default=None, description="Split a single groups value on this delimiter."
    )
    allowed_groups: list[str] = Field(
        default_factory=list, description="Only members of one of these groups may sign in."
    )
    filter_groups: bool = Field(
        default=False, description="Keep only the allowedGroups among the user's groups."
    )
    name_id_policy_format: str = Field(
        default="persistent", description="NameIDPolicy Format asked for (URN or short name)."
    )
    user_id_attr: str | None = Field(
        default=None,
        description="Attribute holding the stable user id; the NameID when unset (which must "
        "then be persistent).",
    )
    insecure_skip_email_verified: bool = Field(
        default=False,
        description="Treat the IdP's email attribute as verified (it links invitations, "
        "initialAdmins, provisioned accounts, domain rules): only when users cannot change "
        "their own address at the IdP.",
    )
    insecure_skip_signature_validation: bool = Field(
        default=False,
        description="Accept responses without checking their signature (testing only; needs "
        "insecureAcceptUnsignedAssertions too).",
    )
    insecure_accept_unsigned_assertions: bool = Field(
        default=False,
        description="Second, explicit consent needed by insecureSkipSignatureValidation.",
    )
    allow_idp_initiated: bool = Field(
        default=False,
        description="Accept unsolicited (IdP-initiated) responses; they cannot be bound to "
        "a browser's login, so they are off by default.",
    )

    @model_validator(mode="after")
    def _coherent(self) -> SamlProviderSettings:
        if self.insecure_skip_signature_validation and not self.insecure_accept_unsigned_assertions:
            raise ValueError(
                "insecureSkipSignatureValidation lets anyone who can POST sign in as anyone; "
                "it is refused unless insecureAcceptUnsignedAssertions: true is set too"
            )
        if not self.enabled:
            return self
        if self.metadata_url and self.metadata_file:
            raise ValueError("set metadataUrl or metadataFile, not both")
        if not (self.metadata_url or self.metadata_file):
            missing = [
                key
                for key, value in (("ssoURL", self.sso_url), ("ssoIssuer", self.sso_issuer))
                if not value
            ]
            if not (self.ca or self.ca_data or self.insecure_skip_signature_validation):
                missing.append("ca or caData")
            if missing:
                raise ValueError("needs metadataUrl or metadataFile, or else " + ", ".join(missing))
        if self.name_id_policy_format not in NAMEID_FORMATS and not (
            self.name_id_policy_format.startswith("urn:")
        ):
            raise ValueError(
                f"nameIDPolicyFormat must be a URN or one of {', '.join(NAMEID_FORMATS)}"
            )
        if self.redirect_uri is not None:
            scheme, _, rest = self.redirect_uri.partition("://")
            path = "/" + rest.partition("/")[2]
            if scheme not in ("https", "http") or not path.startswith(SAML_ACS_PATH):
                # Dex's redirectURI is Dex's own /callback: the IdP must post to ours.
                raise ValueError(
                    f"redirectURI must be an http(s) URL of authbridge's ACS, "
                    f"<issuer>{SAML_ACS_PATH}<name> (register it at the IdP)"
                )
        if self.filter_groups and not self.allowed_groups:
            raise ValueError("filterGroups needs allowedGroups")
        if self.allowed_groups and not self.groups_attr:
            raise ValueError("allowedGroups needs groupsAttr")
        return self

    @property
    def name_id_format(self) -> str:
        return NAMEID_FORMATS.get(self.name_id_policy_format, self.name_id_policy_format)
