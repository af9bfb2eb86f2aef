"""The package layers of src/authbridge (DESIGN.md "Architecture", docs/architecture.md),
checked on the source's import statements (AST; nothing is imported or run).

The allowed package graph, lowest layer first; a package may import only from layers below
its own, which makes the graph acyclic by construction:

    0  middleware   standalone token verifier: imports nothing from authbridge
       config       settings models and loading
       clock        the one `utcnow`
    1  storage      SQLAlchemy models, stores, migrations
    2  connectors   upstream IdPs
       tokens       signing keys, key ring, token issuer
       audit        the append-only event log
    3  directory    accounts, identities, roles, revocation (the domain)
    4  provider     the OpenID Provider's protocol logic
       scim         SCIM 2.0 service
    5  admin        the administrative acts the API, the console and the CLI share
       doctor       `authbridge doctor`: checks of the IdPs and of authbridge itself (the
                    CLI and the console's identity-provider page run them)
    6  web          the ASGI app: the only user of FastAPI/Starlette
    7  cli          the `authbridge` command (`serve` builds the web app)
    8  __main__     `python -m authbridge`

And, whatever the layer: only `web/` imports FastAPI/Starlette (besides the middleware's own
adapters for the platform's other services, which exist to plug into those frameworks); only
`storage/` imports SQLAlchemy and Alembic.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "authbridge"

LAYERS: list[set[str]] = [
    {"middleware", "config", "clock"},
    {"storage"},
    {"connectors", "tokens", "audit"},
    {"directory"},
    {"provider", "scim"},
    {"admin", "doctor"},
    {"web"},
    {"cli"},
    {"__main__"},
]
LAYER = {package: level for level, packages in enumerate(LAYERS) for package in packages}
ALLOWED: dict[str, set[str]] = {
    package: {other for other, below in LAYER.items() if below < level}
    for package, level in LAYER.items()
}
FRAMEWORK = {"fastapi", "starlette"}
SQL = {"sqlalchemy", "alembic"}
# The standalone middleware's adapters: a Starlette/FastAPI service mounts them. They are
# what the platform's other services import, not authbridge's own web glue.
FRAMEWORK_ADAPTERS = {"middleware/asgi.py", "middleware/dependency.py"}


def _package(name: str) -> str:
    """The top-level package of a file named relative to src/authbridge."""
    parts = name.split("/")
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def _sources() -> Iterator[tuple[str, str]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield path.relative_to(SOURCE).as_posix(), path.read_text(encoding="utf-8")


def _imports(name: str, source: str) -> Iterator[str]:
    """Every module a file imports, absolute (relative imports stay inside its package)."""
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "authbridge":  # `from authbridge import web`
                yield from (f"authbridge.{alias.name}" for alias in node.names)
            else:
                yield node.module


def _violations(sources: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for name, source in sources:
        package = _package(name)
        if package == "__init__":
            continue  # the root package only holds __version__
        for module in _imports(name, source):
            parts = module.split(".")
            top = parts[0]
            web_only = top in FRAMEWORK and package != "web" and name not in FRAMEWORK_ADAPTERS
            if web_only or (top in SQL and package != "storage"):
                found.add((name, top))
            elif top == "authbridge" and len(parts) > 1 and parts[1] in LAYER:
                target = parts[1]
                if target != package and target not in ALLOWED.get(package, set()):
                    found.add((name, f"authbridge.{target}"))
    return found


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {_package(name) for name, _ in _sources()} - {"__init__"}
    assert packages <= set(LAYER), f"place {sorted(packages - set(LAYER))} in LAYERS"


def test_the_allowed_graph_has_no_cycle() -> None:
    for package, allowed in ALLOWED.items():
        for other in allowed:
            assert package not in ALLOWED[other], f"{package} <-> {other}"


def test_imports_follow_the_layers() -> None:
    found = sorted(_violations(_sources()))
    assert not found, f"imports across the layers (see this module's docstring): {found}"


def test_middleware_imports_nothing_else_from_authbridge() -> None:
    for name, source in _sources():
        if _package(name) != "middleware":
            continue
        for module in _imports(name, source):
            assert not (module == "authbridge" or module.startswith("authbridge.")) or (
                module.startswith("authbridge.middleware")
            ), f"{name} imports {module}"


def test_the_checker_sees_a_violation() -> None:
    # The rules above are only as good as the import finder: it must see these.
    probe = "from sqlalchemy import text\nimport starlette.types\nfrom authbridge import web\n"
    found = _violations([("config/_layers_probe.py", probe)])
    assert found == {
        ("config/_layers_probe.py", "sqlalchemy"),
        ("config/_layers_probe.py", "starlette"),
        ("config/_layers_probe.py", "authbridge.web"),
    }
