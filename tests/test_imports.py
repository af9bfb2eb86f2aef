"""What a default `authbridge serve` loads: the optional features' heavy libraries stay out.

Start-up time and each worker's memory are mostly imports (bench/README.md, bench_startup.py).
A service with the default configuration (SQLite, no SAML or LDAP connector, no SCIM
credential, nobody enrolled in a second factor or holding a passkey yet) must not import
pysaml2 (with xmlschema and elementpath) or SAML's XML helpers (ElementTree, defusedxml),
psycopg, pyotp, segno, scim2-models (with its lark filter grammar), py_webauthn (with
cbor2), ldap3 (with pyasn1), httpx (no IdP to call; with httpcore) and Authlib's HTTP
clients (the CLI's `login` and `api`), or websockets (no WebSocket endpoint): each is
imported where its feature is used. A restart on a schema already current imports no
Alembic either (with Mako and Pygments' lexers, about 7 MB: issue 18): only a start that
has migrations to apply needs it. Checked in a fresh
interpreter that does what `serve` does before its first request (the CLI module, settings,
the services, the app and uvicorn's configuration of it, storage up), so an eager import
anywhere on that path fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OPTIONAL = (
    "saml2",
    "xmlschema",
    "elementpath",
    "defusedxml",
    "xml.etree",
    "psycopg",
    "pyotp",
    "segno",
    "scim2_models",
    "lark",
    "webauthn",
    "cbor2",
    "ldap3",
    "pyasn1",
    "authlib.integrations",
    "httpx",
    "httpcore",
    "websockets",
)

BUILD = """
import json, os, sys
import authbridge.cli.main  # serve's own module (the commands), with their imports
from authbridge.config import load_settings
from authbridge.web.app import create_app
from authbridge.web.observability import configure_logging
from authbridge.web.services import Services
from authbridge.web import serving as _serving

settings = load_settings(None, dict(os.environ))
configure_logging("warning", "json")
services = Services(settings)
_serving._config(create_app(settings, services=services), "127.0.0.1", 0).load()
services.start(wait=True)
try:
    print(json.dumps(sorted(sys.modules)))
finally:
    services.stop()
"""


# What a start on a current schema leaves out: migrations are Alembic's, and its script
# directory imports Mako, whose error module loads Pygments' lexers and formatters (the core
# of Pygments is loaded anyway, by structlog's tracebacks through rich).
MIGRATIONS = ("alembic", "mako", "pygments.lexers.python", "pygments.formatters")


def _serve_loads(tmp_path: Path) -> set[str]:
    """The modules loaded by a default `serve` on the SQLite file in `tmp_path`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH", "DATABASE__"))}
    env.update(
        DATABASE__URL=f"sqlite:///{tmp_path / 'authbridge.db'}",
        AUTHBRIDGE_SECRETS_DIR=str(tmp_path),
    )
    done = subprocess.run(
        [sys.executable, "-c", BUILD],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "authbridge.web.app" in loaded and "fastapi" in loaded  # the app was built
    assert any(name.startswith("uvicorn.protocols.http.") for name in loaded)  # and served
    return loaded


def _of(loaded: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(
        name for name in loaded if any(name == p or name.startswith(p + ".") for p in packages)
    )


def test_a_default_serve_does_not_import_the_optional_features(tmp_path: Path) -> None:
    eager = _of(_serve_loads(tmp_path), OPTIONAL)
    assert not eager, eager


def test_a_restart_on_a_current_schema_does_not_import_alembic(tmp_path: Path) -> None:
    first = _serve_loads(tmp_path)  # a new database: migrated, by Alembic
    assert "alembic.command" in first
    again = _of(_serve_loads(tmp_path), MIGRATIONS + OPTIONAL)
    assert not again, again
