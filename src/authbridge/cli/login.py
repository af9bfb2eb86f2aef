"""`authbridge login`, `authbridge token`, `authbridge logout`: a person's tokens for scripts.

`login` uses the device authorization grant (RFC 8628) by default, so it works over SSH; with
`--browser` it opens the authorization endpoint and receives the code on a loopback redirect
with PKCE (RFC 8252 §7.3, RFC 7636). Tokens are refreshed (and rotated) when they run out.
"""

from __future__ import annotations

import http.server
import secrets
import threading
import time
import webbrowser
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, urlsplit

import typer
from rich.console import Console

from authbridge.cli.tokenstore import load_tokens, save_tokens
from authbridge.provider.clients import CLI_CLIENT_ID, DEVICE_GRANT

if TYPE_CHECKING:
    import httpx

__all__ = ["fresh_tokens", "login", "logout", "token"]

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
SCOPE = "openid profile email groups offline_access"
IssuerOption = Annotated[
    str,
    typer.Option("--issuer", envvar="AUTHBRIDGE_ISSUER", help="authbridge's public URL."),
]
ClientOption = Annotated[str, typer.Option("--client-id", help="Public client to log in as.")]


def _http() -> httpx.Client:
    # httpx here and below, not at the top: `serve` imports this module and calls nothing.
    import httpx

    return httpx.Client(timeout=15.0)


def _discover(http: httpx.Client, issuer: str) -> dict[str, Any]:
    import httpx

    try:
        response = http.get(issuer.rstrip("/") + "/.well-known/openid-configuration")
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        err.print(f"[red]Cannot reach {issuer}:[/] {exc}")
        raise typer.Exit(1) from None
    return document


def _providers(http: httpx.Client, issuer: str) -> list[str]:
    import httpx

    try:
        response = http.get(issuer.rstrip("/") + "/oauth2/login_providers")
        names = [p["display_name"] for p in response.json() if p.get("available", True)]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return []
    return [str(name) for name in names]


def _store(issuer: str, client_id: str, document: dict[str, Any], body: dict[str, Any]) -> None:
    tokens = load_tokens()
    tokens[issuer] = {
        "client_id": client_id,
        "token_endpoint": document["token_endpoint"],
        "access_token": body["access_token"],
        "refresh_token": body.get("refresh_token"),
        "id_token": body.get("id_token"),
        "expires_at": int(time.time()) + int(body.get("expires_in", 0)),
    }
    path = save_tokens(tokens)
    out.print(f"Signed in. Tokens are stored in {path} (readable by you only).")


def _device_login(http: httpx.Client, document: dict[str, Any], client_id: str) -> dict[str, Any]:
    endpoint = document.get("device_authorization_endpoint")
    if not endpoint:
        err.print("[red]This server does not offer the device grant;[/] use --browser.")
        raise typer.Exit(1)
    started = http.post(endpoint, data={"client_id": client_id, "scope": SCOPE})
    if started.status_code != 200:
        err.print(f"[red]Login refused:[/] {started.json().get('error_description', '')}")
        raise typer.Exit(1)
    grant = started.json()
    out.print(f"Open {grant['verification_uri']} and enter the code [bold]{grant['user_code']}[/]")
    out.print(f"(or open {grant['verification_uri_complete']})")
    interval = int(grant.get("interval", 5))
    deadline = time.monotonic() + int(grant.get("expires_in", 600))
    while time.monotonic() < deadline:
        time.sleep(interval)
        polled = http.post(
            document["token_endpoint"],
            data={
                "grant_type": DEVICE_GRANT,
                "device_code": grant["device_code"],
                "client_id": client_id,
            },
        )
        body: dict[str, Any] = polled.json()
        if polled.status_code == 200:
            return body
        error = body.get("error")
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 §3.5
            continue
        err.print(f"[red]Login failed:[/] {body.get('error_description', error)}")
        raise typer.Exit(1)
    err.print("[red]The code expired before it was approved.[/] Run `authbridge login` again.")
    raise typer.Exit(1)


class _Callback(http.server.BaseHTTPRequestHandler):
    result: dict[str, str] = {}

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        type(self).result = query
        self.send_response(200)
        self.send_header("content-type", "text/plain; charset=utf-8")
        self.end_headers()
        self.wfile.write(b"Signed in. You can close this tab and return to the terminal.\n")

    def log_message(self, format: str, *args: Any) -> None:
        return


def _browser_login(document: dict[str, Any], client_id: str, issuer: str) -> dict[str, Any]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Callback)
    redirect_uri = f"http://127.0.0.1:{server.server_port}/callback"
    verifier = secrets.token_urlsafe(48)
    # Here: `authbridge serve` imports this module, and never signs in as a client.
    from authlib.integrations.httpx_client import OAuth2Client

    client = OAuth2Client(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
    )
    url, state = client.create_authorization_url(
        document["authorization_endpoint"], code_verifier=verifier
    )
    _Callback.result = {}
    waiter = threading.Thread(target=server.handle_request, daemon=True)
    waiter.start()
    out.print(f"Opening your browser; if it does not open, visit:\n{url}")
    webbrowser.open(url)
    waiter.join(timeout=600)
    server.server_close()
    result = _Callback.result
    if result.get("state") != state:
        err.print("[red]Login failed:[/] the answer did not match this login (state).")
        raise typer.Exit(1)
    if result.get("iss") not in (None, issuer.rstrip("/")):
        err.print("[red]Login failed:[/] the answer came from another issuer (RFC 9207).")
        raise typer.Exit(1)
    if "code" not in result:
        err.print(f"[red]Login failed:[/] {result.get('error_description', result.get('error'))}")
        raise typer.Exit(1)
    token: dict[str, Any] = client.fetch_token(
        document["token_endpoint"], code=result["code"], code_verifier=verifier
    )
    return dict(token)


def login(
    issuer: IssuerOption = "http://localhost:8080",
    client_id: ClientOption = CLI_CLIENT_ID,
    browser: Annotated[
        bool, typer.Option("--browser", help="Use a browser and a loopback redirect (PKCE).")
    ] = False,
) -> None:
    """Sign in and keep tokens for `authbridge token`."""
    issuer = issuer.rstrip("/")
    with _http() as http:
        document = _discover(http, issuer)
        names = _providers(http, issuer)
        if names:
            out.print("You can sign in with: " + ", ".join(names))
        body = (
            _browser_login(document, client_id, issuer)
            if browser
            else _device_login(http, document, client_id)
        )
    _store(issuer, client_id, document, body)


def fresh_tokens(issuer: str, min_valid: int = 60) -> dict[str, Any]:
    """The stored tokens of `issuer`, refreshed (and rotated, stored again) first when fewer
    than `min_valid` seconds remain; exits with a hint to log in when that cannot be done."""
    issuer = issuer.rstrip("/")
    saved = load_tokens().get(issuer)
    if not saved:
        err.print(f"Not signed in to {issuer}; run `authbridge login --issuer {issuer}`.")
        raise typer.Exit(1)
    if int(saved.get("expires_at", 0)) - min_valid <= time.time():
        if not saved.get("refresh_token"):
            err.print("The token expired; run `authbridge login` again.")
            raise typer.Exit(1)
        with _http() as http:
            response = http.post(
                saved["token_endpoint"],
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": saved["refresh_token"],
                    "client_id": saved["client_id"],
                },
            )
        if response.status_code != 200:
            err.print("The session ended; run `authbridge login` again.")
            raise typer.Exit(1)
        body = response.json()
        saved.update(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token", saved["refresh_token"]),
            expires_at=int(time.time()) + int(body.get("expires_in", 0)),
        )
        tokens = load_tokens()
        tokens[issuer] = saved
        save_tokens(tokens)
    return dict(saved)


def token(
    issuer: IssuerOption = "http://localhost:8080",
    min_valid: Annotated[int, typer.Option(help="Refresh when fewer seconds remain.")] = 60,
) -> None:
    """Print a valid access token (refreshing it first if needed), for scripts."""
    print(fresh_tokens(issuer, min_valid)["access_token"])


def logout(issuer: IssuerOption = "http://localhost:8080") -> None:
    """Revoke the stored refresh token (RFC 7009) and forget the tokens."""
    issuer = issuer.rstrip("/")
    tokens = load_tokens()
    saved = tokens.pop(issuer, None)
    if saved and saved.get("refresh_token"):
        import httpx

        try:
            with _http() as http:
                document = _discover(http, issuer)
                http.post(
                    document["revocation_endpoint"],
                    data={"token": saved["refresh_token"], "client_id": saved["client_id"]},
                )
        except (httpx.HTTPError, typer.Exit):
            err.print("Could not reach the server to revoke the token; forgetting it anyway.")
    save_tokens(tokens)
    out.print("Signed out.")
