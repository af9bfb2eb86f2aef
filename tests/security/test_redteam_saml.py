"""Red team on the SAML 2.0 connector (issue 17 part 2): answers that must be refused.

pysaml2 picks the certificates that check a signature by the Issuer the message itself
names, among every entity of the metadata; a metadata document often holds more than the
one IdP (a federation's aggregate, with `ssoIssuer` picking ours). An assertion signed by
another entity of that document, naming itself as Issuer, must not sign anyone in here:
users are keyed by (connector, NameID), so it would be anyone's account.
"""

from __future__ import annotations

import base64
import re
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authbridge.config.saml import SamlProviderSettings
from authbridge.connectors import ProviderUnavailable
from authbridge.connectors.saml import SamlConnector
from tests.connectors.saml_idp import SamlIdp, make_key_pair, need_xmlsec1, running_idp
from tests.connectors.test_saml import ACS, SP, USER, begin, post, refused, saml_app, storage
from tests.security.conftest import AppFactory


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[SamlIdp]:
    need_xmlsec1()
    with running_idp(tmp_path, user=USER) as running:
        yield running


def _entity(metadata: str) -> str:
    return re.sub(r"^<\?xml[^>]*\?>", "", metadata.strip())


def test_an_assertion_signed_by_another_entity_of_the_metadata_is_refused(
    idp: SamlIdp, app_factory: AppFactory, tmp_path: Path
) -> None:
    """A federation's metadata names our IdP and another one (whose key the attacker
    holds); `ssoIssuer` picks ours. The other one's assertion for our SP, naming itself as
    Issuer and our user's NameID, must be refused."""
    key, cert = make_key_pair(tmp_path, "evil")
    evil = SamlIdp("http://evil.example", key, cert, user=USER)
    aggregate = (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        f"{_entity(idp.metadata())}{_entity(evil.metadata())}</md:EntitiesDescriptor>"
    )
    idp.metadata = lambda: aggregate  # type: ignore[method-assign]  # what metadataUrl serves
    app = saml_app(idp, app_factory, AUTH__SAML__CORP__SSO_ISSUER=idp.entity_id)
    evil.sp_metadata = idp.sp_metadata
    # Our IdP's own answer is accepted through the aggregate ...
    request_id, relay = begin(app)
    assert post(app, idp.response(request_id, ACS, SP), relay).status_code == 303
    victim = storage(app).users.by_identity("corp", "u-1001")
    assert victim is not None
    # ... the other entity's, about the same NameID, is not.
    app.cookies.clear()
    request_id, relay = begin(app)
    forged = evil.response(request_id, ACS, SP, name_id="u-1001")
    assert f">{evil.entity_id}</" in forged
    refused(post(app, forged, relay))


def test_an_email_the_idp_asserts_is_not_a_verified_one_by_default(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    """SAML carries no word on whether the IdP checked an address (many let people edit
    their own), so as LDAP's it is not a verified email unless the operator says so: it
    must not make someone an `initialAdmins` admin, accept an invitation or link a
    provisioned account (directory/identities.py)."""
    app = saml_app(idp, app_factory, AUTHORIZER__INITIAL_ADMINS="boss@example.com")
    request_id, relay = begin(app)
    typed = {**USER, "email": ["boss@example.com"]}
    xml = idp.response(request_id, ACS, SP, name_id="u-mallory", user=typed)
    assert post(app, xml, relay).status_code == 303
    mallory = storage(app).users.by_identity("corp", "u-mallory")
    assert mallory is not None and not mallory.email_verified
    assert mallory.username != "boss@example.com"
    assert re.search(r'id="who-roles">viewer<', app.get("/account").text)


def test_the_operator_may_vouch_for_the_idps_emails(idp: SamlIdp, app_factory: AppFactory) -> None:
    app = saml_app(
        idp,
        app_factory,
        AUTHORIZER__INITIAL_ADMINS="ada@example.com",
        AUTH__SAML__CORP__INSECURE_SKIP_EMAIL_VERIFIED="true",
    )
    request_id, relay = begin(app)
    assert post(app, idp.response(request_id, ACS, SP), relay).status_code == 303
    ada = storage(app).users.by_identity("corp", "u-1001")
    assert ada is not None and ada.email_verified and ada.username == "ada@example.com"


class _OnPath:
    """What answers a plain-http metadataUrl when someone on the network path does: their
    own metadata, with their own signing certificate."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        self.asked.append(url)
        return httpx.Response(200, text="<md:EntityDescriptor/>")


@pytest.mark.parametrize(
    "url",
    ["http://idp.corp.example/metadata", "HTTP://idp.corp.example/metadata", "ftp://idp/x"],
)
def test_metadata_is_never_fetched_over_plain_http_from_a_remote_host(url: str) -> None:
    """The metadata is the trust anchor (its certificates check every signature); as an
    OIDC discovery URL, it comes over https, or http from loopback only."""
    http = _OnPath()
    corp = SamlConnector(
        "corp",
        SamlProviderSettings.model_validate({"metadataUrl": url}),
        issuer="https://auth.example.com",
        clock_tolerance=0,
        http=http,  # type: ignore[arg-type]
    )
    with pytest.raises(ProviderUnavailable) as refused_:
        corp.idp_metadata()
    assert "https" in (refused_.value.hint or "")
    assert http.asked == []


def test_a_replayed_assertion_in_an_envelope_without_issuer_is_refused(
    idp: SamlIdp, app_factory: AppFactory
) -> None:
    """Where IdP-initiated sign-in is on, the assertion id is all that stops a replay; the
    Response around a signed assertion is the attacker's to rewrite (its Issuer is
    optional), so the marker must not depend on it."""
    app = saml_app(idp, app_factory, AUTH__SAML__CORP__ALLOW_IDP_INITIATED="true")
    xml = idp.response(None, ACS, SP)
    assert post(app, xml, None).status_code == 303
    response_issuer = re.search(r"<ns1:Issuer [^>]*>[^<]*</ns1:Issuer>", xml)
    assert response_issuer is not None and xml.index(response_issuer.group(0)) < xml.index(
        "<ns1:Assertion "
    )
    stripped = xml.replace(response_issuer.group(0), "", 1)
    app.cookies.clear()
    refused(post(app, stripped, None))


def _signed_again(idp: SamlIdp, xml: str, tmp_path: Path) -> str:
    """The assertion signed again with the IdP's own key, as a sloppy IdP would send it."""
    template = re.sub(r"(<ns2:(Digest|Signature)Value>)[^<]*", r"\1", xml)
    found = re.search(r'<ns1:Assertion [^>]*ID="([^"]+)"', template)
    assert found is not None
    source = tmp_path / "unsigned.xml"
    source.write_text(template, encoding="utf-8")
    signed = subprocess.run(
        [
            "xmlsec1",
            "--sign",
            "--privkey-pem",
            f"{idp.key},{idp.cert}",
            "--id-attr:ID",
            "urn:oasis:names:tc:SAML:2.0:assertion:Assertion",
            "--node-id",
            found.group(1),
            str(source),
        ],
        capture_output=True,
        check=True,
    )
    return signed.stdout.decode()


def test_a_bearer_assertion_without_not_on_or_after_is_refused(
    idp: SamlIdp, app_factory: AppFactory, tmp_path: Path
) -> None:
    """Profiles §4.1.4.2: a bearer SubjectConfirmationData MUST bound the assertion's use
    with NotOnOrAfter. Without one (nor in Conditions) pysaml2 checks no lifetime at all,
    and where IdP-initiated sign-in is on, only the replay marker (kept an hour) stood
    between a captured assertion and a sign-in any time later."""
    app = saml_app(idp, app_factory, AUTH__SAML__CORP__ALLOW_IDP_INITIATED="true")
    xml = idp.response(None, ACS, SP)
    timeless = re.sub(r' NotOnOrAfter="[^"]*"', "", xml)
    assert "NotOnOrAfter" not in timeless
    signed = _signed_again(idp, timeless, tmp_path)
    control = _signed_again(idp, idp.response(None, ACS, SP), tmp_path)
    assert post(app, control, None).status_code == 303  # signed again, still good
    app.cookies.clear()
    refused(post(app, signed, None))


def test_an_assertion_outliving_its_replay_marker_is_refused(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    """The assertion id is remembered for at most a day (REPLAY_MAX): an IdP's assertion
    valid for three days, accepted, would be accepted again on the second day wherever
    IdP-initiated sign-in is on."""
    need_xmlsec1()
    with running_idp(tmp_path, user=USER, lifetime_minutes=3 * 24 * 60) as sloppy:
        app = saml_app(sloppy, app_factory, AUTH__SAML__CORP__ALLOW_IDP_INITIATED="true")
        refused(post(app, sloppy.response(None, ACS, SP), None))


SHA1_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1_DIGEST = "http://www.w3.org/2000/09/xmldsig#sha1"


@pytest.mark.parametrize(
    ("sign_alg", "digest_alg"),
    [
        (SHA1_SIGNATURE, "http://www.w3.org/2001/04/xmlenc#sha256"),
        ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", SHA1_DIGEST),
    ],
)
def test_sha1_signatures_and_digests_are_refused(
    idp: SamlIdp, app_factory: AppFactory, sign_alg: str, digest_alg: str
) -> None:
    """The algorithm allow-list: a response the IdP really signed, with SHA-1 (collisions
    are practical), is refused though its signature verifies."""
    app = saml_app(idp, app_factory)
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP, sign_alg=sign_alg, digest_alg=digest_alg)
    assert sign_alg in xml and digest_alg in xml
    refused(post(app, xml, relay))
    # A new login answered with the IdP's usual algorithms goes through.
    request_id, relay = begin(app)
    assert post(app, idp.response(request_id, ACS, SP), relay).status_code == 303


def test_a_deflated_response_is_refused(idp: SamlIdp, app_factory: AppFactory) -> None:
    """The HTTP-POST binding is never deflated; pysaml2 would inflate one, so what the
    pre-check read would not be what the library reads."""
    app = saml_app(idp, app_factory)
    request_id, relay = begin(app)
    xml = idp.response(request_id, ACS, SP)
    deflater = zlib.compressobj(wbits=-15)
    deflated = deflater.compress(xml.encode()) + deflater.flush()
    answer = app.post(
        "/v1/saml/acs/corp",
        data={
            "SAMLResponse": base64.b64encode(deflated).decode(),
            "authbridge_relayed": "1",
            "RelayState": relay,
        },
        follow_redirects=False,
    )
    refused(answer)
