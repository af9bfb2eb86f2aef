"""A SAML 2.0 upstream IdP: SP-initiated Web SSO (SAML Profiles §4.1), after Dex's `saml`
connector, with pysaml2 doing the XML, the signatures and the SAML checks.

- The AuthnRequest goes by HTTP-Redirect (SAML Bindings §3.4); its ID is derived from the
  login's nonce and its RelayState is the login's state, so the web layer's pending login
  (bound to the browser by a cookie, single use) is what the answer must belong to.
- The Response comes back by HTTP-POST (Bindings §3.5) to our ACS. pysaml2 checks the
  signature on the Response or on the Assertion (with the IdP's certificates only: from
  its metadata, or Dex's `ca`/`caData`), the Issuer, the audience (Core §2.5.1.4), the
  Recipient and Destination (Profiles §4.1.4.3, Bindings §3.5.5.2), NotBefore and
  NotOnOrAfter with the clock tolerance, and InResponseTo against the one request this
  browser made (`outstanding`).
- Before pysaml2 sees it, a response is refused if it holds an XML comment or processing
  instruction (the comment-in-NameID truncation family) or anything but exactly one
  Assertion anywhere in the document (signature wrapping hides a signed assertion beside
  or inside the one an SP reads; encrypted assertions are not configured). After, the
  one assertion pysaml2 verified is the one read, and its ID is used once (`first_use`,
  the storage's replay markers, which own their expiry).
- The user is keyed by a configured attribute (`userIdAttr`) or by the NameID, never a
  transient one (it changes at every login).

Slightly over 400 lines: every check on an answer stays in one reading order here.

pysaml2 (with xmlschema and elementpath) is imported where it is used, and so is
`samlxml` (ElementTree, defusedxml), so a service with no SAML connector never loads them
(tests/test_imports.py).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from authbridge.clock import utcnow
from authbridge.config.saml import SAML_ACS_PATH, SAML_METADATA_PATH, SamlProviderSettings
from authbridge.connectors.base import Landing, LoginRequest, SignupPolicy
from authbridge.connectors.discovery import check_url
from authbridge.connectors.errors import LoginFailed, ProviderUnavailable
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.identity import Identity

if TYPE_CHECKING:
    from saml2.client import Saml2Client
    from saml2.config import SPConfig

__all__ = ["FirstUse", "SamlConnector", "request_id"]

log = structlog.get_logger("authbridge.saml")
FirstUse = Callable[[str, timedelta], bool]
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
MAX_RESPONSE = 256 * 1024
REPLAY_FALLBACK = timedelta(hours=1)
METADATA_TTL = 3600.0
REPLAY_MAX = timedelta(days=1)


class _NoIdentityCache:
    """pysaml2's SP keeps every signed-in person's attributes in memory (for SAML queries
    authbridge never makes); this cache forgets them, so memory does not grow per user."""

    def set(self, *args: object) -> None:
        return None

    def __bool__(self) -> bool:
        return True


def request_id(login: LoginRequest) -> str:
    """The AuthnRequest ID of a login (an xs:ID must not start with a digit)."""
    return "_" + hashlib.sha256(b"saml-request:" + login.nonce.encode()).hexdigest()[:40]


def _refused(hint: str) -> LoginFailed:
    return LoginFailed(
        "The identity provider's answer could not be accepted.", hint, code="saml_refused"
    )


class SamlConnector:
    """One `auth.saml.<id>` IdP (a `CallbackConnector`; its answer lands at the ACS)."""

    type_name = "saml"
    problem_may_wait = False

    def __init__(
        self,
        connector_id: str,
        settings: SamlProviderSettings,
        *,
        issuer: str,
        clock_tolerance: int,
        http: OutboundHttp,
    ) -> None:
        self.id = connector_id
        self.settings = settings
        self.display_name = settings.display_name or connector_id
        self.signup = SignupPolicy(
            allow_signup=settings.allow_signup,
            allowed_domains=tuple(settings.allowed_domains),
            invite_only=settings.signup == "invite-only",
        )
        self.acs_url = settings.redirect_uri or f"{issuer}{SAML_ACS_PATH}{connector_id}"
        # Dex's redirectURI is our ACS (the derivation of connectors/redirects.py).
        self.entity_id = settings.entity_issuer or f"{issuer}{SAML_METADATA_PATH}{connector_id}"
        self.clock_tolerance = clock_tolerance
        self.http = http
        self._client: Saml2Client | None = None
        self._built = 0.0
        self._lock = threading.Lock()

    @property
    def landing(self) -> Landing:
        return "saml"

    @property
    def allow_idp_initiated(self) -> bool:
        return self.settings.allow_idp_initiated

    def problem(self) -> str | None:
        hint = self.diagnosis()
        if hint is not None:
            log.warning("saml_misconfigured", provider=self.id, detail=hint)
            return "This identity provider is not configured correctly."
        return None

    def diagnosis(self) -> str | None:
        """What keeps this connector from working, for the operator (doctor, the log)."""
        if not self.acs_url.endswith(SAML_ACS_PATH + self.id):
            return f"redirectURI {self.acs_url} is not this connector's ACS"
        from saml2.sigver import get_xmlsec_binary

        try:
            get_xmlsec_binary()
        except Exception:
            return "xmlsec1 is not installed (pysaml2 checks signatures with it)"
        return None

    # -- configuration -------------------------------------------------------------

    def idp_metadata(self) -> str:
        """The IdP's metadata: fetched, read, or made from Dex's keys."""
        from authbridge.connectors.samlxml import certificates_of, idp_metadata_xml

        s = self.settings
        if s.metadata_url:
            # The metadata holds the certificates every signature is checked with: over
            # plain http anyone on the path could put their own (http only for loopback).
            check_url(s.metadata_url, "metadataUrl")
            response = self.http.request("GET", s.metadata_url, what="SAML IdP metadata")
            if response.status_code != 200:
                raise ProviderUnavailable(
                    "The identity provider cannot be reached right now.",
                    f"metadataUrl {s.metadata_url} answered HTTP {response.status_code}.",
                    code="idp_unreachable",
                )
            return response.text
        if s.metadata_file:
            try:
                return Path(s.metadata_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ProviderUnavailable(
                    "This identity provider is not configured correctly.",
                    f"cannot read metadataFile {s.metadata_file}: {exc.strerror}",
                    code="idp_misconfigured",
                ) from None
        try:
            certs = certificates_of(s.ca, s.ca_data)
        except (OSError, ValueError) as exc:
            raise ProviderUnavailable(
                "This identity provider is not configured correctly.",
                f"auth.saml.{self.id}.ca/caData: {exc}"[:300],
                code="idp_misconfigured",
            ) from None
        return idp_metadata_xml(s.sso_issuer or "", s.sso_url or "", certs)

    def _sp_config(self, metadata: str | None) -> SPConfig:
        from saml2 import BINDING_HTTP_POST
        from saml2.config import SPConfig

        sign = not self.settings.insecure_skip_signature_validation
        config: dict[str, Any] = {
            "entityid": self.entity_id,
            "accepted_time_diff": self.clock_tolerance,
            "allow_unknown_attributes": True,
            "service": {
                "sp": {
                    "endpoints": {
                        "assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]
                    },
                    "allow_unsolicited": self.settings.allow_idp_initiated,
                    "authn_requests_signed": False,
                    "want_response_signed": False,
                    "want_assertions_signed": False,
                    "want_assertions_or_response_signed": sign,
                    "name_id_format": self.settings.name_id_format,
                    "name_id_policy_format": self.settings.name_id_format,
                }
            },
        }
        if metadata is not None:
            config["metadata"] = {"inline": [metadata]}
        sp = SPConfig()
        sp.load(config)
        return sp

    def client(self) -> Saml2Client:
        """pysaml2's SP, built at first use and rebuilt every METADATA_TTL from fresh
        metadata (an IdP rolls its signing certificate through its metadata); while a
        refresh fails, the last good one is kept."""
        from saml2.client import Saml2Client

        with self._lock:
            now = time.monotonic()
            if self._client is not None and now - self._built < METADATA_TTL:
                return self._client
            try:
                metadata = self.idp_metadata()
                try:
                    client = Saml2Client(
                        config=self._sp_config(metadata), identity_cache=_NoIdentityCache()
                    )
                except Exception as exc:
                    raise ProviderUnavailable(
                        "This identity provider is not configured correctly.",
                        f"SAML IdP metadata not usable: {type(exc).__name__}: {exc}"[:300],
                        code="idp_misconfigured",
                    ) from None
            except ProviderUnavailable as exc:
                if self._client is None:
                    raise
                log.warning("saml_metadata_refresh_failed", provider=self.id, detail=exc.hint)
                self._built = now
                return self._client
            self._client, self._built = client, now
            return client

    def sp_metadata(self) -> str:
        """Our SP metadata (SAML Metadata §2.4.4), for the IdP's administrator."""
        from saml2.metadata import entity_descriptor

        return str(entity_descriptor(self._sp_config(None)))

    def idp_entity_id(self, client: Saml2Client) -> str:
        if self.settings.sso_issuer:
            return self.settings.sso_issuer
        idps = list(client.metadata.identity_providers())
        if len(idps) != 1:
            raise ProviderUnavailable(
                "This identity provider is not configured correctly.",
                f"the metadata names {len(idps)} IdPs; set ssoIssuer to pick one",
                code="idp_misconfigured",
            )
        return str(idps[0])

    # -- the login ---------------------------------------------------------------

    def authorization_url(self, login: LoginRequest) -> str:
        """The IdP's SSO URL with a deflated AuthnRequest (Bindings §3.4.4.1)."""
        from saml2 import BINDING_HTTP_REDIRECT

        client = self.client()
        try:
            _, info = client.prepare_for_authenticate(
                entityid=self.idp_entity_id(client),
                relay_state=login.state,
                binding=BINDING_HTTP_REDIRECT,
                message_id=request_id(login),
                nameid_format=self.settings.name_id_format,
            )
        except Exception as exc:
            raise ProviderUnavailable(
                "This identity provider is not configured correctly.",
                f"no HTTP-Redirect SSO endpoint usable: {type(exc).__name__}: {exc}"[:300],
                code="idp_misconfigured",
            ) from None
        headers = dict(info["headers"])
        return str(headers["Location"])

    def handle_callback(self, login: LoginRequest, params: Mapping[str, str]) -> Identity:
        raise LoginFailed(
            "This sign-in cannot be completed here.",
            f"SAML answers land at {self.acs_url}, not at an OAuth callback.",
        )

    def consume(self, login: LoginRequest | None, encoded: str, first_use: FirstUse) -> Identity:
        """The Identity of a POSTed SAMLResponse for `login` (None: IdP-initiated)."""
        from saml2 import BINDING_HTTP_POST

        from authbridge.connectors.samlxml import precheck

        if login is None and not self.settings.allow_idp_initiated:
            raise _refused("unsolicited (IdP-initiated) response; allowIdpInitiated is off")
        try:
            precheck(encoded, MAX_RESPONSE)
        except ValueError as exc:
            raise _refused(str(exc)) from None
        client = self.client()
        outstanding = {request_id(login): "/"} if login is not None else {}
        try:
            # Without conv_info pysaml2 accepts any SubjectConfirmationData Recipient.
            response = client.parse_authn_request_response(
                encoded,
                BINDING_HTTP_POST,
                outstanding=outstanding,
                conv_info={"entity_id": self.acs_url},
            )
        except Exception as exc:
            raise _refused(f"{type(exc).__name__}: {exc}"[:300]) from None
        if response is None or response.assertion is None:
            raise _refused("the response did not verify")
        # pysaml2 checks a signature with the keys of whichever metadata entity the message
        # names as Issuer: in an aggregate (a federation's metadata) that is any of them.
        # Only the configured IdP speaks for this connector's users (Profiles §4.1.4.2).
        idp = self.idp_entity_id(client)
        issuers = {response.issuer() or idp, _text(response.assertion.issuer)}
        if issuers != {idp}:
            raise _refused(f"Issuer {sorted(map(str, issuers))} is not {idp!r}")
        # Bound to this browser's request; an unsolicited one only when asked for.
        expected = request_id(login) if login is not None else None
        if (response.in_response_to or None) != expected:
            raise _refused(f"InResponseTo {response.in_response_to!r} is not this login's")
        assertion = response.assertion
        # Profiles §4.1.4.3: the bearer confirmation names our ACS (pysaml2 checks it too,
        # once given conv_info; kept here so a library change cannot drop it silently).
        # §4.1.4.2: the signed confirmation's InResponseTo is the request's too (the
        # Response's own attribute is outside the signature when only the assertion is
        # signed).
        confirmations = [
            confirmation.subject_confirmation_data
            for confirmation in getattr(assertion.subject, "subject_confirmation", None) or []
        ]
        recipients = {data.recipient if data is not None else None for data in confirmations}
        if recipients != {self.acs_url}:
            raise _refused(f"SubjectConfirmationData Recipient {sorted(map(str, recipients))}")
        answers = {data.in_response_to or None for data in confirmations if data is not None}
        if answers != {expected}:
            raise _refused(f"SubjectConfirmationData InResponseTo {sorted(map(str, answers))}")
        # §4.1.4.2: a bearer confirmation MUST say until when (pysaml2 checks no lifetime
        # without one, and the replay marker would then be all that bounds its use).
        if any(data is None or not data.not_on_or_after for data in confirmations):
            raise _refused("SubjectConfirmationData without NotOnOrAfter")
        # Only signed values: the Response's own Issuer is optional and, around a signed
        # assertion, anyone's to drop (a new marker, a replay accepted).
        marker = hashlib.sha256(f"{self.id}\n{idp}\n{assertion.id}".encode())
        ttl = _replay_ttl(assertion)
        if ttl is None:
            raise _refused(f"assertion valid for more than {REPLAY_MAX} (its id is kept no longer)")
        if not first_use("saml-assertion:" + marker.hexdigest(), ttl):
            raise _refused(f"assertion {assertion.id!r} was already used (replay)")
        return self._identity(assertion)

    def _identity(self, assertion: Any) -> Identity:
        from authbridge.connectors.samlxml import attribute_values

        s = self.settings
        attributes = attribute_values(assertion)
        name_id = assertion.subject.name_id if assertion.subject is not None else None
        if s.user_id_attr:
            values = attributes.get(s.user_id_attr, [])
            subject = values[0] if values else ""
            if not subject:
                raise _refused(f"the assertion has no {s.user_id_attr!r} (userIdAttr)")
        else:
            if name_id is None or not (name_id.text or "").strip():
                raise _refused("the assertion has no NameID")
            if name_id.format == TRANSIENT:
                raise _refused("a transient NameID changes at every login; set userIdAttr")
            subject = name_id.text.strip()
        groups = self._groups(attributes)
        email = _first(attributes, s.email_attr)
        name = _first(attributes, s.username_attr)
        return Identity(
            connector_id=self.id,
            subject=subject,
            username=email or name or subject,
            email=email,
            # Not as Dex: SAML says nothing of whether the IdP checked the address (many let
            # people edit their own), so as LDAP's it is verified only on the operator's word.
            email_verified=email is not None and s.insecure_skip_email_verified,
            name=name,
            groups=tuple(groups),
            claims={"name_id": name_id.text if name_id is not None else None},
        )

    def _groups(self, attributes: Mapping[str, list[str]]) -> list[str]:
        s = self.settings
        if not s.groups_attr:
            return []
        groups: list[str] = []
        for value in attributes.get(s.groups_attr, []):
            parts = value.split(s.groups_delim) if s.groups_delim else [value]
            groups += [part.strip() for part in parts if part.strip()]
        if s.allowed_groups:
            allowed = [group for group in groups if group in s.allowed_groups]
            if not allowed:
                raise LoginFailed(
                    "Your account is not in a group allowed to sign in here.",
                    f"none of the user's groups is in allowedGroups of auth.saml.{self.id}",
                    code="saml_group_not_allowed",
                )
            if s.filter_groups:
                return allowed
        return groups


def _text(element: Any) -> str | None:
    if element is None:
        return None
    return (element.text or "").strip() or None


def _first(attributes: Mapping[str, list[str]], name: str) -> str | None:
    values = attributes.get(name) or []
    return values[0] if values else None


def _replay_ttl(assertion: Any) -> timedelta | None:
    """Keep the marker while the assertion could still be accepted (its latest
    NotOnOrAfter), plus a margin for the clock tolerance; None when that is longer than
    REPLAY_MAX (a marker dropped earlier would let the assertion be used again)."""
    ends: list[str] = []
    if assertion.conditions is not None and assertion.conditions.not_on_or_after:
        ends.append(assertion.conditions.not_on_or_after)
    for confirmation in getattr(assertion.subject, "subject_confirmation", None) or []:
        data = confirmation.subject_confirmation_data
        if data is not None and data.not_on_or_after:
            ends.append(data.not_on_or_after)
    if not ends:
        return REPLAY_FALLBACK
    latest = max(_instant(end) for end in ends)
    remaining = latest - utcnow() + timedelta(minutes=10)
    if remaining > REPLAY_MAX:
        return None
    return max(timedelta(minutes=1), remaining)


def _instant(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return utcnow() + REPLAY_FALLBACK
    return value if value.tzinfo else value.replace(tzinfo=UTC)
