"""`authbridge serve --host/--port` move the default issuer and every printed URL (issue 15).

Without `server.issuer` configured, the issuer is where the service listens: before, `serve
--port 18090` printed a setup link for localhost:8080 and signed tokens for it, so the
first admin's link and every client's discovery pointed at a port nothing listened on.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.server import AuthbridgeServer


def _serve_with_options(tmp_path: Path, issuer: str | None = None) -> AuthbridgeServer:
    server = AuthbridgeServer(tmp_path)
    for name in ("SERVER__HOST", "SERVER__PORT", "SERVER__ISSUER"):
        server.env.pop(name)
    if issuer is not None:
        server.env["SERVER__ISSUER"] = issuer
    server.args = ["serve", "--host", "127.0.0.1", "--port", str(server.port)]
    return server


def test_serve_port_and_host_move_the_default_issuer_and_the_setup_link(tmp_path: Path) -> None:
    with _serve_with_options(tmp_path) as server:
        link = server.setup_link()
        assert link.startswith(f"http://127.0.0.1:{server.port}/setup?token=")
        assert f"authbridge on http://127.0.0.1:{server.port} " in server.output
        discovery = httpx.get(server.url + "/.well-known/openid-configuration", timeout=10)
        assert discovery.json()["issuer"] == f"http://127.0.0.1:{server.port}"
        assert discovery.json()["token_endpoint"].startswith(f"http://127.0.0.1:{server.port}/")
        # The printed link works on the port it names.
        assert httpx.get(link, timeout=10).status_code == 200


def test_a_configured_issuer_is_kept_whatever_the_listener(tmp_path: Path) -> None:
    with _serve_with_options(tmp_path, "https://auth.example.com") as server:
        assert server.setup_link().startswith("https://auth.example.com/setup?token=")
        discovery = httpx.get(server.url + "/.well-known/openid-configuration", timeout=10)
        assert discovery.json()["issuer"] == "https://auth.example.com"
