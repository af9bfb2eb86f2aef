"""`authbridge doctor` for a SAML IdP: xmlsec1 present, the IdP's metadata fetched (or
made from Dex's keys) and usable, its signing certificates' expiry, and what to register
at the IdP (our entity id and ACS URL, SAML Metadata §2.4.4)."""

from __future__ import annotations

from datetime import timedelta

from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.config.saml import SAML_METADATA_PATH
from authbridge.connectors.errors import ConnectorError
from authbridge.connectors.saml import SamlConnector
from authbridge.doctor.report import Check, Status

__all__ = ["check_saml"]

# A certificate expiring within this is a warning: IdPs roll theirs with some notice.
EXPIRY_WARNING = timedelta(days=30)


def check_saml(connector: SamlConnector, settings: Settings) -> list[Check]:
    name = connector.id
    problem = connector.diagnosis()
    if problem is not None:
        fix = "install it: apt-get install xmlsec1" if "xmlsec1" in problem else None
        return [Check("config", name, "fail", problem, fix)]
    # Here: `serve` imports the doctor's modules, and XML only when a SAML IdP is checked.
    from authbridge.connectors.samlxml import metadata_certificates

    where = connector.settings.metadata_url or connector.settings.metadata_file or "Dex keys"
    try:
        metadata = connector.idp_metadata()
        connector.client()
        certs = metadata_certificates(metadata)
    except ConnectorError as exc:
        return [Check("metadata", name, "fail", f"{where}: {exc.hint or exc.message}")]
    except ValueError as exc:
        return [Check("metadata", name, "fail", f"{where}: {exc}")]
    checks = [Check("metadata", name, "ok", f"{where}: usable, {len(certs)} certificate(s)")]
    if not certs and not connector.settings.insecure_skip_signature_validation:
        checks.append(
            Check(
                "certificate",
                name,
                "fail",
                "no signing certificate: every response would be refused",
                "set ca/caData, or a metadata document with the IdP's KeyDescriptor",
            )
        )
    now = utcnow()
    for cert in certs:
        ends = cert.not_valid_after_utc
        status: Status
        subject = cert.subject.rfc4514_string() or "(no subject)"
        if ends <= now:
            status, said = "fail", f"{subject} expired on {ends:%Y-%m-%d}"
        elif ends - now <= EXPIRY_WARNING:
            status, said = "warn", f"{subject} expires on {ends:%Y-%m-%d}"
        else:
            status, said = "ok", f"{subject} valid until {ends:%Y-%m-%d}"
        fix = "get the IdP's new signing certificate (refresh its metadata)"
        checks.append(Check("certificate", name, status, said, None if status == "ok" else fix))
    checks.append(
        Check(
            "sp",
            name,
            "ok",
            f"register at the IdP: entity id {connector.entity_id}, ACS (HTTP-POST) "
            f"{connector.acs_url}; metadata at "
            f"{settings.server.issuer}{SAML_METADATA_PATH}{name}",
        )
    )
    return checks
