"""What a default `authbridge serve` loads: the optional features' heavy libraries stay out.

Start-up time and each worker's memory are mostly imports (bench/README.md, bench_startup.py).
A service with the default configuration (SQLite, no SAML or LDAP connector, no SCIM
credential, nobody enrolled in a second factor or holding a passkey yet) must not import
pysaml2 (with xmlschema and elementpath) or SAML's XML helpers (ElementTree, defusedxml),
psycopg, pyotp, segno, scim2-models (with its lark filter grammar), py_webauthn (with
cbor2), ldap3 (with pyasn1), httpx (no IdP to call; with httpcore) and Authlib's HTTP
clients (the CLI's `login` and `api`), or websockets (no WebSocket endpoint): each is
imported where its feature is used. Checked in a fresh
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


def test_a_default_serve_does_not_import_the_optional_features(tmp_path: Path) -> None:
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
    eager = sorted(
        name for name in loaded if any(name == o or name.startswith(o + ".") for o in OPTIONAL)
    )
    assert not eager, eager
