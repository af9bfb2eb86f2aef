"""Configuration errors that name the key's full path, what was wrong, and a fix."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue"]


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: `path` is the dotted key (`auth.openidConnect.okta.clientId`)."""

    path: str
    message: str
    suggestion: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        if self.suggestion:
            text += f"; did you mean {self.suggestion}?"
        return text


class ConfigError(Exception):
    """The configuration cannot be used; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))
