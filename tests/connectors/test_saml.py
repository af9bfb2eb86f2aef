"""The SAML 2.0 connector against pysaml2's IdP on loopback (tests/connectors/saml_idp.py).

A sign-in goes the whole way: /v1/oauth/start, the HTTP-Redirect AuthnRequest at the IdP,
its HTTP-POST Response at our ACS, the account keyed by (connector, NameID) and its
groups as teams. Then responses the test makes or tampers with are posted straight to the
ACS, each refused: unsigned, signature wrapping, comment injection, wrong audience,
recipient or destination, expired, replayed, another browser's InResponseTo, unsolicited.
"""

from __future__ import annotations

import base64
import html
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from saml2 import time_util

from tests.connectors.saml_idp import OTHER_SP, SamlIdp, encoded, need_xmlsec1, running_idp
from tests.connectors.upstream import APP, query, start
from tests.web.conftest import AppFactory

ACS = APP + "/v1/saml/acs/corp"
SP = APP + "/v1/saml/metadata/corp"
USER = {
    "email": ["ada@example.com"],
    "displayName": ["Ada Lovelace"],
    "groups": ["engineers", "analysts"],
}


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[SamlIdp]:
    need_xmlsec1()
    with running_idp(tmp_path, user=USER) as running:
        yield running


def saml_app(idp: SamlIdp, app_factory: AppFactory, **extra: str) -> TestClient:
    settings: dict[str, str] = {
        "AUTH__SAML__CORP__METADATA_URL": idp.entity_id,
        "AUTH__SAML__CORP__DISPLAY_NAME": "Corp SSO",
        "AUTH__SAML__CORP__GROUPS_ATTR": "groups",
        "AUTH__SAML__CORP__USERNAME_ATTR": "displayName",
    }
    app = app_factory(**(settings | extra))
    idp.sp_metadata = [app.get("/v1/saml/metadata/corp").text]
    return app


def storage(app: TestClient) -> Any:
    return app.app.state.services.ready().storage  # type: ignore[attr-defined]


def form_fields(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page)
    }


def begin(app: TestClient) -> tuple[str, str]:
    """Start a login in this browser: (the AuthnRequest's ID, the RelayState)."""
    params = query(start(app, "corp"))
    request = zlib.decompress(base64.b64decode(params["SAMLRequest"]), -15).decode()
    found = re.search(r' ID="([^"]+)"', request)
    assert found is not None
    return found.group(1), params["RelayState"]


def post(
    app: TestClient, xml: str, relay_state: str | None, *, relayed: bool = True
) -> httpx.Response:
    """As our relay page posts it (relayed), or as the IdP's cross-site page does."""
    data = {"SAMLResponse": encoded(xml)}
    if relayed:
        data["authbridge_relayed"] = "1"
    if relay_state is not None:
        data["RelayState"] = relay_state
    return app.post("/v1/saml/acs/corp", data=data, follow_redirects=False)


def refused(response: httpx.Response) -> None:
    assert response.status_code in (400, 403), response.text
    assert "authbridge_session" not in response.headers.get("set-cookie", "")


def test_sp_metadata_names_our_acs_and_entity_id(idp: SamlIdp, app_factory: AppFactory) -> None:
    app = saml_app(idp, app_factory)
    response = app.get("/v1/saml/metadata/corp")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/samlmetadata+xml")
    assert f'entityID="{SP}"' in response.text
    assert f'Location="{ACS}"' in response.text
    assert "bindings:HTTP-POST" in response.text
    assert app.get("/v1/saml/metadata/nope").status_code == 404


def test_login_page_has_the_saml_button(idp: SamlIdp, app_factory: AppFactory) -> None:
    page = saml_app(idp, app_factory).get("/login").text
    assert "Corp SSO" in page
    assert "provider=corp" in page


def test_sign_in_through_the_idp_keys_by_name_id_and_makes_teams(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    app = saml_app(idp, app_factory)
    location = start(app, "corp", "/account")
    assert location.startswith(idp.base_url + "/sso?SAMLRequest=")
    with httpx.Client(trust_env=False) as browser:
        page = browser.get(location).text
    assert f'action="{ACS}"' in page
    response = app.post("/v1/saml/acs/corp", data=form_fields(page), follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account"
    user = storage(app).users.by_identity("corp", "u-1001")
    assert user is not None
    assert user.email == "ada@example.com"
    teams = app.app.state.services.ready().membership.teams_of(user.id)  # type: ignore[attr-defined]
    assert sorted(team.name for team in teams) == ["analysts", "engineers"]


def test_cross_site_post_is_relayed_from_our_page_to_reach_the_cookie(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    app = saml_app(idp, app_factory)
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    cookies = dict(app.cookies)
    app.cookies.clear()  # the IdP's cross-site POST: no SameSite=Lax cookie
    page = post(app, xml, relay, relayed=False)
    assert page.status_code == 200
    assert 'action="/v1/saml/acs/corp"' in page.text
    fields = form_fields(page.text)
    assert fields["authbridge_relayed"] == "1"
    for name, value in cookies.items():
        app.cookies.set(name, value)
    done = app.post("/v1/saml/acs/corp", data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text


def test_dex_keys_without_metadata_sign_in(
    idp: SamlIdp, app_factory: AppFactory, tmp_path: Path
) -> None:
    ca_data = base64.b64encode(idp.cert.read_bytes()).decode()
    app = saml_app(
        idp,
        app_factory,
        AUTH__SAML__CORP__METADATA_URL="",
        AUTH__SAML__CORP__SSO_URL=idp.base_url + "/sso",
        AUTH__SAML__CORP__SSO_ISSUER=idp.entity_id,
        AUTH__SAML__CORP__CA_DATA=ca_data,
        AUTH__SAML__CORP__ALLOWED_GROUPS='["engineers"]',
        AUTH__SAML__CORP__FILTER_GROUPS="true",
    )
    request_id, relay = begin(app)
    assert post(app, idp.response(request_id, ACS, SP), relay).status_code == 303
    user = storage(app).users.by_identity("corp", "u-1001")
    teams = app.app.state.services.ready().membership.teams_of(user.id)  # type: ignore[attr-defined]
    assert [team.name for team in teams] == ["engineers"]


def test_not_in_allowed_groups_is_refused(idp: SamlIdp, app_factory: AppFactory) -> None:
    app = saml_app(idp, app_factory, AUTH__SAML__CORP__ALLOWED_GROUPS='["admins"]')
    request_id, relay = begin(app)
    refused(post(app, idp.response(request_id, ACS, SP), relay))


def test_a_certificate_other_than_the_idps_is_refused(
    idp: SamlIdp, app_factory: AppFactory, tmp_path: Path
) -> None:
    from tests.connectors.saml_idp import make_key_pair

    _, other = make_key_pair(tmp_path, "other")
    app = saml_app(
        idp,
        app_factory,
        AUTH__SAML__CORP__METADATA_URL="",
        AUTH__SAML__CORP__SSO_URL=idp.base_url + "/sso",
        AUTH__SAML__CORP__SSO_ISSUER=idp.entity_id,
        AUTH__SAML__CORP__CA=str(other),
    )
    request_id, relay = begin(app)
    refused(post(app, idp.response(request_id, ACS, SP), relay))


# -- tampered and hostile responses, posted straight to the ACS -------------------------


@pytest.fixture
def app(idp: SamlIdp, app_factory: AppFactory) -> TestClient:
    return saml_app(idp, app_factory)


def test_unsigned_response_is_refused(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    refused(post(app, idp.response(request_id, ACS, SP, sign_assertion=False), relay))


def test_altered_signed_assertion_is_refused(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP).replace(">u-1001<", ">u-admin<")
    refused(post(app, xml, relay))


def _assertion(xml: str) -> str:
    found = re.search(r"<ns1:Assertion .*</ns1:Assertion>", xml, re.S)
    assert found is not None
    return found.group(0)


def _unsigned_copy(assertion: str, name_id: str) -> str:
    evil = re.sub(r"<ns2:Signature .*?</ns2:Signature>", "", assertion, flags=re.S)
    evil = evil.replace(">u-1001<", f">{name_id}<").replace(' ID="', ' ID="evil-', 1)
    return evil


@pytest.mark.parametrize("where", ["before", "after", "advice-of-evil", "extensions"])
def test_signature_wrapping_is_refused(idp: SamlIdp, app: TestClient, where: str) -> None:
    """XSW: a second, unsigned assertion beside the signed one, or the signed one hidden
    inside it (Advice) or in the Response's Extensions, so a careless SP verifies one
    element and reads another."""
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    signed = _assertion(xml)
    evil = _unsigned_copy(signed, "u-admin")
    if where == "before":
        wrapped = xml.replace(signed, evil + signed)
    elif where == "after":
        wrapped = xml.replace(signed, signed + evil)
    elif where == "advice-of-evil":
        wrapped = xml.replace(
            signed,
            evil.replace("</ns1:Assertion>", f"<ns1:Advice>{signed}</ns1:Advice></ns1:Assertion>"),
        )
    else:
        wrapped = xml.replace(signed, evil).replace(
            "<ns0:Status>", f"<ns0:Extensions>{signed}</ns0:Extensions><ns0:Status>"
        )
    refused(post(app, wrapped, relay))
    assert storage(app).users.by_identity("corp", "u-admin") is None


def test_signed_response_wrapping_an_unsigned_evil_assertion_is_refused(
    idp: SamlIdp, app: TestClient
) -> None:
    """The Response signed, then its assertion swapped for an evil one: the digest of the
    signed Response no longer matches."""
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP, sign_response=True, sign_assertion=False)
    signed = _assertion(xml)
    refused(post(app, xml.replace(signed, _unsigned_copy(signed, "u-admin")), relay))


@pytest.mark.parametrize(
    ("signed", "injected"),
    [
        (">admin.evil.example<", "><!---->admin<!---->.evil.example<"),
        (">admin.evil.example<", "><!-- -->admin.evil.example<"),
        (">ada@example.com.evil.example<", ">ada@example.com<!---->.evil.example<"),
        (">admin.evil.example<", "><?x y?>admin.evil.example<"),
    ],
    ids=["name-id", "name-id-leading", "email-attribute", "processing-instruction"],
)
def test_comment_injection_is_refused(
    idp: SamlIdp, app: TestClient, signed: str, injected: str
) -> None:
    """CVE-2017-11427's family: a comment inside signed text leaves the signature valid
    (exclusive C14N drops comments) while a naive reader takes the first text node."""
    request_id, relay = begin(app)
    user = {**USER, "email": ["ada@example.com.evil.example"]}
    xml = idp.response(request_id, ACS, SP, name_id="admin.evil.example", user=user)
    tampered = xml.replace(signed, injected)
    assert tampered != xml
    refused(post(app, tampered, relay))
    assert storage(app).users.by_identity("corp", "admin") is None


def test_a_saml_login_cannot_complete_at_an_oauth_callback(idp: SamlIdp, app: TestClient) -> None:
    _, relay = begin(app)
    refused(app.get(f"/v1/oauth/callback/?code=x&state={relay}", follow_redirects=False))


def test_wrong_audience_is_refused(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, OTHER_SP)
    assert f"<ns1:Audience>{OTHER_SP}</ns1:Audience>" in xml
    refused(post(app, xml, relay))


def test_wrong_destination_is_refused(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    elsewhere = xml.replace(f'Destination="{ACS}"', 'Destination="https://evil.example/acs"')
    assert elsewhere != xml
    refused(post(app, elsewhere, relay))


def test_wrong_recipient_is_refused(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    xml = idp.response(request_id, "https://evil.example/acs", SP)
    # The (unsigned) Response's Destination put right: only the signed Recipient is wrong.
    xml = xml.replace('Destination="https://evil.example/acs"', f'Destination="{ACS}"')
    assert 'Recipient="https://evil.example/acs"' in xml
    refused(post(app, xml, relay))


def sp_clock(monkeypatch: pytest.MonkeyPatch, minutes: int) -> None:
    """The SP's clock `minutes` off the IdP's (pysaml2 reads the time through time_util)."""
    real = time_util.utc_now
    monkeypatch.setattr(time_util, "utc_now", lambda: real() + minutes * 60)


@pytest.mark.parametrize("minutes", [16, -2], ids=["expired", "not-yet-valid"])
def test_assertion_outside_its_validity_is_refused(
    idp: SamlIdp, app: TestClient, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    """Lifetime 15 minutes from NotBefore = issue time; no clock tolerance by default."""
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    sp_clock(monkeypatch, minutes)
    refused(post(app, xml, relay))


@pytest.mark.parametrize("minutes", [16, -2], ids=["just-expired", "just-early"])
def test_clock_tolerance_admits_small_skew(
    idp: SamlIdp, app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch, minutes: int
) -> None:
    app = saml_app(idp, app_factory, AUTH__OPENID_CONNECT__CLOCK_TOLERANCE="180")
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    sp_clock(monkeypatch, minutes)
    assert post(app, xml, relay).status_code == 303


def test_replayed_response_is_refused(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    assert post(app, xml, relay).status_code == 303
    refused(post(app, xml, relay))  # the pending login is gone
    _, relay2 = begin(app)
    refused(post(app, xml, relay2))  # a new login of this browser: not its request


def test_replayed_assertion_id_is_refused_even_where_unsolicited_is_allowed(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    app = saml_app(idp, app_factory, AUTH__SAML__CORP__ALLOW_IDP_INITIATED="true")
    xml = idp.response(None, ACS, SP)
    assert post(app, xml, None).status_code == 303
    refused(post(app, xml, None))


def test_in_response_to_of_another_browsers_login_is_refused(idp: SamlIdp, app: TestClient) -> None:
    other = TestClient(app.app, base_url=APP)
    theirs, their_relay = begin(other)
    _, my_relay = begin(app)
    xml = idp.response(theirs, ACS, SP)
    refused(post(app, xml, my_relay))  # their response, my login
    refused(post(app, xml, their_relay))  # their login, my browser (no binding cookie)
    assert post(other, xml, their_relay).status_code == 303  # theirs still works


def test_signed_assertion_of_another_login_in_a_rewritten_envelope_is_refused(
    idp: SamlIdp, app: TestClient
) -> None:
    """Only the assertion is signed: the Response's InResponseTo is the attacker's to
    change, the SubjectConfirmationData's is not."""
    theirs, _ = begin(TestClient(app.app, base_url=APP))
    mine, my_relay = begin(app)
    xml = idp.response(theirs, ACS, SP)
    envelope = xml.replace(f'InResponseTo="{theirs}" Version', f'InResponseTo="{mine}" Version')
    assert envelope != xml
    refused(post(app, envelope, my_relay))


def test_idp_initiated_is_off_by_default(idp: SamlIdp, app: TestClient) -> None:
    refused(post(app, idp.response(None, ACS, SP), None))
    refused(post(app, idp.response(None, ACS, SP), "https://app.example/after"))


def test_solicited_answer_without_in_response_to_is_refused(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    app = saml_app(idp, app_factory, AUTH__SAML__CORP__ALLOW_IDP_INITIATED="true")
    _, relay = begin(app)
    refused(post(app, idp.response(None, ACS, SP), relay))


def test_transient_name_id_needs_user_id_attr(idp: SamlIdp, app: TestClient) -> None:
    request_id, relay = begin(app)
    refused(post(app, idp.response(request_id, ACS, SP, name_id="t-1", transient=True), relay))


def test_metadata_is_refreshed_and_a_failed_refresh_keeps_the_last_good(
    idp: SamlIdp, app: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from authbridge.connectors import ProviderUnavailable, saml

    corp = app.app.state.services.connectors.get("corp")  # type: ignore[attr-defined]
    assert isinstance(corp, saml.SamlConnector)
    first = corp.client()
    assert corp.client() is first  # kept within METADATA_TTL
    monkeypatch.setattr(saml, "METADATA_TTL", 0.0)
    assert corp.client() is not first  # fetched again

    def down() -> str:
        raise ProviderUnavailable("down", "metadataUrl unreachable")

    kept = corp.client()
    monkeypatch.setattr(corp, "idp_metadata", down)
    assert corp.client() is kept
    request_id, relay = begin(app)
    assert post(app, idp.response(request_id, ACS, SP), relay).status_code == 303


def test_unsigned_accepted_only_with_both_insecure_flags(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    app = saml_app(
        idp,
        app_factory,
        AUTH__SAML__CORP__INSECURE_SKIP_SIGNATURE_VALIDATION="true",
        AUTH__SAML__CORP__INSECURE_ACCEPT_UNSIGNED_ASSERTIONS="true",
    )
    request_id, relay = begin(app)
    unsigned = idp.response(request_id, ACS, SP, sign_assertion=False)
    assert post(app, unsigned, relay).status_code == 303
