"""The base of every settings section, and the sign-up keys every connector shares (their own
module so that sections outside model.py, such as branding.py, ldap.py and saml.py, can share
them without a circular import)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = ["ConnectorSignup", "DomainSignup", "Section", "SignupMode"]

SignupMode = Literal["open", "invite-only"]


class Section(BaseModel):
    """Base of every section: camelCase keys, unknown keys refused (the loader names them)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class ConnectorSignup(Section):
    """Who may get an account through a connector (`connectors.base.SignupPolicy`)."""

    allow_signup: bool = Field(
        default=True,
        description="A first sign-in creates the account; false: only existing or invited users.",
    )
    signup: SignupMode = Field(
        default="open",
        description="open: a first login creates an account; invite-only: only for an "
        "invited, verified email.",
    )


class DomainSignup(ConnectorSignup):
    """The sign-up keys of a connector whose IdP vouches for email addresses."""

    allowed_domains: list[str] = Field(
        default_factory=list,
        description="Only verified emails of these domains may sign up here; empty: any.",
    )
