"""What Okta and Microsoft Entra ID really send, brought to RFC 7644 §3.5.2 before the
PATCH is applied.

Most quirks (operation names in any case such as "Replace", booleans as the strings
"True"/"False", path-less values with dotted keys such as "name.givenName" and extension
URNs) are accepted by scim2-models as they are. This module handles the rest, each
departure only for the source known to send it (`Dialect`: `OKTA`, `ENTRA`), so one client's
mistake is never silently accepted from another:

- a path-less replace whose value carries the resource's own `id` (Okta Group Push and
  Entra both send `{"op": "replace", "value": {"id": ..., "displayName": ...}}`): the id is
  read-only, and an unchanged id is dropped rather than refused;
- Entra only: the enterprise `manager` as a bare id string, and path-less values whose keys
  are value-filter paths (`aadOptscim062020`);
- membership changes of a Group (`members` add/remove/replace, `members[value eq "..."]`,
  Entra's default remove with a value array, and the `aadOptscim062020` remove by filter)
  are pulled out of the PATCH, so that the service applies them as set operations in SQL
  (a Team can hold 10,000 members, and concurrent PATCHes must lose none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scim2_models import ScimPolicy
from scim2_models.path import FilterNode

from authbridge.scim.errors import InvalidPath, InvalidSyntax, InvalidValue
from authbridge.storage.scim.group_store import MemberChange

__all__ = [
    "ENTRA",
    "OKTA",
    "RFC",
    "Dialect",
    "MemberChange",
    "PatchPlan",
    "dialect_for",
    "plan_patch",
    "policy_for",
]

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OPS = ("add", "remove", "replace")
MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:manager"


@dataclass
class PatchPlan:
    """A PATCH split into attribute operations (applied by scim2-models) and membership."""

    body: dict[str, Any]
    members: list[MemberChange] = field(default_factory=list)

    @property
    def has_attribute_ops(self) -> bool:
        return bool(self.body["Operations"])


def _member_ids(value: Any) -> list[str]:
    """`[{"value": "id"}, ...]` (or one such object) to ids, refusing anything else."""
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for item in items:
        if isinstance(item, dict):
            item = {k.lower(): v for k, v in item.items()}
            if item.get("type") not in (None, "User"):
                raise InvalidValue("only Users can be members of a group")
            ident = item.get("value")
        else:
            ident = item
        if not isinstance(ident, str) or not ident:
            raise InvalidValue('a member is given as {"value": "<user id>"}')
        ids.append(ident)
    return ids


def _parse_member_filter(path: str) -> FilterNode:
    from scim2_models import Group, Path

    try:
        parsed = Path[Group](path)
    except Exception:
        raise InvalidPath(f"invalid path {path!r}") from None
    node = getattr(parsed, "ast", None) or getattr(parsed, "node", None)
    value_filter = getattr(node, "val_filter", None)
    if value_filter is None:
        raise InvalidPath(f"invalid path {path!r}")
    if getattr(node, "sub_attr", None):
        raise InvalidPath("a member's sub-attributes cannot be changed one by one")
    return value_filter  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Dialect:
    """The departures from RFC 7644 §3.5.2 one provisioning client is known to send, each
    undone before the PATCH is applied; a client gets only its own (issue 10: Entra's
    rewrites applied to Okta traffic turned Okta's mistakes into silent writes)."""

    name: str
    # Okta Group Push and Entra repeat the resource's own id in a path-less replace.
    drops_own_id: bool = False
    # Entra sends the enterprise manager as the manager's id, a bare string.
    manager_as_string: bool = False
    # Entra's aadOptscim062020 puts value-filter paths as keys of a path-less value.
    filter_keys_as_paths: bool = False


OKTA = Dialect("okta", drops_own_id=True)
ENTRA = Dialect("microsoft", drops_own_id=True, manager_as_string=True, filter_keys_as_paths=True)
RFC = Dialect("rfc7644")  # a client with no known departures
DIALECTS = {OKTA.name: OKTA, ENTRA.name: ENTRA}


def dialect_for(source: str) -> Dialect:
    """The dialect of a provisioning source (`okta`, `microsoft`); strict RFC otherwise."""
    return DIALECTS.get(source, RFC)


@dataclass
class _Operation:
    op: str
    path: str | None
    value: Any
    has_value: bool


def plan_patch(
    body: Any,
    resource_id: str,
    *,
    with_members: bool,
    dialect: Dialect = RFC,
    max_operations: int = 1000,
) -> PatchPlan:
    """Check the PatchOp envelope (RFC 7644 §3.5.2), undo `dialect`'s departures, and split
    membership changes from attribute operations."""
    kept: list[dict[str, Any]] = []
    members: list[MemberChange] = []
    for operation in _operations(body, max_operations):
        if operation.path is None:
            _plan_pathless(operation, resource_id, dialect, with_members, kept, members)
        elif with_members and _names_members(operation.path):
            members.append(
                _member_change(operation.op, operation.path, operation.value, operation.has_value)
            )
        else:
            kept.append(_entry(operation, _with_path(operation, dialect)))
    return PatchPlan({"schemas": [PATCH_SCHEMA], "Operations": kept}, members)


def _operations(body: Any, max_operations: int) -> list[_Operation]:
    """The envelope's operations, each checked and with its member names lower-cased."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the body must be a PatchOp object")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or PATCH_SCHEMA not in schemas:
        raise InvalidSyntax(f'"schemas" must be ["{PATCH_SCHEMA}"]')
    operations = body.get("Operations", body.get("operations"))
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax('"Operations" must be a non-empty array')
    if len(operations) > max_operations:
        raise InvalidSyntax(f"at most {max_operations} operations per PATCH")
    return [_operation(raw) for raw in operations]


def _operation(raw: Any) -> _Operation:
    if not isinstance(raw, dict):
        raise InvalidSyntax("each operation must be an object")
    operation = {str(k).lower(): v for k, v in raw.items()}
    op = operation.get("op")
    if not isinstance(op, str) or op.lower() not in OPS:
        raise InvalidSyntax('"op" must be add, remove or replace')
    path = operation.get("path")
    if path is not None and not isinstance(path, str):
        raise InvalidPath('"path" must be a string')
    return _Operation(op.lower(), path, operation.get("value"), "value" in operation)


def _entry(operation: _Operation, value: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"op": operation.op}
    if operation.path is not None:
        entry["path"] = operation.path
    if operation.has_value:
        entry["value"] = value
    return entry


def _with_path(operation: _Operation, dialect: Dialect) -> Any:
    """An operation with a path: only Entra's bare-string manager is rewritten."""
    value = operation.value
    path = (operation.path or "").strip().lower()
    if dialect.manager_as_string and isinstance(value, str) and path == MANAGER:
        return {"value": value}
    return value


def _plan_pathless(
    operation: _Operation,
    resource_id: str,
    dialect: Dialect,
    with_members: bool,
    kept: list[dict[str, Any]],
    members: list[MemberChange],
) -> None:
    """A path-less operation (RFC 7644 §3.5.2.1/.3: the value names the attributes)."""
    if not isinstance(operation.value, dict):
        kept.append(_entry(operation, operation.value))
        return
    value = dict(operation.value)
    if dialect.filter_keys_as_paths:
        for key in [k for k in value if isinstance(k, str) and "[" in k]:
            # {"op":"replace","value":{"emails[type eq \"work\"].value": ...}} is an
            # operation with that path.
            kept.append({"op": operation.op, "path": key, "value": value.pop(key)})
    if dialect.manager_as_string:
        for key in [k for k in value if isinstance(k, str) and k.lower() == MANAGER]:
            if isinstance(value[key], str):
                value[key] = {"value": value[key]}
    if dialect.drops_own_id and value.get("id") == resource_id:
        value.pop("id")  # the id is read-only; an unchanged one is dropped, not refused
    if with_members:
        member_key = next((k for k in value if k.lower() == "members"), None)
        if member_key is not None:
            members.append(_member_change(operation.op, "members", value.pop(member_key), True))
    if value:
        kept.append(_entry(operation, value))


def _names_members(path: str) -> bool:
    head = path.strip().split("[", 1)[0].split(".", 1)[0]
    if ":" in head:
        head = head.rsplit(":", 1)[1]
    return head.lower() == "members"


def _member_change(op: str, path: str, value: Any, has_value: bool) -> MemberChange:
    path = path.strip()
    if "[" in path:
        if op != "remove":
            raise InvalidPath("members can be added or replaced only as a list of values")
        return MemberChange("remove", filter=_parse_member_filter(path))
    if path.lower() not in ("members", "members.value"):
        raise InvalidPath(f"invalid path {path!r}")
    if op == "remove":
        if not has_value or value is None or value == []:
            return MemberChange("remove", everyone=True)
        # Entra's default shape: {"op":"Remove","path":"members","value":[{"value":"id"}]}
        return MemberChange("remove", values=_member_ids(value))
    if not has_value:
        raise InvalidValue(f"{op} of members needs a value")
    return MemberChange("add" if op == "add" else "replace", values=_member_ids(value or []))


def policy_for(source: str) -> ScimPolicy:
    """How far each client may depart from RFC 7643/7644 (scim2-models' tolerances).

    Both: an add/replace through `attr[type eq "x"].sub` that matches nothing creates that
    entry (Entra writes a first work email or address this way; RFC 7644 §3.5.2.3 would
    answer noTarget), and a `remove` carrying a value removes that value (Entra's default).
    Microsoft: unknown attributes and schema URNs are ignored, since Entra adds its own
    (`http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group`). Okta:
    refused, as the SCIM interoperability profile asks.
    """
    return ScimPolicy(
        unknown=ScimPolicy.Unknown.ignore if source == "microsoft" else ScimPolicy.Unknown.forbid,
        unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
        remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    )
