"""What the SCIM stores refuse, in storage's own terms; `authbridge.scim` turns each into its
RFC 7644 §3.12 error (the layer below knows no HTTP status and no `scimType`)."""

from __future__ import annotations

from authbridge.storage.errors import StorageError

__all__ = [
    "ResourceMissing",
    "ScimStoreError",
    "StoreConflict",
    "UnstorableValue",
    "UnsupportedFilter",
    "UnsupportedSort",
    "VersionMismatch",
]


class ScimStoreError(StorageError):
    """Base of the SCIM stores' refusals; the message is safe to show a client."""


class UnsupportedFilter(ScimStoreError):
    """A filter the store cannot translate: an unknown path, a wrong operand (§3.4.2.2)."""


class UnsupportedSort(ScimStoreError):
    """A sortBy the store cannot order by (§3.4.2.3)."""


class UnstorableValue(ScimStoreError):
    """A value the columns cannot hold as it is (missing, longer than its column)."""


class ResourceMissing(ScimStoreError):
    """No resource with this id is visible to this provisioning source."""


class StoreConflict(ScimStoreError):
    """A unique attribute (`attribute`: userName, displayName, externalId) is taken."""

    def __init__(self, message: str, attribute: str | None = None) -> None:
        super().__init__(message)
        self.attribute = attribute


class VersionMismatch(ScimStoreError):
    """The resource's version is not one the writer expected (If-Match, §3.14)."""
