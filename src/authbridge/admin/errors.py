"""The admin services' exception tree. Each error has a stable problem type (RFC 9457 §3.1.1:
a `tag:` URI, RFC 4151, since it names a kind of problem and is not meant to be
dereferenced), an HTTP status and a title; the API renders them as problem documents and
the CLI prints the detail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "PROBLEM_TYPE_PREFIX",
    "AdminError",
    "AlreadyExists",
    "FieldError",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "PreconditionFailed",
    "PreconditionRequired",
    "ReadOnly",
    "problem_type",
]

PROBLEM_TYPE_PREFIX = "tag:authbridge.dev,2026:problem:"


def problem_type(slug: str) -> str:
    """The stable `type` URI of a problem kind."""
    return PROBLEM_TYPE_PREFIX + slug


class FieldError(dict[str, str]):
    """One invalid field: `{"field": "redirectUris[0]", "message": "..."}`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field=field, message=message)


class AdminError(Exception):
    """Base: `slug` (the problem type's last part), `status`, `title`; `detail` says what
    happened to this request; `extensions` are extra members of the problem document."""

    slug: ClassVar[str] = "error"
    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions: Mapping[str, Any] = extensions

    @property
    def type(self) -> str:
        return problem_type(self.slug)


class InvalidRequest(AdminError):
    """The request's content is wrong; `errors` lists each field (RFC 9457 §3.2 extension)."""

    slug = "invalid-request"
    status = 400
    title = "Invalid request"

    def __init__(self, detail: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail, errors=list(errors))


class NotFound(AdminError):
    slug = "not-found"
    status = 404
    title = "Not found"


class AlreadyExists(AdminError):
    slug = "already-exists"
    status = 409
    title = "Already exists"


class ReadOnly(AdminError):
    """The resource is defined elsewhere (the configuration file, a SCIM source that manages
    it) and cannot be changed here; `managedBy` says where."""

    slug = "read-only"
    status = 409
    title = "Managed elsewhere"


class Forbidden(AdminError):
    """The caller may not do this (beyond the permission check: for example, disabling
    oneself, or removing the last administrator)."""

    slug = "forbidden"
    status = 403
    title = "Forbidden"


class PreconditionFailed(AdminError):
    """`If-Match` named another version (RFC 9110 §13.1.1): someone changed it first."""

    slug = "precondition-failed"
    status = 412
    title = "Precondition failed"


class PreconditionRequired(AdminError):
    """A write where a lost update is possible came without `If-Match` (RFC 6585 §3)."""

    slug = "precondition-required"
    status = 428
    title = "Precondition required"
