"""The XML side of the SAML connector: the IdP's certificates and metadata for a
connector given by Dex's keys, the pre-check of a Response, an assertion's attributes.

Dex takes `ssoURL`, `ssoIssuer` and `ca`/`caData` (the IdP's signing certificates, PEM;
`caData` base64 of PEM); pysaml2 takes metadata (SAML Metadata §2.4.3). This module makes
the one from the other, and reads certificates out of metadata for `authbridge doctor`.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from defusedxml.ElementTree import DefusedXMLParser, fromstring

__all__ = [
    "attribute_values",
    "certificates_of",
    "idp_metadata_xml",
    "metadata_certificates",
    "precheck",
]

DSIG = "{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
ASSERTION = "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion"
ENCRYPTED = "{urn:oasis:names:tc:SAML:2.0:assertion}EncryptedAssertion"
SIGNATURE_METHOD = "{http://www.w3.org/2000/09/xmldsig#}SignatureMethod"
DIGEST_METHOD = "{http://www.w3.org/2000/09/xmldsig#}DigestMethod"
# The algorithm allow-list (SAML Conformance and XML Signature 1.1 §6: SHA-1 is deprecated
# for signatures and digests; HMAC is a shared secret no IdP has with us).
SIGNATURE_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
DIGEST_ALGORITHMS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)


def certificates_of(ca: str | None, ca_data: str | None) -> list[x509.Certificate]:
    """The certificates of `ca` (a PEM file) and `caData` (PEM, or base64 of PEM as Dex
    has it); ValueError when neither holds one."""
    text = ""
    if ca:
        text += Path(ca).read_text(encoding="ascii")
    if ca_data:
        data = ca_data.strip()
        if "-----BEGIN" not in data:
            try:
                data = base64.b64decode(data, validate=False).decode("ascii")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise ValueError("caData is neither PEM nor base64 of PEM") from None
        text += "\n" + data
    if not text.strip():
        return []
    return x509.load_pem_x509_certificates(text.encode("ascii"))


def _der64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")


def idp_metadata_xml(entity_id: str, sso_url: str, certs: list[x509.Certificate]) -> str:
    """An EntityDescriptor with one IDPSSODescriptor: the HTTP-Redirect SSO endpoint and
    each certificate as a signing key."""
    keys = "".join(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{_der64(cert)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for cert in certs
    )
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
        f"entityID={quoteattr(entity_id)}>"
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        f"Location={quoteattr(sso_url)}/>"
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )


def metadata_certificates(metadata: str) -> list[x509.Certificate]:
    """Every X509Certificate in a metadata document (doctor checks their expiry)."""
    root = fromstring(metadata.encode("utf-8"))
    found = []
    for element in root.iter(DSIG):
        body = "".join((element.text or "").split())
        found.append(x509.load_der_x509_certificate(base64.b64decode(body)))
    return found


def precheck(encoded: str, limit: int) -> None:
    """ValueError for what no honest IdP sends, before any SAML processing: XML comments or
    processing instructions (the comment-in-NameID truncation family), anything but exactly
    one Assertion anywhere (signature wrapping hides a signed one beside or inside the one
    read), an EncryptedAssertion (no decryption key is configured)."""
    if len(encoded) > limit:
        raise ValueError("SAMLResponse too large")
    try:
        document = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("SAMLResponse is not base64") from None
    if _inflates(document):
        # pysaml2 inflates a POSTed response when it can; the HTTP-POST binding (Bindings
        # §3.5.4) is never deflated, and what is checked here must be what it reads.
        raise ValueError("SAMLResponse is deflated (not the HTTP-POST binding)")
    builder = ElementTree.TreeBuilder(insert_comments=True, insert_pis=True)
    parser = DefusedXMLParser(target=builder, forbid_dtd=True)
    try:
        parser.feed(document)
        root = parser.close()
    except Exception as exc:
        raise ValueError(f"SAMLResponse is not acceptable XML: {type(exc).__name__}") from None
    assertions = 0
    for element in root.iter():
        if element.tag in (ElementTree.Comment, ElementTree.ProcessingInstruction):
            raise ValueError("XML comments or processing instructions in the response")
        if element.tag == ENCRYPTED:
            raise ValueError("encrypted assertions are not configured")
        if element.tag == ASSERTION:
            assertions += 1
        if element.tag == SIGNATURE_METHOD and element.get("Algorithm") not in SIGNATURE_ALGORITHMS:
            raise ValueError(f"signature algorithm {element.get('Algorithm')!r} is not accepted")
        if element.tag == DIGEST_METHOD and element.get("Algorithm") not in DIGEST_ALGORITHMS:
            raise ValueError(f"digest algorithm {element.get('Algorithm')!r} is not accepted")
    if assertions != 1:
        raise ValueError(f"{assertions} assertions in the response (exactly one is accepted)")


def _inflates(document: bytes) -> bool:
    """Whether raw DEFLATE (RFC 1951) decodes `document` to something (bounded)."""
    inflater = zlib.decompressobj(-15)
    try:
        return bool(inflater.decompress(document, 64))
    except zlib.error:
        return False


def attribute_values(assertion: Any) -> dict[str, list[str]]:
    """Attribute values by Name and by FriendlyName (Core §2.7.3.1)."""
    found: dict[str, list[str]] = {}
    for statement in assertion.attribute_statement or []:
        for attribute in statement.attribute or []:
            values = [str(v.text).strip() for v in attribute.attribute_value or [] if v.text]
            for key in {attribute.name, attribute.friendly_name} - {None, ""}:
                found.setdefault(str(key), []).extend(values)
    return found
