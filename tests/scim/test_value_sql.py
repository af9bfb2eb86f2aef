"""Comparisons on the value index and on columns, checked against the RFC 7644 §3.4.2.2
meaning of each operator as scim2-models' evaluator applies it in Python: long values (whose
indexed head is cut), prefixes at the ends of Unicode, case per RFC 7643 §2.2 caseExact."""

from __future__ import annotations

import json

import pytest
from scim2_models import ScimFilter

from authbridge.config.model import ScimSettings
from authbridge.scim.resources import USER_SCHEMA, UserModel
from authbridge.scim.service import ListQuery, ScimService
from authbridge.storage import Storage
from authbridge.storage.scim.portable_sql import _successor
from authbridge.storage.scim.values import KEY_LENGTH
from tests.wiring import scim_service

N = KEY_LENGTH
TITLES = [
    "a" * (N - 1),
    "a" * N,
    "a" * (N + 1),
    "a" * N + "c",
    "a" * (N + 50) + "b",
    "ab",
    "B",
    "Zürich",
    "\U0010ffff\U0010ffff",
    "\ud7ffz",
    "\ue000",
]
OPERANDS = [
    "a" * (N - 1),
    "a" * N,
    "A" * (N + 1),
    "a" * N + "c",
    "a" * (N + 50),
    "a",
    "b",
    "zü",
    "\U0010ffff",
    "\ud7ff",
]
CASE_EXACT = ["AbC-1", "abc-2", "xABC"]  # externalId (a column) and photos.value (the index)
CASE_OPERANDS = ["abc", "AbC", "ABC", "-1", "C-1"]
OPERATORS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]


@pytest.fixture
def service(storage: Storage) -> ScimService:
    service = scim_service(storage, ScimSettings(), source="okta", base_url="http://t/scim")
    for i, title in enumerate(TITLES):
        service.create_user(
            {"schemas": [USER_SCHEMA], "userName": f"t{i}", "title": title}, actor="t"
        )
    for i, value in enumerate(CASE_EXACT):
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"c{i}",
            "externalId": value,
            "photos": [{"value": f"https://x/{value}"}],
        }
        service.create_user(body, actor="t")
    return service


def _agree(service: ScimService, expressions: list[str]) -> None:
    everyone = service.list_users(ListQuery(count=1000)).resources
    assert len(everyone) == len(TITLES) + len(CASE_EXACT)
    for expression in expressions:
        found = sorted(
            r["userName"]
            for r in service.list_users(ListQuery(filter=expression, count=1000)).resources
        )
        bound = ScimFilter[UserModel](expression)
        expected = sorted(
            r["userName"] for r in everyone if bound.match(UserModel.model_validate(r))
        )
        assert found == expected, expression


def test_string_operators_on_long_and_unusual_values(service: ScimService) -> None:
    _agree(
        service,
        [f"title {op} {json.dumps(value)}" for op in OPERATORS for value in OPERANDS],
    )


def test_case_exact_attributes_compare_exactly(service: ScimService) -> None:
    # SQLite's LIKE ignores ASCII case: co/sw/ew must still be exact where caseExact=true.
    ops = ["eq", "co", "sw", "ew", "gt", "lt"]
    _agree(service, [f"externalId {op} {json.dumps(v)}" for op in ops for v in CASE_OPERANDS])
    _agree(
        service,
        [f"photos.value {op} {json.dumps('https://x/' + v)}" for op in ops for v in CASE_OPERANDS]
        + [f"photos[value co {json.dumps(v)}]" for v in CASE_OPERANDS],
    )


def test_a_prefix_range_ends_where_the_prefix_does() -> None:
    assert _successor("ab") == "ac"
    assert _successor("a\U0010ffff") == "b"  # no character follows U+10FFFF: carry left
    assert _successor("\U0010ffff") is None  # every string >= the prefix starts with it
    assert _successor("\ud7ff") == "\ue000"  # surrogates are not characters
