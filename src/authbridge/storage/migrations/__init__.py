"""Alembic migrations (`versions/`), and the heads they end in.

`HEADS` lets every start see a current schema from `alembic_version` alone: Alembic's
ScriptDirectory, which finds the heads by reading every revision file, imports Mako, whose
error module loads Pygments' lexers (about 7 MB resident and 0.2 CPU-s a start, for a
schema that is nearly always current already). tests/storage/test_schema_heads.py holds
this equal to what ScriptDirectory says: a new migration fails it until its revision
replaces its parent's here (or joins them, for a new branch off 0001).
"""

from __future__ import annotations

HEADS = frozenset(
    {
        "0002_expiry",
        "0005_feed_revocation_feed",
        "0006_audit_events",
        "0006_clients_secret_rotation",
        "0006_invitations",
        "0006_scim_credentials",
        "0006_teams_description",
        "0006_users_admin_indexes",
        "0007_mfa_upstream_authn_context",
        "0007_mfatotp_totp",
        "0008_passkeys",
    }
)
