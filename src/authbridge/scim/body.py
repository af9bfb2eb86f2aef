"""A SCIM request body (RFC 7644 §3.1: JSON, RFC 8259) to Python values, or a 400.

`json.loads` accepts two things a SCIM server cannot store or walk, and both used to end in a
500: a lone surrogate escape such as `"\\ud800"` (legal in the JSON grammar, RFC 8259 §8.2,
but not a Unicode string, which RFC 7643 §2.3.1 requires; no UTF-8 database column can hold
it), and nesting deep enough to exhaust the parser's recursion. Both are refused here, before
any rule runs, with the RFC 7644 §3.12 `scimType` that names them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from authbridge.scim.errors import InvalidSyntax, InvalidValue

__all__ = ["MAX_DEPTH", "parse_json", "refuse_lone_surrogates"]

# The deepest SCIM message is a PatchOp adding a complex multi-valued attribute
# (body > Operations > op > value > list > item > sub-attribute): 7. Room to spare, and far
# below anything that strains a recursive walk later (validation, the audit row's JSON).
MAX_DEPTH = 32
# A high or low surrogate as a \u escape: the only way one reaches us (UTF-8 bytes for a
# surrogate are invalid UTF-8 and fail decoding already). Checked by value only when present.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def parse_json(raw: bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """The body as Python values: invalidSyntax for text that is not JSON (or nests deeper
    than `max_depth`), invalidValue for a string that is not Unicode."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InvalidSyntax(f"the body nests deeper than {max_depth} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidSyntax("the body is not valid JSON") from None
    # Counting brackets is a C-speed scan; the walk runs only when depth is possible.
    if raw.count(b"[") + raw.count(b"{") > max_depth and _depth_exceeds(value, max_depth):
        raise InvalidSyntax(f"the body nests deeper than {max_depth} levels")
    if _SURROGATE_ESCAPE.search(raw):
        refuse_lone_surrogates(value)
    return value


def refuse_lone_surrogates(value: Any) -> None:
    """InvalidValue if any string (key or value) in `value` holds an unpaired surrogate."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValue(
            "a string holds an unpaired UTF-16 surrogate escape; SCIM strings are Unicode "
            "(RFC 7643 §2.3.1)"
        ) from None


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
