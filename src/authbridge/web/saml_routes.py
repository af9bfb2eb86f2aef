"""SAML 2.0 upstreams' two URLs (the protocol is `connectors/saml.py`'s):

- `GET /v1/saml/metadata/<connector>`: our SP metadata, for the IdP's administrator.
- `POST /v1/saml/acs/<connector>`: the HTTP-POST binding's landing (SAML Bindings §3.5).

A login starts at `/v1/oauth/start?provider=<connector>` as every redirect IdP's does: the
pending login (the AuthnRequest's ID derives from its nonce, its RelayState is its state)
is kept server-side and bound to the browser by the sign-in cookie. The IdP's POST is
cross-site, so the SameSite=Lax cookie does not come with it: the fields are posted once
more from our own page (as a `form_post` OIDC answer is), then the RelayState's pending
login is taken (single use, this browser's only) and the Response must answer exactly its
AuthnRequest. Without a pending login the Response is unsolicited (IdP-initiated), refused
unless the connector allows it.
"""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authbridge.connectors import ConnectorError, LoginRequest
from authbridge.connectors.saml import SamlConnector
from authbridge.web.dependencies import services_of
from authbridge.web.oauth_client_routes import (
    RELAYED,
    _bind_cookie,
    _error,
    _failed,
    _relay_page,
    _take_pending,
    complete_sign_in,
)

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.saml")
DEFAULT_NEXT = "/account"


def _connector(request: Request, connector_id: str) -> SamlConnector | None:
    connector = services_of(request).connectors.get(connector_id)
    return connector if isinstance(connector, SamlConnector) else None


def _unknown(request: Request, connector_id: str) -> Response:
    return _error(
        request,
        404,
        "Unknown identity provider",
        f"No SAML identity provider named {connector_id[:64]!r} is configured here.",
        "Check the URL against auth.saml.<name>.",
    )


@router.get("/v1/saml/metadata/{connector_id}", include_in_schema=False)
def metadata(request: Request, connector_id: str) -> Response:
    """SAML Metadata §2.4.4: our entity id, ACS (HTTP-POST) and NameID format."""
    connector = _connector(request, connector_id)
    if connector is None:
        return _unknown(request, connector_id)
    return Response(
        connector.sp_metadata(),
        media_type="application/samlmetadata+xml",
        headers={"cache-control": "public, max-age=300"},
    )


@router.post("/v1/saml/acs/{connector_id}", include_in_schema=False)
async def acs(request: Request, connector_id: str) -> Response:
    """The Response by HTTP-POST (Bindings §3.5.4): SAMLResponse and RelayState."""
    connector = _connector(request, connector_id)
    if connector is None:
        return _unknown(request, connector_id)
    form = await request.form()
    # Only the binding's fields; a signed Response is larger than an OAuth answer, so it
    # is bounded by server.maxFormFieldBytes (web/limits.py) rather than _fields' 16 KiB.
    fields = {
        name: value
        for name, value in form.multi_items()
        if name in ("SAMLResponse", "RelayState", RELAYED) and isinstance(value, str)
    }
    if not fields.get("SAMLResponse"):
        return _error(
            request,
            400,
            "Sign-in did not work",
            "This page needs a sign-in response from an identity provider.",
            "The POST had no SAMLResponse (or was too large).",
        )
    relayed = fields.pop(RELAYED, None) is not None
    services = services_of(request)
    if request.cookies.get(_bind_cookie(services)) is None and not relayed:
        return _relay_page(request, fields, auto=True, action=str(request.url.path))
    relay_state = fields.get("RelayState", "")
    pending = _take_pending(request, relay_state) if 0 < len(relay_state) <= 512 else None
    login: LoginRequest | None = None
    next_url = DEFAULT_NEXT
    if pending is not None:
        if pending.get("provider") != connector.id or pending.get("redirect_uri") != (
            connector.acs_url
        ):
            return _error(
                request,
                400,
                "Sign-in did not work",
                "This sign-in cannot be completed here. Start again from the sign-in page.",
                "The answer came to another connector's ACS than the login started with.",
            )
        login = LoginRequest(
            state=relay_state,
            nonce=str(pending["nonce"]),
            code_verifier=str(pending["verifier"]),
            redirect_uri=str(pending["redirect_uri"]),
        )
        next_url = str(pending["next"])
    elif not connector.allow_idp_initiated:
        log.warning("saml_unsolicited_refused", provider=connector.id)
        return _error(
            request,
            400,
            "Sign-in link expired",
            "This sign-in was already completed, has expired, or was started in another "
            "browser. Start again from the sign-in page.",
            "No pending login of this browser has this RelayState (unknown, used, older "
            "than 10 minutes, or another browser's); IdP-initiated sign-in is off "
            f"(auth.saml.{connector.id}.allowIdpInitiated).",
        )
    # xmlsec1 runs as a subprocess and the account is written to the database: off the
    # event loop.
    return await run_in_threadpool(
        _land, request, connector, login, fields["SAMLResponse"], next_url
    )


def _land(
    request: Request,
    connector: SamlConnector,
    login: LoginRequest | None,
    saml_response: str,
    next_url: str,
) -> Response:
    replay = services_of(request).ready().counters.replay
    try:
        identity = connector.consume(login, saml_response, replay.first_use)
    except ConnectorError as exc:
        return _failed(request, connector.id, exc)
    return complete_sign_in(request, identity, connector.signup, next_url)
