"""The value index: every attribute value of a resource as rows a filter finds by index.

RFC 7644 §3.4.2.2 lets a filter name any attribute of the schema, multi-valued complex ones
included (`emails[type eq "work" and value co "@example.com"]`). Attributes with a column of
their own (userName, externalId, ...) are filtered there; every other value of a resource is a
row `(attr, item, value_key, value_full)` of a value table, so that a filter on it is an index
seek on `(attr, value_key)` and never a scan in Python:

- `attr` names the attribute as `resolve` does: lower-cased, `attr.sub`, with an extension's
  attributes behind its short alias (`enterprise:manager.value`);
- `item` is the position in a multi-valued attribute (0 otherwise), so that the conditions of
  one value path hold for the same element; each non-empty element of a complex attribute also
  has a row for the attribute itself (its `value_key` NULL), which `pr` and `not` start from;
- `value_key` is the value as filters compare it (RFC 7643 §2.2: lower-cased where the schema
  says caseExact=false, booleans as `true`/`false`, dateTimes as UTC text in a fixed format so
  that text order is time order), cut to `KEY_LENGTH` characters so every key fits a b-tree
  entry; `value_full` holds the whole key when it is longer.

This module is free of the ORM: the migration that creates the table backfills it with the same
`value_rows` the service writes with.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from inspect import isclass
from typing import Any, Literal

from scim2_models import BaseModel, EnterpriseUser, Extension, Path
from scim2_models.path import AttributeBinding, AttrPath

from authbridge.storage.users import username_key

__all__ = [
    "KEY_LENGTH",
    "Attribute",
    "Kind",
    "casefold_key",
    "key_of",
    "resolve",
    "split_key",
    "value_rows",
]

KEY_LENGTH = 200  # characters of a key kept in the index (4 bytes each at most in UTF-8)
# Short names of the extensions' attributes: rows and indexes carry `attr` on every value.
EXTENSION_ALIASES = {str(EnterpriseUser.__schema__).lower(): "enterprise"}
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Kind = Literal["string", "boolean", "datetime", "binary", "number", "complex"]


# The normalisation of every case-insensitive key: the one `username_key`, so that a filter
# on userName compares exactly what `users.username_key` stores.
casefold_key = username_key


@dataclass(frozen=True)
class Attribute:
    """An attribute a path names (RFC 7643 §2), as filters and the value index see it."""

    name: str  # `emails.type`, `title`, `enterprise:manager.value`
    kind: Kind
    case_exact: bool
    multi_valued: bool  # the head attribute (`emails` for `emails.type`) holds several values
    binding: AttributeBinding
    model: type[BaseModel]  # the resource type the path was resolved in
    path: AttrPath  # the path as resolved, lower-cased

    @property
    def head(self) -> str:
        """The attribute holding this one: `emails` for `emails.type`."""
        return self.name.partition(".")[0]

    def sub(self, name: str) -> Attribute | None:
        """A sub-attribute, named as inside a value path (`emails[type eq "work"]`).

        A multi-valued attribute of simple values has no sub-attributes: `value` names its
        elements themselves (the convention scim2-models' evaluator follows)."""
        if self.kind != "complex":
            return self if name.lower() == "value" else None
        return resolve(self.model, self.path.attr, name, self.path.uri)


def _is_extension(model: Any) -> bool:
    return isclass(model) and issubclass(model, Extension)


def _kind(binding: AttributeBinding) -> Kind:
    target = binding.target_type
    if isclass(target) and issubclass(target, BaseModel):
        return "complex"
    if target is bool:
        return "boolean"
    if target is datetime:
        return "datetime"
    if target is bytes:
        return "binary"
    if target in (int, float):
        return "number"
    return "string"


def _name(binding: AttributeBinding) -> str:
    schema, _, path = binding.urn.rpartition(":")
    model_schema = getattr(binding.model, "__schema__", None) or ""
    if not _is_extension(binding.model) or schema.lower() != model_schema.lower():
        return path.lower()
    alias = EXTENSION_ALIASES.get(schema.lower(), schema.lower())
    return f"{alias}:{path.lower()}"


@lru_cache(maxsize=4096)
def _resolve(
    model: type[BaseModel], attr: str, sub: str | None, uri: str | None
) -> Attribute | None:
    try:
        path = AttrPath(attr, sub, uri)
        binding = Path[model](str(path)).resolve()  # type: ignore[valid-type]
    except Exception:  # scim2-models raises ValueError and its own errors alike
        return None
    if binding is None:
        return None
    return Attribute(
        name=_name(binding),
        kind=_kind(binding),
        case_exact=binding.case_exact,
        multi_valued=binding.is_multivalued,
        binding=binding,
        model=model,
        path=path,
    )


def resolve(
    model: type[BaseModel], attr: str, sub: str | None = None, uri: str | None = None
) -> Attribute | None:
    """The attribute `uri:attr.sub` names in `model`'s schemas (RFC 7644 §3.10), or None.

    Names are case-insensitive (RFC 7643 §2.1); they are lower-cased before the cache so that
    a client's spellings cannot grow it past the schema's size."""
    return _resolve(model, attr.lower(), sub.lower() if sub else None, uri.lower() if uri else None)


def key_of(attribute: Attribute, value: Any) -> str:
    """A value as filters compare it: the form `value_key` holds (RFC 7643 §2.2, §2.3)."""
    if isinstance(value, Enum):
        value = value.value
    if attribute.kind == "boolean":
        return "true" if value is True or str(value).lower() == "true" else "false"
    if attribute.kind == "datetime":
        when = value
        if not isinstance(when, datetime):
            try:
                when = datetime.fromisoformat(str(value))
            except ValueError:
                return str(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone(UTC).strftime(DATETIME_FORMAT)
    if attribute.kind == "binary":
        # A binary value is compared as its canonical base64 (RFC 7643 §2.3.6).
        raw = value
        if not isinstance(raw, bytes):
            try:
                raw = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                return str(value)
        return base64.b64encode(raw).decode("ascii")
    text = str(value)
    return text if attribute.case_exact else casefold_key(text)


def split_key(key: str) -> tuple[str, str | None]:
    """`(value_key, value_full)`: the indexed head of a key, and the whole key if longer."""
    if len(key) <= KEY_LENGTH:
        return key, None
    return key[:KEY_LENGTH], key


def _present(value: Any) -> bool:
    """RFC 7644 §3.4.2.2 `pr`: a non-empty value or a non-empty complex node."""
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, Mapping):
        return any(_present(item) for item in value.values())
    if isinstance(value, list):
        return any(_present(item) for item in value)
    return True


def _extensions(model: type[BaseModel]) -> dict[str, str]:
    """The extension schemas of a resource type, by lower-cased URN."""
    get = getattr(model, "get_extension_models", None)
    return {schema.lower(): schema for schema in (get() if get else {})}


def _rows(
    model: type[BaseModel], data: Mapping[str, Any], uri: str | None
) -> Iterator[tuple[str, int, str | None]]:
    extensions = _extensions(model) if uri is None else {}
    for key, value in data.items():
        if key.lower() in extensions:
            if isinstance(value, Mapping):
                yield from _rows(model, value, extensions[key.lower()])
            continue
        attribute = resolve(model, key, None, uri)
        if attribute is None or not _present(value):
            continue
        elements = value if isinstance(value, list) else [value]
        for item, element in enumerate(elements):
            if not _present(element):
                continue
            if attribute.kind != "complex":
                yield attribute.name, item, key_of(attribute, element)
                continue
            if not isinstance(element, Mapping):
                continue
            yield attribute.name, item, None
            for sub_name, sub_value in element.items():
                sub = resolve(model, key, sub_name, uri) if _present(sub_value) else None
                if sub is not None and sub.kind != "complex":
                    yield sub.name, item, key_of(sub, sub_value)


def value_rows(
    model: type[BaseModel], schema: str, attributes: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The value index rows of one resource (`attr`, `item`, `value_key`, `value_full`).

    `attributes` is the resource as the service stores it (its JSON attributes); `schemas`
    (RFC 7643 §3) is derived as the service returns it: the resource's schema, then each
    extension present."""
    extensions = _extensions(model)
    schemas = [schema, *(key for key in attributes if key.lower() in extensions)]
    found: list[tuple[str, int, str | None]] = []
    attribute = resolve(model, "schemas")
    if attribute is not None:
        found.extend((attribute.name, i, key_of(attribute, urn)) for i, urn in enumerate(schemas))
    found.extend(_rows(model, attributes, None))
    rows = []
    for attr, item, key in found:
        value_key, value_full = split_key(key) if key is not None else (None, None)
        rows.append({"attr": attr, "item": item, "value_key": value_key, "value_full": value_full})
    return rows
