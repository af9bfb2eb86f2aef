"""Drive a login through authbridge and a real upstream provider, as a browser would."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi.testclient import TestClient

APP = "http://localhost:8080"


def start(client: TestClient, provider: str, next_url: str = "") -> str:
    """Click "Log in with ...": the IdP authorization URL authbridge redirects to."""
    query = f"provider={provider}" + (f"&next={next_url}" if next_url else "")
    response = client.get(f"/v1/oauth/start?{query}", follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def approve_at_mock(authorize_url: str, sub: str, *, deny: bool = False) -> str:
    """oidc-provider-mock's consent form: sign in as `sub`; returns where the IdP sends us."""
    with httpx.Client(trust_env=False) as idp:
        data = {"action": "deny"} if deny else {"sub": sub}
        response = idp.post(authorize_url, data=data)
    assert response.status_code in (302, 303), response.text
    return response.headers["location"]


def land(client: TestClient, location: str) -> httpx.Response:
    """Follow the IdP's redirect back to authbridge (the test client stands for the browser)."""
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" == APP, location
    return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)


def query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
