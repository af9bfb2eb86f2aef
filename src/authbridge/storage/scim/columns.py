"""Where the attributes of each resource type live in the database, for filters and sortBy.

Attributes with a column of their own (RFC 7643 §4.1 userName, externalId, ...; membership:
this source's word in `team_member_sources`, not what other sources add to a shared team;
what the service computes on the way out, such as `meta.location`) are mapped here by the
name `values.resolve` gives them. Every other attribute of the schema is found through the
user value index (`USER_VALUES`). The maps depend on the provisioning source (a user's
`groups` are that source's groups) and the base URL (`$ref`s and `meta.location`).
"""

from __future__ import annotations

from scim2_models import Group
from sqlalchemy import ColumnElement, String, cast, exists, literal, select

from authbridge.storage.models import Team, TeamMemberSource, User
from authbridge.storage.scim.filter_sql import Column, ColumnMap
from authbridge.storage.scim.value_sql import ValueTable
from authbridge.storage.scim.values import casefold_key
from authbridge.storage.scim_models import ScimGroup, ScimUser, ScimUserValue

__all__ = ["USER_VALUES", "group_columns", "user_columns", "user_sort_columns"]

# A source's word that a user is in a team (storage/teams.py).
Member = TeamMemberSource
USER_VALUES = ValueTable(ScimUserValue, "user_id", ScimUser.user_id)
ABSENT = Column(None)  # never held: `password` is write-only, a member's display is not kept


def _text(value: str) -> ColumnElement[str]:
    return literal(value, String)


def _meta(
    resource_type: str, row: type[ScimUser] | type[ScimGroup], location: ColumnElement[str]
) -> dict[str, Column]:
    """`meta` (RFC 7643 §3.1) as the service writes it; `location` lower-cased (caseExact
    is false for it in scim2-models' schema), `version` a weak ETag `W/"<n>"`."""
    return {
        "meta": Column(row.created_at, "datetime"),
        "meta.created": Column(row.created_at, "datetime"),
        "meta.lastmodified": Column(row.modified_at, "datetime"),
        "meta.resourcetype": Column(_text(resource_type)),
        "meta.location": Column(location, case_exact=False),
        "meta.version": Column(_text('W/"') + cast(row.version, String) + _text('"')),
    }


def user_columns(source: str, base_url: str) -> ColumnMap:
    """The User attributes with a column, for filters; all others are in `USER_VALUES`."""

    def groups_exist(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # A user's `groups` are the groups of this source it belongs to (RFC 7643 §4.1.2).
        return exists(
            select(Member.team_id)
            .join(ScimGroup, ScimGroup.team_id == Member.team_id)
            .join(Team, Team.id == Member.team_id)
            .where(
                Member.user_id == User.id,
                Member.source == f"scim:{source}",
                ScimGroup.source == source,
                condition,
            )
        )

    group_ref = _text(f"{base_url}/Groups/") + Member.team_id
    return {
        "id": Column(User.id),
        "username": Column(User.username_key, case_exact=False),
        "externalid": Column(ScimUser.external_id),
        "displayname": Column(ScimUser.display_name_key, case_exact=False),
        "active": Column(User.active, "boolean"),
        "password": ABSENT,
        "name.givenname": Column(ScimUser.given_name_key, case_exact=False),
        "name.familyname": Column(ScimUser.family_name_key, case_exact=False),
        "groups": Column(Member.team_id, exists=groups_exist),
        "groups.value": Column(Member.team_id, exists=groups_exist),
        "groups.display": Column(Team.name_fold, case_exact=False, exists=groups_exist),
        "groups.type": Column(_text("direct"), case_exact=False, exists=groups_exist),
        "groups.$ref": Column(group_ref, exists=groups_exist),
        **_meta("User", ScimUser, _text(casefold_key(f"{base_url}/Users/")) + User.id),
    }


def user_sort_columns(source: str, base_url: str) -> ColumnMap:
    """Columns for sortBy: a multi-valued attribute sorts by its primary value, else its
    first (RFC 7644 §3.4.2.3), which `scim_users.email_key` holds for emails."""
    return {
        **user_columns(source, base_url),
        "emails.value": Column(ScimUser.email_key, case_exact=False),
    }


def group_columns(source: str, base_url: str) -> ColumnMap:
    """Every Group attribute (RFC 7643 §4.2): all of them have a column or are computed."""

    def _member_exists(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        # A group's members are what this source pushed (a shared team may hold more).
        mine = (Member.team_id == Team.id, Member.source == f"scim:{source}")
        return exists(select(Member.user_id).where(*mine, condition))

    member_ref = _text(f"{base_url}/Users/") + Member.user_id
    return {
        "id": Column(Team.id),
        "displayname": Column(Team.name_fold, case_exact=False),
        "externalid": Column(ScimGroup.external_id),
        "schemas": Column(_text(casefold_key(str(Group.__schema__))), case_exact=False),
        "members": Column(Member.user_id, exists=_member_exists),
        "members.value": Column(Member.user_id, exists=_member_exists),
        "members.type": Column(_text("user"), case_exact=False, exists=_member_exists),
        "members.$ref": Column(member_ref, exists=_member_exists),
        "members.display": Column(None, exists=_member_exists),
        **_meta("Group", ScimGroup, _text(casefold_key(f"{base_url}/Groups/")) + Team.id),
    }
