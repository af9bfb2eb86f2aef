"""Everything `src/authbridge` imports comes with `pip install .`: each third-party module it
imports belongs to a runtime dependency of pyproject.toml or to one of theirs (their extras
included only where we ask for them). A module only a test extra brought (greenlet came
with Playwright, while SQLAlchemy 2.1 stopped requiring it) would work in every test and
fail in the shipped image."""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "authbridge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {n for n in names if n != "authbridge" and n not in sys.stdlib_module_names}


def _installed_closure(requirements: list[str]) -> set[str]:
    """The distributions `pip install .` brings: the requirements and, recursively, theirs
    (a requirement's own extras' requirements only when it names those extras)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    # (a requirement, the extras its parent asked of the distribution that requires it)
    pending: list[tuple[Requirement, frozenset[str]]] = [
        (Requirement(r), frozenset()) for r in requirements
    ]
    while pending:
        requirement, asked = pending.pop()
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (asked or {""})
        ):
            continue
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(requirement.name) or []
        except metadata.PackageNotFoundError:
            continue  # (a marker-selected dependency of another platform)
        pending.extend((Requirement(text), frozenset(requirement.extras)) for text in requires)
    return {name for name, _extras in seen}


def test_every_imported_module_comes_with_the_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _installed_closure(project["dependencies"])
    providers = metadata.packages_distributions()
    missing = {
        module: providers.get(module, ["?"])
        for module in _imported_top_levels()
        if module in providers
        and not any(canonicalize_name(dist) in installed for dist in providers[module])
    }
    assert missing == {}, f"imported by src/ but not a runtime dependency: {missing}"
