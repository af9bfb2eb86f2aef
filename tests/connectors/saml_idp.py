"""A real SAML 2.0 IdP on loopback for the SAML connector's tests: pysaml2's IdP
(`saml2.server.Server`) behind a small HTTP server, with a signing key and certificate the
test makes (cryptography).

- `GET /metadata`: the IdP's metadata (the connector's `metadataUrl`).
- `GET /sso?SAMLRequest=...&RelayState=...`: HTTP-Redirect AuthnRequest in; the
  configured user is signed in at once and the Response goes back through pysaml2's
  HTTP-POST form (which posts itself with a script, as IdPs' pages do).

`response(...)` makes signed Responses for the tampering tests: the same Server, with
knobs for what a broken or hostile IdP would send (audience, destination, lifetime).
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NAMEID_FORMAT_TRANSIENT, NameID
from saml2.server import Server

OTHER_SP = "https://other-sp.example/saml"
PASSWORD = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def xmlsec1() -> str | None:
    return shutil.which("xmlsec1")


def make_key_pair(directory: Path, name: str, *, days: int = 365) -> tuple[Path, Path]:
    """An RSA key and a self-signed certificate, as PEM files."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=2))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


@dataclass
class SamlIdp:
    """pysaml2's IdP at `base_url`; `user` is who signs in, `sp_metadata` who it serves."""

    base_url: str
    key: Path
    cert: Path
    user: dict[str, list[str]] = field(default_factory=dict)
    name_id: str = "u-1001"
    sp_metadata: list[str] = field(default_factory=list)
    lifetime_minutes: int = 15

    @property
    def entity_id(self) -> str:
        return self.base_url + "/metadata"

    def _config(self) -> IdPConfig:
        other_sp = (
            f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'entityID="{OTHER_SP}"><md:SPSSODescriptor '
            'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            '<md:AssertionConsumerService index="0" '
            'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://other-sp.example/acs"/></md:SPSSODescriptor></md:EntityDescriptor>'
        )
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                "key_file": str(self.key),
                "cert_file": str(self.cert),
                "xmlsec_binary": xmlsec1(),
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (self.base_url + "/sso", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "policy": {
                            "default": {
                                "lifetime": {"minutes": self.lifetime_minutes},
                                "attribute_restrictions": None,
                                "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                            }
                        },
                    }
                },
                "metadata": {"inline": [*self.sp_metadata, other_sp]},
            }
        )
        return config

    def server(self) -> Server:
        return Server(config=self._config())

    def metadata(self) -> str:
        return str(entity_descriptor(self._config()))

    def response(
        self,
        in_response_to: str | None,
        destination: str,
        sp_entity_id: str,
        *,
        sign_response: bool = False,
        sign_assertion: bool = True,
        name_id: str | None = None,
        user: dict[str, list[str]] | None = None,
        transient: bool = False,
        sign_alg: str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        digest_alg: str = "http://www.w3.org/2001/04/xmlenc#sha256",
    ) -> str:
        """A Response as the IdP makes it (XML text, signed as asked)."""
        server = self.server()
        kind = NAMEID_FORMAT_TRANSIENT if transient else NAMEID_FORMAT_PERSISTENT
        name = NameID(format=kind, text=name_id or self.name_id)
        response = server.create_authn_response(
            user if user is not None else self.user,
            in_response_to,
            destination,
            sp_entity_id,
            name_id=name,
            authn={"class_ref": PASSWORD, "authn_auth": self.entity_id},
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            sign_alg=sign_alg,
            digest_alg=digest_alg,
        )
        return str(response)

    def sso(self, query: str) -> str:
        """An HTML page posting the Response for this AuthnRequest to the SP's ACS."""
        params = {k: v[0] for k, v in parse_qs(query).items()}
        server = self.server()
        request = server.parse_authn_request(params["SAMLRequest"], BINDING_HTTP_REDIRECT)
        message = request.message
        acs = message.assertion_consumer_service_url
        xml = self.response(message.id, acs, message.issuer.text)
        info = server.apply_binding(
            BINDING_HTTP_POST, xml, acs, relay_state=params.get("RelayState", ""), response=True
        )
        return str(info["data"])


def encoded(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


@contextmanager
def running_idp(directory: Path, **kwargs: Any) -> Iterator[SamlIdp]:
    """The IdP on a free loopback port, stopped at the end."""
    holder: dict[str, SamlIdp] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: str, kind: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            idp = holder["idp"]
            if url.path == "/metadata":
                self._send(200, idp.metadata(), "application/samlmetadata+xml")
            elif url.path == "/sso":
                try:
                    self._send(200, idp.sso(url.query), "text/html; charset=utf-8")
                except Exception as exc:
                    self._send(400, f"bad request: {exc!r}", "text/plain")
            else:
                self._send(404, "not found", "text/plain")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    key, cert = make_key_pair(directory, "idp")
    holder["idp"] = SamlIdp(base, key, cert, **kwargs)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["idp"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def need_xmlsec1() -> None:
    """Without xmlsec1 (pysaml2's signature tool) the SAML tests skip on a developer's
    machine but fail in CI, which installs it (.ci/run)."""
    if xmlsec1() is not None:
        return
    reason = "xmlsec1 is missing (apt-get install xmlsec1): pysaml2 checks signatures with it"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so SAML tests must run)")
    pytest.skip(reason)
