"""The configuration reference (docs/configuration.md) is the settings model, and what it
promises works: every key is described, and the environment variable it names sets the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authbridge.config.loader import load_settings
from authbridge.config.model import Settings
from authbridge.config.reference import KeyDoc, keys, markdown

PAGE = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_the_page_in_docs_is_the_models_reference() -> None:
    assert PAGE.read_text(encoding="utf-8") == markdown(), (
        "docs/configuration.md is out of date: run `authbridge config reference > "
        "docs/configuration.md`"
    )


def test_every_key_says_what_it_is_for() -> None:
    undescribed = [doc.path for doc in keys() if not doc.description.strip()]
    assert undescribed == []


def test_the_reference_lists_the_keys_the_seeds_and_readme_promise() -> None:
    paths = {doc.path for doc in keys()}
    for promised in (
        "auth.local.enabled",
        "auth.openidConnect.flow",
        "auth.openidConnect.<name>.clientId",
        "auth.openidConnect.<name>.baseDomain",
        "authorizer.initialAdmins",
        "authorizer.principalDomain",
        "auth.ldap.<name>.bindPW",
        "auth.saml.<name>.ssoUrl",
        "tokens.keyRotationInterval",
        "redis.url",
        "server.managementPort",
    ):
        assert promised in paths, promised


# Keys whose smallest other value breaks a rule between keys, or that accept one value only.
SPECIAL: dict[str, tuple[str, Any] | None] = {
    "tokens.keyPublishAhead": ("60", 60),  # at least keyReloadInterval (30)
    "server.managementPort": ("9000", 9000),  # not server.port
    "auth.github.requireMfa": None,  # refused by design: GitHub proves no second factor
}


def _other_value(doc: KeyDoc) -> tuple[str, Any] | None:
    """A valid non-default value for a key, as an environment string and as parsed."""
    if doc.path in SPECIAL:
        return SPECIAL[doc.path]
    if doc.kind == "boolean":
        default_true = doc.default == "`true`"
        return ("false", False) if default_true else ("true", True)
    if doc.kind.startswith("one of "):
        options = [part.strip().strip("`") for part in doc.kind[len("one of ") :].split(",")]
        other = next(o for o in options if f'`"{o}"`' != doc.default)
        return other, other
    if doc.kind.startswith("integer"):
        low = 1
        for bound in doc.kind.partition("(")[2].rstrip(")").split(", "):
            if bound.startswith("≥ "):
                low = int(bound[2:])
            elif bound.startswith("> "):
                low = int(bound[2:]) + 1
        value = low + 1 if f"`{low}`" == doc.default else low
        return str(value), value
    return None


def _read(settings: Settings, path: str) -> Any:
    node: Any = settings.model_dump(by_alias=True)
    for segment in path.split("."):
        node = node[segment]
    return node


CHECKED = [
    doc
    for doc in keys()
    if doc.env is not None and "<NAME>" not in doc.env and _other_value(doc) is not None
]


@pytest.mark.parametrize("doc", CHECKED, ids=[doc.path for doc in CHECKED])
def test_the_documented_variable_sets_the_key(doc: KeyDoc) -> None:
    assert doc.env is not None
    text, parsed = _other_value(doc) or ("", None)
    settings = load_settings(None, {doc.env: text})
    assert _read(settings, doc.path) == parsed


def test_a_named_block_is_set_by_its_documented_variable() -> None:
    by_path = {doc.path: doc for doc in keys()}
    env = by_path["auth.openidConnect.<name>.clientId"].env
    assert env == "AUTH__OPENID_CONNECT__<NAME>__CLIENT_ID"
    settings = load_settings(None, {env.replace("<NAME>", "CORP"): "abc123"})
    assert settings.auth.openid_connect.providers["corp"].client_id == "abc123"
