"""panva/oidc-provider (OpenID Certified) from npm, run with node on loopback.

Installed once into tests/connectors/peers/node_modules (git-ignored) with
`npm ci --prefix tests/connectors/peers`; this module runs that if it has not been run.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

PEERS = Path(__file__).parent / "peers"
SCRIPT = PEERS / "oidc-provider.mjs"


def ensure_installed() -> None:
    """Install the npm peers once per machine, whichever xdist worker asks first.

    Several workers reach this at the same moment on a fresh clone; without the lock
    they ran `npm ci` side by side, each deleting the tree the others were filling."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the oidc-provider peer")
    # npm writes its hidden lockfile when an install has finished: the package directory
    # alone appears while `npm ci` is still unpacking, and a worker that took it for done
    # started node on a half-installed tree ("oidc-provider did not start").
    marker = PEERS / "node_modules" / ".package-lock.json"
    if marker.is_file():
        return
    with open(PEERS / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file():  # another worker installed it while this one waited
            return
        try:
            subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(PEERS)],
                check=True,
                capture_output=True,
                timeout=300,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            output = getattr(error, "stderr", b"") or b""
            pytest.skip(f"npm ci for the test peers failed: {output.decode()[-400:]}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def node_provider(
    clients: list[dict[str, Any]], tmp: Path, faults: dict[str, str] | None = None
) -> Iterator[str]:
    """Run the provider with these client registrations; yields its issuer URL.

    `faults`: environment variables that break it on purpose (see oidc-provider.mjs)."""
    ensure_installed()
    port = free_port()
    config = tmp / f"oidc-provider-{port}.json"
    config.write_text(json.dumps({"clients": clients}))
    process = subprocess.Popen(
        ["node", str(SCRIPT), str(port), str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(faults or {})},
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("listening"):
                break
        else:
            raise RuntimeError("oidc-provider did not start")
        yield f"http://localhost:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _form(html: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form[^>]*action="([^"]+)"', html)
    assert action, html[:500]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    return action.group(1).replace("&amp;", "&"), fields


def sign_in_at_provider(authorize_url: str, login: str, app_origin: str) -> httpx.Response:
    """Drive the provider's dev login and consent pages until it answers to authbridge.

    Returns the provider's final answer: a redirect to authbridge (query or fragment), or
    the form_post page (HTML with a form whose action is authbridge's redirect URI).
    """
    with httpx.Client(trust_env=False) as browser:
        response = browser.get(authorize_url)
        for _ in range(12):
            location = response.headers.get("location")
            if location:
                target = urljoin(str(response.url), location)
                if target.startswith(app_origin):
                    return response
                response = browser.get(target)
                continue
            if response.status_code == 200 and f'action="{app_origin}' in response.text:
                return response  # form_post
            action, fields = _form(response.text)
            if "login" in fields or 'name="login"' in response.text:
                fields = {**fields, "login": login, "password": "any"}
            response = browser.post(urljoin(str(response.url), action), data=fields)
        raise AssertionError("the provider never answered to authbridge")
