"""Robot tokens (Pachyderm's): long-lived access tokens of a new robot principal holding one
role. The token is returned once and never stored (only its id, `jti`, and its expiry);
revoking one puts its id on the revocation feed until it would have expired."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from authbridge.admin.errors import AlreadyExists, FieldError, InvalidRequest, NotFound
from authbridge.admin.paging import Page, PageRequest, encode_cursor
from authbridge.admin.service_accounts import principal_problems
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.directory.revocation import Revocation
from authbridge.provider.service import OpenIDProvider
from authbridge.storage.errors import Conflict
from authbridge.storage.provider_store import RobotTokenRow

__all__ = ["MAX_ROBOT_LIFETIME", "IssuedRobot", "RobotAdmin", "robot_state"]

MAX_ROBOT_LIFETIME = 365 * 86400
# What a token id can look like (base64url or hex); anything else is not looked up.
JTI = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def robot_state(row: RobotTokenRow, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "active"


@dataclass(frozen=True)
class IssuedRobot:
    robot: RobotTokenRow
    token: str


class RobotAdmin:
    def __init__(self, provider: OpenIDProvider, revocation: Revocation, audit: AuditSink) -> None:
        self._provider = provider
        self._revocation = revocation
        self._audit = audit

    def list(self, page: PageRequest) -> Page[RobotTokenRow]:
        """Oldest first (keyset on issue time and id)."""
        after = None
        if page.after is not None:
            if len(page.after) != 2:
                raise InvalidRequest(
                    "the cursor is malformed", [FieldError("cursor", "not a cursor")]
                )
            try:
                after = (datetime.fromisoformat(page.after[0]), page.after[1])
            except ValueError:
                raise InvalidRequest(
                    "the cursor is malformed", [FieldError("cursor", "not a cursor")]
                ) from None
        rows = self._provider.store.robot_tokens(after=after, limit=page.limit + 1)
        items = rows[: page.limit]
        more = len(rows) > page.limit
        cursor = encode_cursor([items[-1].created_at.isoformat(), items[-1].jti]) if more else None
        return Page(items, cursor)

    def get(self, jti: str) -> RobotTokenRow:
        rows = self._provider.store.robot_tokens(jti=jti) if JTI.match(jti) else []
        if not rows:
            raise NotFound(f"no robot token {jti!r}")
        return rows[0]

    def issue(
        self, actor: Actor, name: str, role: str, lifetime: int, description: str = ""
    ) -> IssuedRobot:
        """A new robot principal holding `role` and its token (returned once)."""
        errors = principal_problems(self._provider, name, role)
        if not 60 <= lifetime <= MAX_ROBOT_LIFETIME:
            errors.append(FieldError("lifetime", f"between 60 and {MAX_ROBOT_LIFETIME} seconds"))
        if len(description) > 256:
            errors.append(FieldError("description", "at most 256 characters"))
        if errors:
            raise InvalidRequest("the robot token is invalid", errors)
        try:
            token, jti, _expires = self._provider.issue_robot_token(
                name, role, lifetime, description
            )
        except Conflict as exc:
            raise AlreadyExists(f"robot {name!r} exists already") from exc
        robot = self.get(jti)
        self._audit.record(
            AuditEvent(
                type="robot.issued",
                actor=actor,
                target=Target("robot_token", jti, robot.username),
                details={
                    "after": {
                        "name": name,
                        "role": role,
                        "expiresAt": robot.expires_at.isoformat(),
                        "description": description,
                    }
                },
            )
        )
        return IssuedRobot(robot, token)

    def revoke(self, actor: Actor, jti: str) -> None:
        """Revoke a robot token by id; NotFound when there is no active one."""
        robot = self.get(jti)
        if not self._revocation.revoke_robot_token(jti):
            raise NotFound(f"no active robot token {jti!r}")
        self._audit.record(
            AuditEvent(
                type="robot.revoked",
                actor=actor,
                target=Target("robot_token", jti, robot.username),
                details={"before": {"expiresAt": robot.expires_at.isoformat()}},
            )
        )
