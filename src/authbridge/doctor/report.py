"""One line per check: what was checked, for what, how it went, and what to do.

`--output json` prints the list of :meth:`Check.as_json` objects, a stable format:

    [{"check": "issuer", "subject": "okta", "status": "fail",
      "message": "...", "fix": "..." | null}, ...]

`check` is one of :data:`CHECKS` (new names may be added, none renamed), `subject` the
provider id, SCIM source or `authbridge`, `status` one of `ok`, `warn`, `fail`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CHECKS", "Check", "Status", "exit_code"]

Status = Literal["ok", "warn", "fail"]

CHECKS = (
    "config",
    "discovery",
    "issuer",
    "endpoints",
    "jwks",
    "flow",
    "redirect_uri",
    "clock",
    "groups",
    "api",
    "scim",
    "our_issuer",
    "database",
    "signing_key",
    "bind",
    "search",
)


@dataclass(frozen=True)
class Check:
    check: str
    subject: str
    status: Status
    message: str
    fix: str | None = None

    def text(self) -> str:
        """The line without its status: `subject  check: message -> fix`."""
        said = f"{self.subject}  {self.check}: {self.message}"
        return said + (f" -> {self.fix}" if self.fix else "")

    def line(self) -> str:
        return f"{self.status:<4}  {self.text()}"

    def as_json(self) -> dict[str, str | None]:
        return {
            "check": self.check,
            "subject": self.subject,
            "status": self.status,
            "message": self.message,
            "fix": self.fix,
        }


def exit_code(checks: list[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not fail a deployment)."""
    return 1 if any(c.status == "fail" for c in checks) else 0
