"""The configuration reference: every key authbridge reads, with its environment variable,
type, default and meaning, rendered as Markdown from the settings model itself.

`authbridge config reference` prints it and `docs/configuration.md` is its output; a test
keeps the page equal to the model, so a key cannot be added, renamed or re-defaulted without
the reference saying so, and every key must carry a description.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from authbridge.config.model import OpenidConnectSettings, Settings
from authbridge.config.schema import env_segment, unwrap_optional

__all__ = ["KeyDoc", "keys", "markdown"]

HEADER = """\
# Configuration reference

Every key authbridge reads, generated from the settings model (`authbridge config reference`
prints this page; a test fails when it and the model disagree). Keys are camelCase in the YAML
or JSON file; each can also be set by the environment variable beside it, and a secret by
`<VARIABLE>_FILE` or a file named like the variable in `AUTHBRIDGE_SECRETS_DIR` (README,
Configuration). `<name>` is a name you choose (a provider, a role, a client id); `[]` marks
the items of a list, which the environment sets as a whole (a JSON list).
"""


@dataclass(frozen=True)
class KeyDoc:
    """One leaf key of the settings tree."""

    path: str
    env: str | None
    kind: str
    default: str
    secret: bool
    description: str


def _kind(annotation: Any, info: FieldInfo) -> str:
    annotation = unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):  # `server.workers`: integer or `auto`
        return " or ".join(_kind(member, info) for member in typing.get_args(annotation))
    if origin is Literal and len(typing.get_args(annotation)) == 1:
        return f"`{typing.get_args(annotation)[0]}`"
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in typing.get_args(annotation))
    if origin is list:
        return f"list of {_kind(typing.get_args(annotation)[0], FieldInfo())}s"
    if origin is dict:
        return f"map of {_kind(typing.get_args(annotation)[1], FieldInfo())}s"
    base = {bool: "boolean", int: "integer", float: "number", str: "string"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )
    bounds = []
    for rule in info.metadata:
        for attribute, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if isinstance(rule, getattr(annotated_types, attribute.capitalize())):
                bounds.append(f"{sign} {getattr(rule, attribute)}")
    return f"{base} ({', '.join(bounds)})" if bounds else base


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _submodel(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """A nested section, map of sections (`<name>`) or list of sections (`[]`)."""
    annotation = unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "", annotation
    origin = typing.get_origin(annotation)
    if origin in (dict, list):
        inner = unwrap_optional(typing.get_args(annotation)[-1])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return (".<name>" if origin is dict else "[]"), inner
    return None


def _walk(model: type[BaseModel], path: str, env: str | None) -> Iterator[KeyDoc]:
    for name, info in model.model_fields.items():
        key = info.alias or name
        if model is OpenidConnectSettings and key == "providers":
            # Provider blocks sit beside `flow` under free names (OpenidConnectSettings).
            key_path, key_env = f"{path}.<name>", f"{env}__<NAME>" if env else None
            yield from _walk(_checked_submodel(info.annotation), key_path, key_env)
            continue
        key_path = f"{path}.{key}" if path else key
        key_env = f"{env}__{env_segment(key)}" if env else env_segment(key) if not path else None
        nested = _submodel(info.annotation)
        if nested is not None:
            suffix, sub = nested
            sub_env = None
            if key_env is not None and suffix != "[]":
                sub_env = key_env + ("__<NAME>" if suffix else "")
            yield from _walk(sub, key_path + suffix, sub_env)
            continue
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        yield KeyDoc(
            path=key_path,
            env=key_env,
            kind=_kind(info.annotation, info),
            default=_default(info),
            secret=bool(extra.get("secret", False)),
            description=" ".join((info.description or "").split()),
        )


def _checked_submodel(annotation: Any) -> type[BaseModel]:
    nested = _submodel(annotation)
    assert nested is not None
    return nested[1]


def keys() -> list[KeyDoc]:
    """Every leaf key of `Settings`, in the model's order."""
    return list(_walk(Settings, "", None))


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The reference page: one table per top-level section."""
    lines = [HEADER.rstrip("\n")]
    section = None
    for doc in keys():
        top = doc.path.split(".", 1)[0].removesuffix("[]")
        if top != section:
            section = top
            lines += [
                f"## {top}",
                "",
                "| Key | Environment | Type | Default | Meaning |",
                "| --- | --- | --- | --- | --- |",
            ]
        env = f"`{doc.env}`" if doc.env else "(in the list)"
        meaning = doc.description + (" Secret: masked by `config check`." if doc.secret else "")
        lines.append(
            f"| `{doc.path}` | {env} | {_cell(doc.kind)} | {_cell(doc.default)} "
            f"| {_cell(meaning)} |"
        )
    out: list[str] = []
    for line in lines:
        if line.startswith("## ") and out and out[-1] != "":
            out.append("")
        out.append(line)
    return "\n".join(out).rstrip() + "\n"
