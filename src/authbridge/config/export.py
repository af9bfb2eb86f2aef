"""`authbridge config export`: the effective configuration in authbridge's own keys.

A team that pasted Astronomer's, Pachyderm's or OpenMetadata's values can migrate off the
foreign shape when it wants: the export is what the file means, written natively, with only
the keys that differ from their defaults. Secrets are left out of it, never printed: the
caller is told which keys to give through the environment or a mounted secret instead.
"""

from __future__ import annotations

from typing import Any

from authbridge.config.model import Settings
from authbridge.config.schema import Node, child, node_for

__all__ = ["native"]


def native(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """The settings as a native file (non-default keys only, secrets removed), and the
    dotted paths of the secrets that were left out."""
    dumped = settings.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    left_out: list[str] = []
    tree = _without_secrets(dumped, node_for(Settings), "", left_out)
    return (tree if isinstance(tree, dict) else {}), left_out


def _without_secrets(value: Any, node: Node, path: str, left_out: list[str]) -> Any:
    if node.secret:
        if isinstance(value, dict):  # a map of secrets (`environment`): each by its name
            left_out.extend(f"{path}.{key}" for key in value)
        elif value:
            left_out.append(path)
        return None
    if not isinstance(value, dict):
        return value
    if node.kind == "model" and node.model is not None and "providers" in value:
        # Provider blocks sit beside the section's own keys in a file (`openidConnect.okta`).
        value = {**{k: v for k, v in value.items() if k != "providers"}, **value["providers"]}
    out: dict[str, Any] = {}
    for key, item in value.items():
        found = child(node, key)
        where = f"{path}.{key}" if path else key
        kept = _without_secrets(item, found[1], where, left_out) if found else item
        if kept is not None and kept != {}:
            out[key] = kept
    return out
