"""`authbridge api`: a raw, authenticated client of the admin API (like `gh api`), so an
operator administers a remote authbridge with a token and no database access.

    authbridge api roles
    authbridge api -X POST users -f username=ada -f email=ada@example.com
    authbridge api -X PATCH users/ID -H 'If-Match: "3"' --input change.json
    authbridge api --paginate 'audit/events?type=user.disabled'

The token is `--token`, else `$AUTHBRIDGE_TOKEN`, else the one `authbridge login` stored for
the server (refreshed first when it is about to expire); the server defaults to the issuer
that login stored, when there is exactly one. The JSON body is printed; a problem document
(RFC 9457) is printed as `title: detail` (and each `errors[]` field) on stderr, exit 1.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console

from authbridge.cli.login import fresh_tokens
from authbridge.cli.tokenstore import load_tokens

if TYPE_CHECKING:
    import httpx

__all__ = ["api"]

err = Console(stderr=True, highlight=False, soft_wrap=True)
API_ROOT = "api/v1/"
MAX_PAGES = 10_000
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _fail(message: str) -> typer.Exit:
    err.print(message, markup=False)
    return typer.Exit(1)


def _server(explicit: str | None) -> str:
    if explicit:
        return explicit.rstrip("/")
    issuers = sorted(load_tokens())
    if len(issuers) == 1:
        return issuers[0].rstrip("/")
    if not issuers:
        raise _fail("No server: pass --server URL (or sign in first with `authbridge login`).")
    raise _fail("Signed in to several servers; pass --server, one of: " + ", ".join(issuers))


def _check_transport(server: str, allow_http: bool) -> None:
    """A bearer token must not cross a network in the clear (RFC 6750 §5.3: TLS)."""
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _fail(f"--server must be an http(s) URL, not {server!r}.")
    if parts.scheme == "https" or allow_http:
        return
    host = parts.hostname
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise _fail(
            f"Refusing to send a token to {server} over plain http; use https "
            "(or --allow-http on a network you trust)."
        )


def _url(server: str, path: str) -> str:
    """The API path (`roles`, `/roles`, `/api/v1/roles`) under the server; never another
    host, so the token goes nowhere but `--server`."""
    if "://" in path or path.startswith("//"):
        raise _fail("PATH is a path under the server (e.g. `roles`), not a URL; use --server.")
    path = path.lstrip("/")
    if not path.startswith("api/"):
        path = API_ROOT + path
    return f"{server}/{path}"


def _value(raw: str) -> Any:
    """`-F` values: JSON literals (true, 3, null, [..], {..}) typed, anything else a string;
    `@file` reads the file (`@-`: stdin)."""
    if raw.startswith("@"):
        raw = sys.stdin.read() if raw == "@-" else Path(raw[1:]).read_text(encoding="utf-8")
        raw = raw.rstrip("\n")
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _fields(raw: list[str], typed: list[str]) -> dict[str, Any]:
    """`key=value` pairs as a JSON object; `key[]=v` repeated builds a list."""
    fields: dict[str, Any] = {}
    pairs = [(item, False) for item in raw] + [(item, True) for item in typed]
    for item, is_typed in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"A field is key=value, not {item!r}.")
        parsed = _value(value) if is_typed else value
        if key.endswith("[]"):
            fields.setdefault(key[:-2], []).append(parsed)
        else:
            fields[key] = parsed
    return fields


def _headers(values: list[str], token: str) -> dict[str, str]:
    headers = {"accept": "application/json, application/problem+json"}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise _fail(f"A header is 'Name: value', not {value!r}.")
        headers[name.strip().lower()] = content.strip()
    headers["authorization"] = f"Bearer {token}"
    return headers


def _print_problem(response: httpx.Response) -> None:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        err.print(f"HTTP {response.status_code}: {response.text.strip()}", markup=False)
        return
    title = body.get("title") or f"HTTP {response.status_code}"
    detail = body.get("detail")
    err.print(f"{title}: {detail}" if detail else str(title), markup=False)
    for error in body.get("errors") or []:
        if isinstance(error, dict):
            err.print(f"  {error.get('field')}: {error.get('message')}", markup=False)


def _print_body(response: httpx.Response, include: bool) -> None:
    if include:
        print(f"HTTP/1.1 {response.status_code} {response.reason_phrase}")
        for name, value in response.headers.items():
            print(f"{name}: {value}")
        print()
    if not response.content:
        return
    try:
        print(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        print(response.text)


def _paginate(
    http: httpx.Client, url: str, headers: dict[str, str], query: dict[str, Any] | None
) -> httpx.Response:
    """Follows `nextCursor` and answers one response whose `items` are every page's."""
    import httpx

    items: list[Any] = []
    params: dict[str, Any] = dict(query or {})
    for _ in range(MAX_PAGES):
        response = http.get(url, headers=headers, params=params)
        if not response.is_success:
            return response
        page = response.json()
        items.extend(page.get("items") or [])
        cursor = page.get("nextCursor")
        if not cursor:
            break
        params = {**(query or {}), "cursor": cursor}
    return httpx.Response(200, json={"items": items, "nextCursor": None})


def api(
    path: Annotated[str, typer.Argument(help="API path, e.g. `roles` or `/api/v1/users/ID`.")],
    method: Annotated[
        str | None,
        typer.Option("--method", "-X", help="HTTP method (GET, or POST when fields are given)."),
    ] = None,
    raw_field: Annotated[
        list[str] | None,
        typer.Option("--raw-field", "-f", help="A string field key=value (repeatable)."),
    ] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", "-F", help="A typed field key=value: true, 3, null, JSON, @file."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", help="A request header 'Name: value' (e.g. If-Match)."),
    ] = None,
    input_file: Annotated[
        str | None,
        typer.Option("--input", help="The request body from a file (`-`: stdin), JSON."),
    ] = None,
    include: Annotated[
        bool, typer.Option("--include", "-i", help="Print the status line and headers too.")
    ] = False,
    paginate: Annotated[
        bool, typer.Option("--paginate", help="GET every page (`nextCursor`), items merged.")
    ] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", envvar="AUTHBRIDGE_SERVER", help="authbridge's URL (default: login's)."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="AUTHBRIDGE_TOKEN",
            help="A platform access token (default: the one `authbridge login` stored).",
        ),
    ] = None,
    allow_http: Annotated[
        bool, typer.Option("--allow-http", help="Send the token over plain http to any host.")
    ] = False,
) -> None:
    """Call the admin API with a token and print the JSON answer (exit 1 on an error)."""
    base = _server(server)
    _check_transport(base, allow_http)
    url = _url(base, path)
    access = token or fresh_tokens(base)["access_token"]
    headers = _headers(header or [], access)
    fields = _fields(raw_field or [], field or [])
    if input_file is not None and fields:
        raise _fail("Give fields or --input, not both.")
    verb = (method or ("POST" if fields or input_file is not None else "GET")).upper()
    if verb not in METHODS:
        raise _fail(f"Unknown method {verb}.")
    content: bytes | None = None
    params: dict[str, Any] | None = None
    if input_file is not None:
        content = sys.stdin.buffer.read() if input_file == "-" else Path(input_file).read_bytes()
        headers.setdefault("content-type", "application/json")
    elif fields and verb in ("GET", "HEAD", "DELETE"):
        params = fields  # as `gh api` does: fields of a GET are its query
    elif fields:
        content = json.dumps(fields).encode()
        headers.setdefault("content-type", "application/json")
    # Here, not at the top: `serve` imports this module and never calls an API.
    import httpx

    try:
        with httpx.Client(timeout=30.0) as http:
            if paginate and verb == "GET" and content is None:
                response = _paginate(http, url, headers, params)
            else:
                response = http.request(verb, url, headers=headers, content=content, params=params)
    except httpx.HTTPError as exc:
        raise _fail(f"Cannot reach {base}: {exc}") from None
    if response.is_success:
        _print_body(response, include)
        return
    if include:
        _print_body(response, include)
    _print_problem(response)
    raise typer.Exit(1)
