"""SCIM filter expressions (RFC 7644 §3.4.2.2): text to syntax tree, within limits.

The grammar is scim2-models' (a LALR parser over the RFC's ABNF); this module adds the
limits a public endpoint needs (length, number of terms) and turns the library's
exceptions into `invalidFilter` errors.
"""

from __future__ import annotations

from typing import Any

from scim2_models import ScimFilter
from scim2_models.path import Comparison, FilterNode, LogicalExpr, Not, Present, ValuePath

from authbridge.scim.errors import InvalidFilter

__all__ = ["count_terms", "parse_filter"]


def count_terms(node: FilterNode) -> int:
    """How many comparisons and presence tests a filter holds (its evaluation cost)."""
    if isinstance(node, (Comparison, Present)):
        return 1
    if isinstance(node, Not):
        return count_terms(node.expr)
    if isinstance(node, LogicalExpr):
        return sum(count_terms(term) for term in node.terms)
    if isinstance(node, ValuePath):
        return 1 + count_terms(node.val_filter)
    raise InvalidFilter(f"unsupported filter node {type(node).__name__}")


def parse_filter(expression: str, model: Any, *, max_length: int, max_terms: int) -> FilterNode:
    """Parse and check `expression` against `model`'s schema; InvalidFilter if it is not one.

    RFC 7644 §3.4.2.2: a filter that the server cannot parse or that names an operator the
    attribute does not support is answered 400 with scimType "invalidFilter".
    """
    if len(expression) > max_length:
        raise InvalidFilter(f"the filter is longer than {max_length} characters")
    if not expression.isascii():
        try:
            expression.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON SearchRequest: not Unicode
            raise InvalidFilter("the filter holds an unpaired UTF-16 surrogate") from None
    try:
        parsed = ScimFilter[model](expression)
        node: FilterNode = parsed.ast
    except Exception as exc:  # the library raises pydantic and its own errors alike
        raise InvalidFilter(f"invalid filter: {_reason(exc)}") from None
    if count_terms(node) > max_terms:
        raise InvalidFilter(f"the filter has more than {max_terms} terms")
    return node


def _reason(exc: Exception) -> str:
    detail = getattr(exc, "detail", None) or str(exc)
    return str(detail).splitlines()[0][:200]
