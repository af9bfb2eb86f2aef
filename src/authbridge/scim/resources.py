"""The resource types served (RFC 7643 §4): User with the enterprise extension, and Group.

Groups are the platform's Teams. The models are scim2-models'; this module only names them.
It imports no ORM model (the value index and its migration use it); where each attribute
lives in the database is `scim/columns.py`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from scim2_models import ComplexAttribute, EnterpriseUser, Group
from scim2_models import User as CoreUser
from scim2_models.resources.user import Email as CoreEmail

__all__ = ["ENTERPRISE_SCHEMA", "GROUP_SCHEMA", "USER_SCHEMA", "GroupModel", "UserModel"]

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
