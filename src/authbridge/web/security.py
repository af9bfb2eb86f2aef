"""Cookies, CSRF tokens, security headers and the client's address.

CSRF defence is layered (OWASP CSRF Prevention Cheat Sheet): a synchronizer-style token
in every form, HMAC-bound to the server-side session id (or, before sign-in, to a random
cookie), plus a Fetch-Metadata/Origin check that refuses cross-site form posts outright.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

__all__ = ["CookieNames", "Csrf", "client_address", "same_origin", "security_headers"]


@dataclass(frozen=True)
class CookieNames:
    """`__Host-` prefixed names over https: Secure, no Domain, Path=/ (RFC 6265bis §4.1.3.2)."""

    https: bool

    def _name(self, base: str) -> str:
        return f"__Host-{base}" if self.https else base

    @property
    def session(self) -> str:
        return self._name("authbridge_session")

    @property
    def csrf(self) -> str:
        return self._name("authbridge_csrf")

    @property
    def device(self) -> str:
        return self._name("authbridge_device")

    @property
    def reauth(self) -> str:
        return self._name("authbridge_reauth")

    def set(self, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=self.https, httponly=True, samesite="lax"
        )

    def clear(self, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.https, httponly=True, samesite="lax")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Csrf:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @staticmethod
    def new_anchor() -> str:
        return secrets.token_urlsafe(32)

    def token_for(self, anchor: str) -> str:
        return _b64(hmac.new(self._key, b"csrf\x00" + anchor.encode(), hashlib.sha256).digest())

    def valid(self, anchor: str | None, token: str | None) -> bool:
        if not anchor or not token:
            return False
        # Bytes, not str: compare_digest refuses non-ASCII str with a TypeError (a 500).
        return hmac.compare_digest(self.token_for(anchor).encode(), token.encode())

    def sign(self, purpose: str, value: str) -> str:
        """`value.mac`: a value the browser carries and cannot forge (the device cookie)."""
        mac = hmac.new(self._key, purpose.encode() + b"\x00" + value.encode(), hashlib.sha256)
        return f"{value}.{_b64(mac.digest())}"

    def unsign(self, purpose: str, signed: str | None) -> str | None:
        if not signed or "." not in signed:
            return None
        value, _, _mac = signed.rpartition(".")
        expected = self.sign(purpose, value).encode()
        return value if hmac.compare_digest(expected, signed.encode()) else None


def same_origin(request: Request) -> bool:
    """Refuse cross-site form posts by Fetch Metadata, else by Origin against Host."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.partition("://")[2] == host


def client_address(request: HTTPConnection, trusted_proxies: list[str]) -> str:
    """The client's IP: the peer, or the right-most untrusted X-Forwarded-For hop behind
    a configured proxy (the left-most hops are whatever the client chose to send)."""
    peer = request.client.host if request.client else "unknown"
    if not trusted_proxies or not _in(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted_proxies):
            return hop
    return peer


FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def loopback_caller(request: Request, trusted_proxies: list[str]) -> bool:
    """Whether the request comes from this machine. A reverse proxy on this machine is a
    loopback peer carrying someone else's request: unless it is a trusted proxy (whose
    X-Forwarded-For is then read), a forwarded request is never taken as local."""
    peer = request.client.host if request.client else "unknown"
    if not _in(peer, trusted_proxies) and any(h in request.headers for h in FORWARDING_HEADERS):
        return False
    try:
        return ipaddress.ip_address(client_address(request, trusted_proxies)).is_loopback
    except ValueError:
        return False


def _in(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in networks)


def security_headers(*, https: bool) -> tuple[tuple[bytes, bytes], ...]:
    """Headers every response carries: no framing, no sniffing, no referrer, a strict CSP,
    and over https HSTS (RFC 6797 §6.1). Added by the outermost layer of the app (web/app.py
    hands them to `ObservabilityMiddleware`, so one layer rewrites the header list once)."""
    headers = [
        (
            b"content-security-policy",
            b"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if https:
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return tuple(headers)


def safe_next(target: str | None, default: str = "/account") -> str:
    """A post-sign-in destination on this site only: a path, never another origin.

    `//evil.example` and `/\\evil.example` are protocol-relative in browsers, so refused.
    """
    if not target or len(target) > 2048:
        return default
    if not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 0x20 for c in target):
        return default
    return target
