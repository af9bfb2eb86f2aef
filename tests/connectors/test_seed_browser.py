"""A person signs in, in a real browser, through the certified npm oidc-provider with a
seed file loaded as written: Astronomer's Okta block (code flow), OpenMetadata's
confidential values and Pachyderm's Dex `oidc.upstreamIDPs`. Each test writes a copy of the
seed with only its placeholders filled (the IdP's URL and client, the organisation's domain
or host); secrets come as the seeds say (Astronomer: an environment variable; OpenMetadata:
a Secret mounted as files; Pachyderm: in the file, replaced like its other placeholders)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from authbridge.config import load_settings
from tests.conftest import with_cheap_hashing
from tests.connectors.node_provider import free_port, node_provider
from tests.connectors.test_browser import CHROMIUM, browser_login, run_app
from tests.connectors.test_dex_callback import SEED as PACHYDERM_SEED
from tests.connectors.test_dex_callback import SEED_ISSUER as PACHYDERM_ISSUER
from tests.connectors.test_dex_callback import SEED_SECRET as PACHYDERM_SECRET

pytestmark = pytest.mark.browser
SEEDS = Path(__file__).parent.parent / "data" / "seeds"
SECRET = "a-long-enough-client-secret-for-hs-algs"


@pytest.fixture
def idp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The peer with one confidential code-flow client for authbridge on a free port.

    Its only redirect URI is authbridge's own callback, or the path a test names with
    `@pytest.mark.parametrize("idp", [path], indirect=True)` (Pachyderm: /dex/callback)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    origin = f"http://localhost:{free_port()}"
    client = {
        "client_id": "seeded",
        "client_secret": SECRET,
        "application_type": "native",
        "redirect_uris": [origin + getattr(request, "param", "/v1/oauth/callback/")],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with node_provider([client], tmp_path) as issuer:
        yield origin, issuer


def filled(seed: Path, tmp_path: Path, placeholders: dict[str, str]) -> Path:
    """A copy of the seed with each placeholder replaced; every other byte as written."""
    text = seed.read_text()
    for placeholder, value in placeholders.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    copy = tmp_path / seed.name
    copy.write_text(text)
    return copy


def test_astronomer_okta_seed_code_flow(idp: tuple[str, str], tmp_path: Path) -> None:
    origin, issuer = idp
    values = filled(
        SEEDS / "astronomer" / "okta.yaml",
        tmp_path,
        {"0oa1okta": "seeded", "https://dev-123.okta.com": issuer},
    )
    env = {
        "DATABASE__URL": f"sqlite:///{tmp_path / 'astronomer.db'}",
        "SERVER__ISSUER": origin,
        # Houston's env names, as the seed page sets them.
        "AUTH__OPENID_CONNECT__FLOW": "code",
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": SECRET,
    }
    settings = with_cheap_hashing(load_settings(values, env))
    with run_app(settings, int(origin.rsplit(":", 1)[1])):
        page = browser_login(origin, "grace")
    assert "grace@example.com" in page
    assert not re.search(r'id="who-roles">[^<]*\badmin\b', page)


def test_openmetadata_confidential_seed(idp: tuple[str, str], tmp_path: Path) -> None:
    origin, issuer = idp
    values = filled(
        SEEDS / "openmetadata" / "okta-confidential.yaml",
        tmp_path,
        {"https://dev-123.okta.com/oauth2/aus1om": issuer, "open-metadata.org": "example.com"},
    )
    secrets = tmp_path / "secrets" / "oidc-secrets"  # the Secret `oidc-secrets`, mounted
    secrets.mkdir(parents=True)
    (secrets / "openmetadata-oidc-client-id").write_text("seeded")
    (secrets / "openmetadata-oidc-client-secret").write_text(SECRET)
    env = {
        "DATABASE__URL": f"sqlite:///{tmp_path / 'openmetadata.db'}",
        "SERVER__ISSUER": origin,
        "AUTHBRIDGE_SECRETS_DIR": str(tmp_path / "secrets"),
    }
    settings = with_cheap_hashing(load_settings(values, env))
    assert settings.auth.openid_connect.flow == "code"
    with run_app(settings, int(origin.rsplit(":", 1)[1])):
        page = browser_login(origin, "admin")
    # `admin` is one of the file's initialAdmins (admin@example.com under its domain).
    assert "admin@example.com" in page
    assert re.search(r'id="who-roles">[^<]*\badmin\b', page), page


@pytest.mark.parametrize("idp", ["/dex/callback"], indirect=True)
def test_pachyderm_upstream_idps_seed_through_dex_callback(
    idp: tuple[str, str], tmp_path: Path
) -> None:
    # The peer knows only <origin>/dex/callback, as the seed tells Okta admins to register.
    origin, issuer = idp
    values = filled(
        PACHYDERM_SEED,
        tmp_path,
        {
            "0oa74mh2scJf29qOD697": "seeded",
            PACHYDERM_SECRET: SECRET,
            "https://console.pachdemo.com": origin,
            PACHYDERM_ISSUER + "/": issuer,  # the provider names itself with no trailing slash
        },
    )
    env = {"DATABASE__URL": f"sqlite:///{tmp_path / 'pachyderm.db'}", "SERVER__ISSUER": origin}
    settings = with_cheap_hashing(load_settings(values, env))
    visited: list[str] = []
    with run_app(settings, int(origin.rsplit(":", 1)[1])):
        page = browser_login(origin, "ada", visited)
    # RFC 6749 section 3.1.2: the authorization request names the registered redirect URI,
    # and the provider answered the browser there.
    authorize = [url for url in visited if url.startswith(issuer + "/auth?")]
    assert authorize, visited
    redirect_uris = parse_qs(urlsplit(authorize[0]).query)["redirect_uri"]
    assert redirect_uris == [origin + "/dex/callback"]
    assert any(url.startswith(origin + "/dex/callback?code=") for url in visited), visited
    assert "ada@example.com" in page
    assert not re.search(r'id="who-roles">[^<]*\badmin\b', page)
