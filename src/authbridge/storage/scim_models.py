"""Tables of SCIM 2.0 provisioning (RFC 7643/7644) beside the directory's own.

A provisioned user is a row of `users` plus a `scim_users` row owned by one provisioning
source (okta, microsoft): that source's `externalId`, the SCIM attributes the directory has
no column for (name parts, all emails, the enterprise extension), and `meta.version`.
Groups are Teams (`teams`, `team_members`) plus a `scim_groups` row. Each source has its
own externalId space, so the uniqueness of an externalId is per source.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from authbridge.clock import utcnow
from authbridge.storage.models import Base

__all__ = ["ScimGroup", "ScimUser", "ScimUserValue"]

# Value keys compare in code-point order on every backend (SQLite's BINARY; "C" on PostgreSQL
# whatever the database's locale), so that `gt`/`lt` are RFC 7644's lexicographical order and
# a `sw` prefix is an index range.
KEY = String(200).with_variant(String(200, collation="C"), "postgresql")
FULL_KEY = Text().with_variant(Text(collation="C"), "postgresql")


class ScimUser(Base):
    __tablename__ = "scim_users"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(512))
    # Lower-cased copies of filterable, case-insensitive attributes (RFC 7643 §2.2
    # caseExact=false), so that filters compare indexed columns instead of lower(col).
    given_name_key: Mapped[str | None] = mapped_column(String(256))
    family_name_key: Mapped[str | None] = mapped_column(String(256))
    email_key: Mapped[str | None] = mapped_column(String(320))
    display_name_key: Mapped[str | None] = mapped_column(String(256))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_scim_users_source_external_id"),
        Index("ix_scim_users_source_created", "source", "created_at", "user_id"),
        Index("ix_scim_users_source_email", "source", "email_key"),
        Index("ix_scim_users_source_family", "source", "family_name_key"),
        Index("ix_scim_users_source_given", "source", "given_name_key"),
        Index("ix_scim_users_source_display", "source", "display_name_key"),
        Index("ix_scim_users_source_modified", "source", "modified_at"),
    )


class ScimUserValue(Base):
    """One value of a provisioned user's attribute, as filters find it (`scim/values.py`).

    The primary key finds the other sub-attributes of the same element of a multi-valued
    attribute; `ix_scim_user_values_lookup` finds users by value."""

    __tablename__ = "scim_user_values"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("scim_users.user_id", ondelete="CASCADE"), primary_key=True
    )
    attr: Mapped[str] = mapped_column(String(128), primary_key=True)
    item: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value_key: Mapped[str | None] = mapped_column(KEY)
    value_full: Mapped[str | None] = mapped_column(FULL_KEY)

    __table_args__ = (Index("ix_scim_user_values_lookup", "attr", "value_key", "user_id"),)


class ScimGroup(Base):
    __tablename__ = "scim_groups"

    team_id: Mapped[str] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(512))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_scim_groups_source_external_id"),
        Index("ix_scim_groups_source_created", "source", "created_at", "team_id"),
        Index("ix_scim_groups_source_modified", "source", "modified_at"),
    )
