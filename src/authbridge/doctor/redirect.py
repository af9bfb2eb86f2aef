"""Is our redirect URI registered at the IdP? Asked the way Dex users debug it.

RFC 6749 §3.1.2.3/§4.1.2.1: an authorization server MUST NOT redirect to a URI it does not
have registered for the client; it shows the error to the person instead. So a real
authorization request (the one a sign-in sends: same client, redirect URI, response type,
scopes, PKCE) tells us: a redirect onwards (to the IdP's sign-in page) means the URI was
accepted; an error page that names the redirect URI (`invalid_redirect_uri` from
oidc-provider, `redirect_uri_mismatch` from Google, `Unregistered redirect_uri` from Dex,
Okta's "must be a Login redirect URI", Entra's AADSTS50011) means it must be registered; an
error sent back to the redirect URI means the URI is fine but the request is refused.
Nothing is signed in: the request stops at the IdP's first page.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urljoin, urlsplit

from authbridge.connectors.base import LoginRequest
from authbridge.connectors.errors import ConnectorError
from authbridge.connectors.oidc import IDP_ERRORS, OidcConnector
from authbridge.doctor.report import Check

__all__ = ["probe_redirect_uri"]

# What IdPs' error pages say when the redirect URI is not registered for the client.
_MISMATCH = re.compile(
    r"redirect_uri_mismatch|invalid_redirect_uri|AADSTS50011|AADSTS500113|"
    r"redirect[_ ]ur[il][^<]{0,80}(not match|mismatch|not registered|unregistered|must be)|"
    r"unregistered redirect[_ ]uri",
    re.IGNORECASE,
)
_UNKNOWN_CLIENT = re.compile(r"invalid_client|AADSTS700016|client[_ ]id[^<]{0,40}invalid", re.I)
# Answers a request without a session may get (OIDC Core §3.1.2.6, `prompt=none` in
# authUrlParams): the IdP sent them to our redirect URI, so it accepts it.
_NEEDS_A_PERSON = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}
_FORM_INPUT = re.compile(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


def _answer_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    return dict(parse_qsl(parts.query)) | dict(parse_qsl(parts.fragment))


def _refused(connector: OidcConnector, uri: str, params: dict[str, str]) -> Check:
    code = params.get("error", "")[:64]
    if code in _NEEDS_A_PERSON:
        return Check("redirect_uri", connector.id, "ok", f"the IdP accepts {uri} ({code})")
    hint = IDP_ERRORS.get(code, ("", f"The IdP answered {code!r}."))[1]
    said = params.get("error_description", "")[:200]
    return Check(
        "redirect_uri",
        connector.id,
        "fail",
        f"{uri} is registered, but the IdP refused the sign-in request: {code}"
        + (f" ({said})" if said else ""),
        hint,
    )


def probe_redirect_uri(connector: OidcConnector, uri: str) -> Check:
    """Send the authorization request a sign-in would send, and read the IdP's answer."""
    try:
        url = connector.authorization_url(LoginRequest.fresh(uri))
        response = connector.http.request("GET", url, what=f"{connector.id} authorization")
    except ConnectorError as exc:
        return Check("redirect_uri", connector.id, "fail", exc.hint or exc.message)
    register = f"register {uri} as a redirect (sign-in) URI of client {connector.client_id}"
    location = response.headers.get("location")
    if response.is_redirect and location:
        target = urljoin(url, location)
        if target.split("?")[0].split("#")[0] == uri:
            params = _answer_params(target)
            if "error" in params:
                return _refused(connector, uri, params)
        return Check("redirect_uri", connector.id, "ok", f"the IdP accepts {uri}")
    body = html.unescape(response.text[:20000])
    if f'action="{uri}' in body:  # form_post: the answer is a form posted to us
        params = dict(_FORM_INPUT.findall(body))
        if "error" in params:
            return _refused(connector, uri, params)
        return Check("redirect_uri", connector.id, "ok", f"the IdP accepts {uri}")
    if _MISMATCH.search(body):
        return Check(
            "redirect_uri",
            connector.id,
            "fail",
            f"the IdP refuses the redirect URI {uri} (not registered for this client)",
            register,
        )
    if response.status_code >= 400 and _UNKNOWN_CLIENT.search(body):
        return Check(
            "redirect_uri",
            connector.id,
            "fail",
            f"the IdP does not know client {connector.client_id!r}",
            f"check auth.openidConnect.{connector.id}.clientId against the IdP's app",
        )
    if response.status_code >= 400:
        return Check(
            "redirect_uri",
            connector.id,
            "warn",
            f"could not confirm {uri}: the authorization endpoint answered "
            f"HTTP {response.status_code}",
            register,
        )
    # A 200 without an error is the IdP's own sign-in page.
    return Check("redirect_uri", connector.id, "ok", f"the IdP accepts {uri}")
