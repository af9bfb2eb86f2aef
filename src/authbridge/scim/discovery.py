"""Service discovery (RFC 7644 §4): ServiceProviderConfig, Schemas and ResourceTypes,
telling clients exactly what this server supports.

Supported: PATCH, filtering (on the indexed attributes listed in `FILTERABLE`), sorting,
ETags, index pagination. Not supported: bulk, password change (provisioned users sign in
through their IdP; a `password` sent is accepted and never stored), cursor pagination.
"""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Patch,
    ResourceType,
    ServiceProviderConfig,
    Sort,
)

from authbridge.config.model import ScimSettings
from authbridge.scim.resources import GroupModel, UserModel

__all__ = ["FILTERABLE", "resource_types", "schemas", "service_provider_config"]

FILTERABLE = {
    "User": [
        "id",
        "userName",
        "externalId",
        "displayName",
        "active",
        "name.givenName",
        "name.familyName",
        "emails.value",
        "meta.created",
        "meta.lastModified",
    ],
    "Group": [
        "id",
        "displayName",
        "externalId",
        "members.value",
        "meta.created",
        "meta.lastModified",
    ],
}
_DUMP = Context.RESOURCE_QUERY_RESPONSE


def service_provider_config(settings: ScimSettings, scheme: str, base_url: str) -> dict[str, Any]:
    """RFC 7643 §5: what this endpoint supports, and how it authenticates."""
    if scheme == "basic":
        auth = AuthenticationScheme(
            type="httpbasic",
            name="HTTP Basic",
            description="The username and password of SCIM_AUTH_CODE_OKTA",
            spec_uri="https://www.rfc-editor.org/rfc/rfc7617",
            primary=True,
        )
    else:
        auth = AuthenticationScheme(
            type="oauthbearertoken",
            name="Bearer token",
            description="The token of SCIM_AUTH_CODE_MICROSOFT",
            spec_uri="https://www.rfc-editor.org/rfc/rfc6750",
            primary=True,
        )
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=settings.max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=True),
        authentication_schemes=[auth],
    )
    data: dict[str, Any] = config.model_dump(scim_ctx=_DUMP)
    data["meta"] = {
        "resourceType": "ServiceProviderConfig",
        "location": f"{base_url}/ServiceProviderConfig",
    }
    return data


def schemas(base_url: str) -> list[dict[str, Any]]:
    """RFC 7643 §7: the User, enterprise User and Group schemas."""
    found = []
    for model in (UserModel, EnterpriseUser, GroupModel):
        data: dict[str, Any] = model.to_schema().model_dump(scim_ctx=_DUMP)
        if model is GroupModel:
            _members_display_read_only(data)
        data["meta"] = {"resourceType": "Schema", "location": f"{base_url}/Schemas/{data['id']}"}
        found.append(data)
    return found


def _members_display_read_only(schema: dict[str, Any]) -> None:
    # A member's display is the User's userName, computed by this server (RFC 7643 §8.7.1
    # lists no client-writable display for members): published as readOnly, so clients
    # do not expect a display they send to be kept.
    for attribute in schema.get("attributes", []):
        if attribute.get("name") == "members":
            for sub in attribute.get("subAttributes", []):
                if sub.get("name") == "display":
                    sub["mutability"] = "readOnly"


def resource_types(base_url: str) -> list[dict[str, Any]]:
    """RFC 7643 §6: the two resource types and their endpoints."""
    found = []
    for model in (UserModel, GroupModel):
        data: dict[str, Any] = ResourceType.from_resource(model).model_dump(scim_ctx=_DUMP)
        data["meta"] = {
            "resourceType": "ResourceType",
            "location": f"{base_url}/ResourceTypes/{data['id']}",
        }
        found.append(data)
    return found
