"""SCIM errors (RFC 7644 §3.12): an HTTP status, a `scimType` where the RFC defines one,
and a detail safe to show the client. One exception tree; the web glue renders it."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadRequest",
    "Conflict",
    "InvalidFilter",
    "InvalidPath",
    "InvalidSyntax",
    "InvalidValue",
    "Mutability",
    "NotFound",
    "PreconditionFailed",
    "ScimError",
    "TooLarge",
    "TooMany",
    "Unauthorized",
]


class ScimError(Exception):
    """Base of every SCIM error; `body()` is the RFC 7644 §3.12 error response."""

    status = 400
    scim_type: str | None = None

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        # §3.12: "status" is the HTTP status code "expressed as a JSON string".
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


class BadRequest(ScimError):
    status = 400


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class TooMany(ScimError):
    scim_type = "tooMany"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class Mutability(ScimError):
    scim_type = "mutability"


class Unauthorized(ScimError):
    status = 401


class NotFound(ScimError):
    status = 404


class Conflict(ScimError):
    status = 409
    scim_type = "uniqueness"


class PreconditionFailed(ScimError):
    status = 412


class TooLarge(ScimError):
    status = 413
