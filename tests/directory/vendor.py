"""Okta and Entra ID payloads for one person (tests/data/scim/linking/vendor_payloads.json),
turned into what the code under test receives: SCIM bodies, and the `Identity` the vendors'
connectors make from the ID token claims (the presets' own `identity()`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from authbridge.config.model import OidcProviderSettings
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.identity import Identity
from authbridge.connectors.presets import MicrosoftConnector, OktaConnector

DATA = Path(__file__).parents[1] / "data" / "scim" / "linking" / "vendor_payloads.json"
PAYLOADS: dict[str, Any] = json.loads(DATA.read_text())
CONNECTORS = {"okta": OktaConnector, "microsoft": MicrosoftConnector}


def payload(vendor: str, name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(json.dumps(PAYLOADS[vendor][name]))
    return value


def login(vendor: str, name: str = "id_token", connector_id: str | None = None) -> Identity:
    """The Identity the vendor's preset connector makes from the recorded claims."""
    settings = OidcProviderSettings(
        client_id="client", discovery_url=payload(vendor, name)["iss"] + "/.well-known/x"
    )
    connector = CONNECTORS[vendor](
        connector_id or vendor, settings, flow="code", clock_tolerance=0, http=OutboundHttp({})
    )
    return connector.identity(payload(vendor, name), None)
