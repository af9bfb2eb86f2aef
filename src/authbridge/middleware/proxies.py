"""Which proxy a JWKS fetch goes through, from the environment operators already set.

Astronomer's Houston documents ``GLOBAL_AGENT_HTTPS_PROXY`` (node ``global-agent``) for its
outbound calls to identity providers; everything else uses the curl conventions
``HTTPS_PROXY``/``HTTP_PROXY`` and ``NO_PROXY`` (either case). Order, most specific first:

* ``https`` URLs: ``GLOBAL_AGENT_HTTPS_PROXY``, ``GLOBAL_AGENT_HTTP_PROXY``, ``HTTPS_PROXY``;
* ``http`` URLs: ``GLOBAL_AGENT_HTTP_PROXY``, ``HTTP_PROXY``;
* a host matched by ``GLOBAL_AGENT_NO_PROXY`` or ``NO_PROXY`` is reached directly.

A variable that is empty or only whitespace counts as unset (the next name is tried), never
as a proxy named "". This is the one implementation: the JWKS fetcher here and the
connectors' IdP client (``authbridge.connectors.http``) both call :func:`proxy_for`, and
one test table drives both (``tests/middleware/proxy_table.py``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

__all__ = ["bypassed", "proxy_for"]


def _env(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        for variant in (name, name.lower()):
            value = env.get(variant)
            if value and value.strip():
                return value.strip()
    return None


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """curl's ``NO_PROXY``: ``*``, exact hosts, domain suffixes (``.corp`` or ``corp``),
    ``host:port``, and CIDR ranges for IP literals."""
    host = host.lower().strip("[]")
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and port is not None and entry_port != str(port):
            continue
        name = name.strip("[]")
        if "/" in name:
            try:
                if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_for(url: str, env: Mapping[str, str]) -> str | None:
    """The proxy URL for fetching ``url``, or ``None`` for a direct connection."""
    parts = urlsplit(url)
    no_proxy = _env(env, "GLOBAL_AGENT_NO_PROXY", "NO_PROXY")
    if no_proxy and bypassed(parts.hostname or "", parts.port, no_proxy):
        return None
    if parts.scheme == "https":
        return _env(env, "GLOBAL_AGENT_HTTPS_PROXY", "GLOBAL_AGENT_HTTP_PROXY", "HTTPS_PROXY")
    return _env(env, "GLOBAL_AGENT_HTTP_PROXY", "HTTP_PROXY")
