"""The resource types served (RFC 7643 §4): User with the enterprise extension, and Group,
each with the column map its filters and sorting use.

Groups are the platform's Teams. The models are scim2-models'; this module only names them
and says where each filterable attribute lives in the database.
"""

from __future__ import annotations

from typing import Any, ClassVar

from scim2_models import ComplexAttribute, EnterpriseUser, Group
from scim2_models import User as CoreUser
from scim2_models.resources.user import Email as CoreEmail
from sqlalchemy import ColumnElement, exists, select

from authbridge.scim.sql import Column, ColumnMap
from authbridge.storage.models import Team, TeamMember
from authbridge.storage.models import User as UserRow
from authbridge.storage.scim_models import ScimGroup, ScimUser

__all__ = [
    "ENTERPRISE_SCHEMA",
    "GROUP_COLUMNS",
    "GROUP_SCHEMA",
    "USER_COLUMNS",
    "USER_SCHEMA",
    "GroupModel",
    "UserModel",
]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


class Email(CoreEmail):
    """An email whose value is a string (RFC 7643 §4.1.2), not a deliverable address.

    scim2-models checks values as deliverable addresses, which refuses Okta's own
    documented `test.user@okta.local` (a special-use domain): a provisioning target keeps
    what the IdP holds rather than failing the user's whole provisioning.
    """

    value: str | None = None


class User(CoreUser[EnterpriseUser]):
    """User Account"""

    emails: list[Email] | None = None  # type: ignore[assignment]
    Emails: ClassVar[type[ComplexAttribute]] = Email


UserModel: Any = User
GroupModel: Any = Group

_ENT = ENTERPRISE_SCHEMA.lower()


def _member_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(TeamMember.user_id).where(TeamMember.team_id == Team.id, condition))


USER_COLUMNS: ColumnMap = {
    ("id", None): Column(UserRow.id),
    ("username", None): Column(UserRow.username_key, case_exact=False),
    ("externalid", None): Column(ScimUser.external_id),
    ("displayname", None): Column(ScimUser.display_name_key, case_exact=False),
    ("active", None): Column(UserRow.active, "boolean"),
    ("name", "givenname"): Column(ScimUser.given_name_key, case_exact=False),
    ("name", "familyname"): Column(ScimUser.family_name_key, case_exact=False),
    ("emails", "value"): Column(ScimUser.email_key, case_exact=False),
    ("meta", "created"): Column(ScimUser.created_at, "datetime"),
    ("meta", "lastmodified"): Column(ScimUser.modified_at, "datetime"),
}

GROUP_COLUMNS: ColumnMap = {
    ("id", None): Column(Team.id),
    ("displayname", None): Column(Team.name_key, case_exact=False),
    ("externalid", None): Column(ScimGroup.external_id),
    ("members", "value"): Column(TeamMember.user_id, exists=_member_exists),
    ("meta", "created"): Column(ScimGroup.created_at, "datetime"),
    ("meta", "lastmodified"): Column(ScimGroup.modified_at, "datetime"),
}
