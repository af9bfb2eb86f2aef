"""The one table of proxy rules (issue 10, defect 15), driven through both consumers.

``authbridge.middleware.proxies`` is the only implementation; the middleware's JWKS fetcher
(``UrllibFetcher``) and the connectors' IdP client (``connectors.http.OutboundHttp``) both
use it, and ``tests/middleware/test_proxy.py`` and ``tests/connectors/test_outbound.py``
both run every row below through their consumer, so the two can never drift again.

Conventions: Astronomer's Houston documents ``GLOBAL_AGENT_HTTPS_PROXY`` (node
global-agent); curl's ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` in either case. A variable
set to the empty string or to whitespace counts as unset (curl, and what an operator means
by ``HTTPS_PROXY="  "`` in a Helm value), never as a proxy named "".
"""

from __future__ import annotations

__all__ = ["PROXY_TABLE"]

P = "http://proxy:3128"
GA = "http://ga:3129"

# (id, url, environment, proxy expected or None for a direct connection)
PROXY_TABLE: list[tuple[str, str, dict[str, str], str | None]] = [
    # which variable
    ("global-agent-https", "https://idp.example/k", {"GLOBAL_AGENT_HTTPS_PROXY": GA}, GA),
    ("global-agent-http-for-https", "https://idp.example/k", {"GLOBAL_AGENT_HTTP_PROXY": GA}, GA),
    ("https-proxy", "https://idp.example/k", {"HTTPS_PROXY": P}, P),
    ("https-proxy-lower-case", "https://idp.example/k", {"https_proxy": P}, P),
    (
        "global-agent-wins",
        "https://idp.example/k",
        {"GLOBAL_AGENT_HTTPS_PROXY": GA, "HTTPS_PROXY": P},
        GA,
    ),
    ("http-proxy-not-for-https", "https://idp.example/k", {"HTTP_PROXY": P}, None),
    ("http-proxy-for-http", "http://127.0.0.1:8080/k", {"HTTP_PROXY": P}, P),
    ("https-proxy-not-for-http", "http://127.0.0.1:8080/k", {"GLOBAL_AGENT_HTTPS_PROXY": GA}, None),
    ("https-proxy-not-for-http-2", "http://127.0.0.1:9/x", {"HTTPS_PROXY": P}, None),
    ("nothing-set", "https://idp.example/k", {}, None),
    # empty and whitespace values: unset, not a proxy named ""
    ("https-proxy-whitespace", "https://idp.example/k", {"HTTPS_PROXY": "  "}, None),
    ("https-proxy-empty", "https://idp.example/k", {"HTTPS_PROXY": ""}, None),
    ("http-proxy-whitespace", "http://127.0.0.1:8080/k", {"HTTP_PROXY": " \t "}, None),
    (
        "global-agent-whitespace-falls-through",
        "https://idp.example/k",
        {"GLOBAL_AGENT_HTTPS_PROXY": "  ", "HTTPS_PROXY": P},
        P,
    ),
    (
        "upper-whitespace-lower-set",
        "https://idp.example/k",
        {"HTTPS_PROXY": "  ", "https_proxy": P},
        P,
    ),
    ("value-trimmed", "https://idp.example/k", {"HTTPS_PROXY": f"  {P}\n"}, P),
    ("no-proxy-whitespace", "https://idp.example/k", {"HTTPS_PROXY": P, "NO_PROXY": "  "}, P),
    ("no-proxy-empty", "https://idp.example/k", {"HTTPS_PROXY": P, "NO_PROXY": ""}, P),
    # NO_PROXY entries
    ("no-proxy-star", "https://idp.example/k", {"HTTPS_PROXY": P, "NO_PROXY": "*"}, None),
    (
        "no-proxy-exact",
        "https://idp.example/k",
        {"HTTPS_PROXY": P, "NO_PROXY": "idp.example"},
        None,
    ),
    (
        "no-proxy-suffix",
        "https://idp.example.com/x",
        {"HTTPS_PROXY": P, "NO_PROXY": "example.com"},
        None,
    ),
    (
        "no-proxy-leading-dot-subdomain",
        "https://idp.example.com/x",
        {"HTTPS_PROXY": P, "NO_PROXY": ".example.com"},
        None,
    ),
    (
        "no-proxy-leading-dot-domain-itself",
        "https://example.com/x",
        {"HTTPS_PROXY": P, "NO_PROXY": ".example.com"},
        None,
    ),
    (
        "no-proxy-star-dot",
        "https://idp.example.com/x",
        {"HTTPS_PROXY": P, "NO_PROXY": "*.example.com"},
        None,
    ),
    (
        "no-proxy-not-a-suffix-of-the-label",
        "https://example.com/x",
        {"HTTPS_PROXY": P, "NO_PROXY": "notexample.com"},
        P,
    ),
    (
        "no-proxy-partial-label",
        "https://idp.example/k",
        {"HTTPS_PROXY": P, "NO_PROXY": "xample"},
        P,
    ),
    (
        "no-proxy-lower-case",
        "https://idp.example/k",
        {"HTTPS_PROXY": P, "no_proxy": "example"},
        None,
    ),
    (
        "no-proxy-list-with-whitespace",
        "https://idp.example/k",
        {"HTTPS_PROXY": P, "NO_PROXY": " other.test , IDP.example ,"},
        None,
    ),
    (
        "no-proxy-global-agent",
        "https://idp.example/k",
        {"GLOBAL_AGENT_HTTPS_PROXY": GA, "GLOBAL_AGENT_NO_PROXY": "idp.example"},
        None,
    ),
    (
        "no-proxy-port-matches",
        "https://idp.example:8443/k",
        {"HTTPS_PROXY": P, "NO_PROXY": "idp.example:8443"},
        None,
    ),
    (
        "no-proxy-port-differs",
        "https://idp.example:8443/k",
        {"HTTPS_PROXY": P, "NO_PROXY": "idp.example:443"},
        P,
    ),
    ("no-proxy-cidr", "https://10.1.2.3/k", {"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"}, None),
    (
        "no-proxy-cidr-outside",
        "https://11.1.2.3/k",
        {"HTTPS_PROXY": P, "NO_PROXY": "10.0.0.0/8"},
        P,
    ),
    ("no-proxy-ipv6", "https://[::1]:8443/k", {"HTTPS_PROXY": P, "NO_PROXY": "[::1]"}, None),
    (
        "no-proxy-loopback-name",
        "http://localhost:8080/k",
        {"HTTP_PROXY": P, "NO_PROXY": "localhost,127.0.0.0/8"},
        None,
    ),
]
