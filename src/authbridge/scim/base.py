"""What the User and Group services share (RFC 7644 §3): parsing bodies, ETags (§3.14),
list queries (§3.4.2), and storage's refusals as RFC 7644 §3.12 errors.

The SQL is storage's (`authbridge.storage.scim`: `UserStore`, `GroupStore`); a service
checks and parses a request, calls its store, and turns what the store refuses into the
RFC's error (`scim_error_from`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException, ScimPolicy

from authbridge.config.model import ScimSettings
from authbridge.scim.dialect import Dialect
from authbridge.scim.errors import (
    BadRequest,
    Conflict,
    InvalidFilter,
    InvalidSyntax,
    InvalidValue,
    NotFound,
    PreconditionFailed,
    ScimError,
)
from authbridge.scim.filters import parse_filter
from authbridge.storage import Storage
from authbridge.storage.scim.errors import (
    ResourceMissing,
    ScimStoreError,
    StoreConflict,
    UnstorableValue,
    UnsupportedFilter,
    UnsupportedSort,
    VersionMismatch,
)
from authbridge.storage.scim.store import Page, ResourceStore, Search, Versions

__all__ = [
    "ListQuery",
    "Page",
    "ResourceService",
    "etag_matches",
    "if_match_versions",
    "scim_error_from",
    "storage_errors",
    "weak_match",
]

# What each refusal of the stores is in RFC 7644 §3.12 terms.
_STORE_ERRORS: dict[type[ScimStoreError], type[ScimError]] = {
    UnsupportedFilter: InvalidFilter,  # §3.4.2.2
    UnsupportedSort: InvalidValue,  # §3.4.2.3
    UnstorableValue: InvalidValue,
    ResourceMissing: NotFound,
    StoreConflict: Conflict,  # §3.3: 409 "uniqueness"
    VersionMismatch: PreconditionFailed,  # §3.14
}


@dataclass(frozen=True)
class ListQuery:
    """RFC 7644 §3.4.2: filter, sorting (§3.4.2.3) and pagination (§3.4.2.4)."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    with_members: bool = True


def scim_error_from(exc: Exception) -> ScimError:
    """scim2-models' validation and patch errors, and storage's refusals, as RFC 7644 §3.12
    errors."""
    if isinstance(exc, ScimError):
        return exc
    if isinstance(exc, ScimStoreError):
        if isinstance(exc, VersionMismatch):
            return PreconditionFailed("the resource changed since the version given in If-Match")
        return _STORE_ERRORS.get(type(exc), BadRequest)(str(exc))
    if isinstance(exc, SCIMException):
        error = ScimError(str(getattr(exc, "detail", None) or exc)[:300] or "invalid request")
        error.status = exc.status
        error.scim_type = exc.scim_type or None
        return error
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        kind = str(first.get("type", ""))
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid value"))
        if kind.startswith("scim_"):
            error = ScimError(f"{where}: {message}" if where else message)
            error.scim_type = kind.removeprefix("scim_")
            if error.scim_type == "error":
                error.scim_type = None
            ctx = first.get("ctx") or {}
            status = ctx.get("status") if isinstance(ctx, dict) else None
            if isinstance(status, int):
                error.status = status
            return error
        return InvalidValue(f"{where}: {message}" if where else message)
    return BadRequest("the request cannot be processed")


def etag_matches(if_match: str | None, version: int) -> bool:
    """RFC 7232 §3.1 If-Match with weak comparison (RFC 7644 §3.14 versions are weak)."""
    return if_match is None or weak_match(if_match, f'W/"{version}"')


def weak_match(header: str, etag: str) -> bool:
    """Whether `etag` matches a tag of an If-Match / If-None-Match list ("*" matches any) by
    RFC 7232 §2.3.2 weak comparison: opaque tags equal, either or both marked W/.

    RFC 7232 §3.2: "A recipient MUST use the weak comparison function when comparing
    entity-tags for If-None-Match", so a client echoing W/"3" as "3" still gets its 304."""
    opaque = etag.removeprefix("W/").strip('"')
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == opaque:
            return True
    return False


def if_match_versions(if_match: str | None) -> Versions:
    """The versions an If-Match header accepts (RFC 7644 §3.14, weak comparison of RFC 7232
    §2.3.2 against this service's `W/"<version>"` tags); None for no header or "*"."""
    if if_match is None:
        return None
    versions: set[int] = set()
    for candidate in if_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return None
        opaque = tag.removeprefix("W/").strip('"')
        if opaque.isascii() and opaque.isdigit() and str(int(opaque)) == opaque:
            versions.add(int(opaque))
    return versions


@contextmanager
def storage_errors() -> Iterator[None]:
    """Run a store call; what the store refuses leaves as its RFC 7644 §3.12 error."""
    try:
        yield
    except ScimStoreError as exc:
        raise scim_error_from(exc) from None


class ResourceService:
    """One resource type of one provisioning source: the protocol side Users and Groups share.

    A subclass names its scim2-models `model` and the store of its SQL (`store_type`).
    """

    model: ClassVar[Any]
    store_type: ClassVar[type[ResourceStore]]

    def __init__(
        self,
        storage: Storage,
        settings: ScimSettings,
        *,
        source: str,
        base_url: str,
        policy: ScimPolicy,
        dialect: Dialect,
    ) -> None:
        self.settings = settings
        self.source = source
        self.policy = policy
        self.dialect = dialect
        self.store = self.store_type(
            storage, settings, model=self.model, source=source, base_url=base_url
        )

    @staticmethod
    def _dump(resource: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        return dumped

    def _validate(self, body: Any, context: Context) -> Any:
        if not isinstance(body, dict):
            raise InvalidSyntax("the body must be a JSON object")
        try:
            return self.model.model_validate(body, scim_ctx=context, scim_policy=self.policy)
        except Exception as exc:
            raise scim_error_from(exc) from None

    def _attribute_patch(self, body: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
        """RFC 7644 §3.5.2: the PATCH's attribute operations, checked now, as a function the
        write applies to the resource it has locked."""
        try:
            patch = PatchOp[self.model].model_validate(  # type: ignore[name-defined]
                body, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=self.policy
            )
        except Exception as exc:
            raise scim_error_from(exc) from None

        def apply(current: dict[str, Any]) -> Any:
            resource = self.model.model_validate(current)
            try:
                patch.patch(resource, scim_policy=self.policy)
            except Exception as exc:
                raise scim_error_from(exc) from None
            return resource

        return apply

    def _delete(self, resource_id: str, actor: str, if_match: str | None) -> None:
        """RFC 7644 §3.6: delete the resource (and, by cascade, what only it holds)."""
        with storage_errors():
            self.store.delete(resource_id, actor=actor, expected=if_match_versions(if_match))

    def _list(self, query: ListQuery, *, with_related: bool) -> Page:
        """RFC 7644 §3.4.2: filtered, sorted, paginated, filtered by the database."""
        node = None
        if query.filter:
            node = parse_filter(
                query.filter,
                self.model,
                max_length=self.settings.max_filter_length,
                max_terms=self.settings.max_filter_terms,
            )
        search = Search(
            filter=node,
            sort_by=query.sort_by,
            descending=query.descending,
            start_index=query.start_index,
            count=query.count,
            with_related=with_related,
        )
        with storage_errors():
            return self.store.search(search)
