"""`authbridge doctor` for one OpenID Connect provider, through the connector itself.

Every request goes through the connector's own HTTP client (`connectors/http.py`: the one
proxy rule set), its discovery cache's parser (OIDC Discovery §4.3 issuer equality), its
domain rule, and the middleware's JWK parser, so what doctor says is what a sign-in meets.
Checks, in order: discovery fetched, clock skew (RFC 9110 §6.6.1 `Date`), issuer, endpoints,
JWKS (RFC 7517 §5) against the allowed algorithms, the flow's response type (OIDC Core §3),
the groups claim where groups are expected, and the redirect URI (`redirect.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from authbridge.config.model import Settings
from authbridge.connectors.discovery import ProviderMetadata, parse_metadata
from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.http import json_object
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.redirects import SET_ISSUER, redirect_uri, redirect_uri_elsewhere
from authbridge.doctor.redirect import probe_redirect_uri
from authbridge.doctor.report import Check
from authbridge.middleware import SUPPORTED_ALGORITHMS
from authbridge.middleware.keys import JwkError, load_jwks

__all__ = ["check_oidc", "clock_check"]

# Token times are whole seconds (RFC 7519 §2 NumericDate): a skew under this is harmless.
CLAIM_RESOLUTION = 1.0


def check_oidc(
    connector: OidcConnector, settings: Settings, clock: Callable[[], float] = time.time
) -> list[Check]:
    name = connector.id
    if connector.config_error is not None:
        error = connector.config_error
        return [Check("config", name, "fail", error.hint or error.message)]
    url = connector.discovery.url
    proxy = connector.http.proxy(url)
    via = f" through proxy {proxy}" if proxy else ""
    started = clock()
    try:
        response = connector.http.request("GET", url, what=f"{name} discovery")
        doc = json_object(response, f"{name} discovery")
    except ProviderUnavailable as exc:
        return [
            Check("discovery", name, "fail", f"{url}{via}: {exc.hint}", _reach_fix(proxy)),
            _redirect(connector, settings, redirect_uri(settings, name, connector.landing)),
        ]
    finished = clock()
    checks = [Check("discovery", name, "ok", f"fetched {url}{via}")]
    date = response.headers.get("date")
    checks.append(clock_check(name, date, started, finished, connector.clock_tolerance))
    metadata, issuer_check = _issuer(connector, doc)
    checks.append(issuer_check)
    if metadata is None:
        return checks
    checks.append(_endpoints(connector, metadata))
    checks.append(_jwks(connector, metadata))
    checks.append(_flow(connector, metadata))
    groups = _groups(connector, metadata, settings)
    if groups is not None:
        checks.append(groups)
    uri = redirect_uri(settings, name, connector.landing)
    ready = all(c.status != "fail" for c in checks if c.check in ("issuer", "endpoints"))
    checks.append(_redirect(connector, settings, uri, ready=ready))
    return checks


def _reach_fix(proxy: str | None) -> str:
    if proxy:
        return f"check that proxy {proxy} is up and lets this host through (NO_PROXY)"
    return "check the URL, DNS and firewall; behind a proxy set GLOBAL_AGENT_HTTPS_PROXY"


def clock_check(
    name: str, date: str | None, started: float, finished: float, tolerance: int
) -> Check:
    """The skew the `Date` header proves, however slow the answer.

    The IdP stamped `Date` (whole seconds, RFC 9110 §5.6.7) at some instant of our
    [started, finished], when its clock read within [date, date + 1): the skew lies in
    [date - finished, date + 1 - started]. Only a skew outside that whole interval is
    reported, so a slow network or a loaded host never reads as a wrong clock.
    """
    if not date:
        return Check("clock", name, "warn", "the IdP sent no Date header; skew not measured")
    try:
        remote = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return Check("clock", name, "warn", f"unreadable Date header {date[:40]!r}")
    low, high = remote - finished, remote + 1 - started
    skew = low if low > 0 else high if high < 0 else 0.0
    way = "ahead of" if skew > 0 else "behind"
    said = f"the IdP's clock is at least {abs(skew):.0f} s {way} ours"
    if abs(skew) <= CLAIM_RESOLUTION:
        precision = max(high - low, 1.0)
        return Check("clock", name, "ok", f"clocks agree (to within {precision:.0f} s)")
    if abs(skew) <= tolerance + CLAIM_RESOLUTION:
        return Check(
            "clock", name, "warn", f"{said}, within clockTolerance {tolerance} s", "sync with NTP"
        )
    return Check(
        "clock",
        name,
        "fail",
        f"{said}: more than auth.openidConnect.clockTolerance ({tolerance} s), so its tokens "
        "will look expired or not yet valid",
        "sync this host's clock with NTP (or raise auth.openidConnect.clockTolerance)",
    )


def _issuer(connector: OidcConnector, doc: dict[str, Any]) -> tuple[ProviderMetadata | None, Check]:
    """The issuer check; on a mismatch the document is still read under the issuer it
    names, so the other checks can speak too."""
    name = connector.id
    try:
        metadata = connector.discovery.parse(doc)
    except ProviderUnavailable as exc:
        said, expected = doc.get("issuer"), connector.discovery.expected_issuer
        if said == expected:  # the issuer is right; an endpoint is not (§3: https URLs)
            return None, Check("endpoints", name, "fail", exc.hint or exc.message)
        try:
            as_said: ProviderMetadata | None = parse_metadata(doc, str(said), exact=True)
        except ProviderUnavailable:
            as_said = None
        fix = "set issuer (or discoveryUrl) to exactly what the provider says"
        if isinstance(said, str) and said.rstrip("/") == expected.rstrip("/"):
            fix = (
                f"remove the trailing slash: the provider's issuer is {said!r}"
                if expected.endswith("/")
                else f"add a trailing slash: the provider's issuer is {said!r}"
            )
        return as_said, Check("issuer", name, "fail", exc.hint or exc.message, fix)
    return metadata, Check("issuer", name, "ok", f"{metadata.issuer} (exact match)")


def _endpoints(connector: OidcConnector, metadata: ProviderMetadata) -> Check:
    try:
        connector.check_domains(metadata)
    except ProviderUnavailable as exc:
        return Check("endpoints", connector.id, "fail", exc.hint or exc.message)
    base = connector.settings.base_domain or urlsplit(metadata.issuer).hostname
    return Check("endpoints", connector.id, "ok", f"on https (or loopback) inside {base}")


def _allowed_algorithms(metadata: ProviderMetadata) -> set[str]:
    # As the connector's ID-token checks: the IdP's list, RS256 when it names none (OIDC
    # Discovery §3), within the one allow-list of asymmetric algorithms.
    return (set(metadata.id_token_signing_alg_values_supported) or {"RS256"}) & set(
        SUPPORTED_ALGORITHMS
    )


def _jwks(connector: OidcConnector, metadata: ProviderMetadata) -> Check:
    name, uri = connector.id, metadata.jwks_uri
    if uri is None:
        return Check("jwks", name, "fail", "the discovery document has no jwks_uri")
    try:
        keys = load_jwks(json.loads(connector.jwks.fetch(uri).body), source=uri)
    except ProviderUnavailable as exc:
        return Check(
            "jwks", name, "fail", f"{uri}: {exc.hint}", _reach_fix(connector.http.proxy(uri))
        )
    except (JwkError, ValueError):
        return Check("jwks", name, "fail", f"{uri} is not a JWK Set (RFC 7517 §5)")
    allowed = _allowed_algorithms(metadata)
    usable = sorted({alg for key in keys for alg in key.verifiers} & allowed)
    if not usable:
        return Check(
            "jwks",
            name,
            "fail",
            f"{uri}: none of its {len(keys)} usable keys verifies {sorted(allowed)}",
            "the IdP must sign ID tokens with RS256/ES256/PS256/EdDSA and publish that key",
        )
    counted = f"{len(keys)} key" + ("" if len(keys) == 1 else "s")
    return Check("jwks", name, "ok", f"{counted}; verifies {', '.join(usable)}")


def _flow(connector: OidcConnector, metadata: ProviderMetadata) -> Check:
    name, wanted = connector.id, connector.response_type
    supported = metadata.response_types_supported
    if not supported:
        return Check("flow", name, "warn", "the IdP lists no response_types_supported")
    if any(set(t.split()) == set(wanted.split()) for t in supported):
        return Check("flow", name, "ok", f"response_type {wanted!r} ({connector.flow} flow)")
    return Check(
        "flow",
        name,
        "fail",
        f"the {connector.flow} flow needs response_type {wanted!r}; the IdP offers "
        f"{', '.join(supported)}",
        "set auth.openidConnect.flow (or authUrlParams.response_type) to one it offers",
    )


def _groups(
    connector: OidcConnector, metadata: ProviderMetadata, settings: Settings
) -> Check | None:
    """Groups are expected when they are read (insecureEnableGroups, Okta, Entra) or when
    SCIM's teamRoles turn teams into roles."""
    s = connector.settings
    if not (s.insecure_enable_groups or connector.groups_by_default or settings.scim.team_roles):
        return None
    claim = s.claims_mapping.get("groups", "groups")
    requested = {*s.scopes, *connector.default_scopes}
    scopes = metadata.raw.get("scopes_supported") or []
    claims = metadata.raw.get("claims_supported") or []
    if "groups" in scopes and "groups" not in requested:
        return Check(
            "groups",
            connector.id,
            "warn",
            "the IdP offers a `groups` scope that is not requested",
            f"add groups to auth.openidConnect.{connector.id}.scopes",
        )
    if claim in claims or "groups" in requested:
        return Check("groups", connector.id, "ok", f"claim {claim!r} requested or offered")
    return Check(
        "groups",
        connector.id,
        "warn",
        f"the IdP advertises no {claim!r} claim or groups scope: sign-ins will bring no teams",
        "add a groups claim to the app at the IdP (Okta: Groups claim filter), or "
        "claimsMapping.groups",
    )


def _redirect(
    connector: OidcConnector, settings: Settings, uri: str, *, ready: bool = False
) -> Check:
    elsewhere = redirect_uri_elsewhere(settings, uri)
    if elsewhere is not None:
        said = f"{elsewhere}: the browser would come back without its login cookie"
        return Check("redirect_uri", connector.id, "fail", said, SET_ISSUER)
    if not ready:
        return Check("redirect_uri", connector.id, "warn", f"not probed; register {uri} at the IdP")
    return probe_redirect_uri(connector, uri)
