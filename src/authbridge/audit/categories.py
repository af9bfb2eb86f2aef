"""Which events are administrative acts, and the bounded label each is counted under
(authbridge_admin_actions_total{action,outcome}).

An admin action is an event whose subject is an administered resource, done by an operator
(a user, a service account or robot through the admin API, or the CLI). The `action` label
is the event type when it is one of `ADMIN_ACTIONS`, else `<subject>.other`: a label never
takes a value a caller made up, and a new act shows up under its subject until it is listed.
"""

from __future__ import annotations

from authbridge.audit.events import AuditEvent

__all__ = ["ADMIN_ACTIONS", "ADMIN_SUBJECTS", "OPERATORS", "admin_action"]

ADMIN_SUBJECTS = frozenset(
    {
        "user",
        "team",
        "binding",
        "role",
        "client",
        "service_account",
        "robot",
        "robot_token",
        "key",
        "scim_credential",
        "session",
        "refresh_token",
        "identity",
        "bootstrap",
    }
)
_VERBS = (
    "created",
    "updated",
    "deleted",
    "disabled",
    "enabled",
    "revoked",
    "granted",
    "rotated",
    "issued",
    "retired",
    "member_added",
    "member_removed",
    "secret_rotated",
    "sessions_revoked",
    "tokens_revoked",
    "admin_created",
    "setup_link_used",
)
ADMIN_ACTIONS = frozenset(f"{s}.{v}" for s in ADMIN_SUBJECTS for v in _VERBS)
OPERATORS = frozenset({"user", "service_account", "robot", "cli", "system"})


def admin_action(event: AuditEvent) -> str | None:
    """The `action` label of an admin act, or None for other events (sign-ins, tokens,
    SCIM writes, which have metrics of their own)."""
    subject, _, _ = event.type.partition(".")
    if subject not in ADMIN_SUBJECTS or event.actor.kind not in OPERATORS:
        return None
    return event.type if event.type in ADMIN_ACTIONS else f"{subject}.other"
