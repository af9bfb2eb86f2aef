"""Walks the settings model by key: which keys exist at a path, and what kind of value each holds.

The loader uses it to map environment variables (`AUTH__OPENID_CONNECT__OKTA__CLIENT_ID`)
onto file keys (`auth.openidConnect.okta.clientId`), to accept `clientID` for `clientId`,
and to suggest the closest valid key when a key is unknown.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from authbridge.config.model import OpenidConnectSettings

__all__ = ["Node", "child", "closest", "env_segment", "node_for", "normalize", "unwrap_optional"]

NodeKind = Literal["model", "model_map", "value_map", "list", "scalar"]


@dataclass(frozen=True)
class Node:
    """What sits at one place of the settings tree."""

    kind: NodeKind
    model: type[BaseModel] | None = None
    secret: bool | str = False


def normalize(key: str) -> str:
    """Spelling-insensitive form of a key: `clientID`, `client_id`, `CLIENT-ID` all agree."""
    return key.replace("_", "").replace("-", "").lower()


def env_segment(key: str) -> str:
    """A file key as its environment-variable segment: `clientId` is `CLIENT_ID`, `bindPW`
    is `BIND_PW` (a run of capitals is one word)."""
    out = [
        f"_{c}" if c.isupper() and index and not key[index - 1].isupper() else c
        for index, c in enumerate(key)
    ]
    return "".join(out).upper()


def unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _node_of(annotation: Any, secret: bool | str = False) -> Node:
    annotation = unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Node("model", annotation)
    if origin is dict:
        value_type = unwrap_optional(typing.get_args(annotation)[1])
        if isinstance(value_type, type) and issubclass(value_type, BaseModel):
            return Node("model_map", value_type)
        return Node("value_map", secret=secret)
    if origin is list:
        return Node("list", secret=secret)
    return Node("scalar", secret=secret)


def node_for(model: type[BaseModel]) -> Node:
    return Node("model", model)


def aliases(model: type[BaseModel]) -> dict[str, str]:
    """Map of file key (alias) to Python attribute name for a model's fields."""
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def child(node: Node, key: str) -> tuple[str, Node] | None:
    """The canonical key and node under `node` for a key spelled any way, or None if unknown.

    Provider blocks under `auth.openidConnect` have free names: any key there that is not
    one of the section's own fields is a provider.
    """
    if node.kind == "model" and node.model is not None:
        fields = node.model.model_fields
        for alias, name in aliases(node.model).items():
            if normalize(alias) == normalize(key) and alias != "providers":
                info = fields[name]
                extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
                secret = extra.get("secret", False)
                return alias, _node_of(
                    info.annotation, secret if isinstance(secret, (bool, str)) else False
                )
        if node.model is OpenidConnectSettings:
            provider_node = _node_of(fields["providers"].annotation)
            assert provider_node.model is not None
            return key, Node("model", provider_node.model)
        return None
    if node.kind == "model_map" and node.model is not None:
        return key, Node("model", node.model)
    if node.kind == "value_map":
        return key, Node("scalar", secret=node.secret)
    return None


def closest(node: Node, key: str) -> str | None:
    """The valid key under `node` nearest to a misspelt one, for "did you mean" hints."""
    if node.kind != "model" or node.model is None:
        return None
    candidates = [a for a in aliases(node.model) if a != "providers"]
    by_norm = {normalize(c): c for c in candidates}
    match = difflib.get_close_matches(normalize(key), list(by_norm), n=1, cutoff=0.6)
    return by_norm[match[0]] if match else None
