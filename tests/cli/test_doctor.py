"""`authbridge doctor` against the certified npm oidc-provider: a good setup is all ok and
exits 0; a wrong issuer, an unreachable JWKS, a skewed clock and an unregistered redirect
URI are each named, with what to do, and exit 1. The peer's own answers decide: its
discovery document, its Date header, its refusal of an unregistered redirect_uri
(RFC 6749 §3.1.2.3) and its JWKS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from authbridge.cli.main import app
from tests.connectors.node_provider import free_port, node_provider
from tests.connectors.proxy import ForwardProxy
from tests.connectors.upstream import APP

runner = CliRunner()
SECRET = "a-long-enough-client-secret-for-hs-algs"
CLIENTS = [
    {
        "client_id": "authbridge",
        "client_secret": SECRET,
        "application_type": "native",  # lets the redirect URI be http://localhost
        "redirect_uris": [APP + "/v1/oauth/callback/"],
        "token_endpoint_auth_method": "client_secret_basic",
    },
    {  # registered for another app only: our callback is missing
        "client_id": "elsewhere",
        "client_secret": SECRET,
        "application_type": "native",
        "redirect_uris": ["http://localhost:9999/callback"],
    },
]


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with node_provider(CLIENTS, tmp_path_factory.mktemp("doctor")) as issuer:
        yield issuer


@pytest.fixture
def database(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE__URL", sqlite_url)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["keys", "rotate"]).exit_code == 0
    return sqlite_url


def config(tmp_path: Path, peer: str, **okta: Any) -> Path:
    """An Astronomer-style `auth:` block for the peer (code flow, Okta preset)."""
    block = {
        "enabled": True,
        "clientId": "authbridge",
        "clientSecret": SECRET,
        "discoveryUrl": peer,
        "scopes": ["openid", "profile", "email", "groups"],
        **okta,
    }
    path = tmp_path / "authbridge.yaml"
    path.write_text(yaml.safe_dump({"auth": {"openidConnect": {"flow": "code", "okta": block}}}))
    return path


def doctor(path: Path, **env: str) -> tuple[int, list[dict[str, Any]]]:
    result = runner.invoke(app, ["doctor", "--config", str(path), "--output", "json"], env=env)
    return result.exit_code, json.loads(result.stdout)


def by_check(checks: list[dict[str, Any]], subject: str = "okta") -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in checks if c["subject"] == subject}


def test_a_good_setup_is_all_ok(peer: str, database: str, tmp_path: Path) -> None:
    code, checks = doctor(config(tmp_path, peer))
    assert code == 0, checks
    assert [c for c in checks if c["status"] != "ok"] == []
    okta = by_check(checks)
    assert set(okta) == {
        "discovery", "clock", "issuer", "endpoints", "jwks", "flow", "groups", "redirect_uri"
    }  # fmt: skip
    assert okta["redirect_uri"]["message"] == f"the IdP accepts {APP}/v1/oauth/callback/"
    assert "RS256" in okta["jwks"]["message"]
    ours = by_check(checks, "authbridge")
    assert ours["database"]["message"] == "reachable, schema up to date"
    assert set(checks[0]) == {"check", "subject", "status", "message", "fix"}


def test_the_text_output_is_one_line_per_check(peer: str, database: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--config", str(config(tmp_path, peer))])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok    okta  issuer: ") for line in lines), lines
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines)


def test_an_issuer_with_a_trailing_slash_is_named_and_which_way(
    peer: str, database: str, tmp_path: Path
) -> None:
    code, checks = doctor(config(tmp_path, peer, issuer=peer + "/"))
    assert code == 1
    issuer = by_check(checks)["issuer"]
    assert issuer["status"] == "fail"
    assert f"expected '{peer}/', the provider says '{peer}'" in issuer["message"]
    assert issuer["fix"] == f"remove the trailing slash: the provider's issuer is '{peer}'"


def test_an_unregistered_redirect_uri_says_which_to_register(
    peer: str, database: str, tmp_path: Path
) -> None:
    code, checks = doctor(config(tmp_path, peer, clientId="elsewhere"))
    assert code == 1
    redirect = by_check(checks)["redirect_uri"]
    assert redirect["status"] == "fail"
    assert redirect["fix"] == (
        f"register {APP}/v1/oauth/callback/ as a redirect (sign-in) URI of client elsewhere"
    )


def test_a_dex_callback_registration_is_checked_as_written(
    peer: str, database: str, tmp_path: Path
) -> None:
    # A Pachyderm-style redirectUri the peer's client does not have.
    code, checks = doctor(config(tmp_path, peer, redirectUri=APP + "/dex/callback"))
    assert code == 1
    assert by_check(checks)["redirect_uri"]["fix"].startswith(f"register {APP}/dex/callback ")


def test_an_unreachable_jwks_is_named(database: str, tmp_path: Path) -> None:
    closed = f"http://localhost:{free_port()}/jwks"
    faults = {"OIDC_PROVIDER_JWKS_URI": closed}
    with node_provider(CLIENTS, tmp_path, faults) as issuer:
        code, checks = doctor(config(tmp_path, issuer))
    assert code == 1
    jwks = by_check(checks)["jwks"]
    assert jwks["status"] == "fail"
    assert jwks["message"].startswith(f"{closed}: okta JWKS: cannot reach http://localhost:")


def test_a_skewed_clock_is_named(database: str, tmp_path: Path) -> None:
    with node_provider(CLIENTS, tmp_path, {"OIDC_PROVIDER_DATE_SKEW": "300"}) as issuer:
        code, checks = doctor(config(tmp_path, issuer))
        code_tolerant, tolerant = doctor(
            config(tmp_path, issuer), AUTH__OPENID_CONNECT__CLOCK_TOLERANCE="600"
        )
    assert code == 1
    clock = by_check(checks)["clock"]
    assert clock["status"] == "fail"
    assert "s ahead of ours" in clock["message"] and "clockTolerance (0 s)" in clock["message"]
    # Within a tolerance the operator chose, it is a warning only.
    assert code_tolerant == 0 and by_check(tolerant)["clock"]["status"] == "warn"


def test_discovery_goes_through_the_configured_proxy(
    peer: str, database: str, tmp_path: Path
) -> None:
    with ForwardProxy() as proxy:
        code, checks = doctor(config(tmp_path, peer), GLOBAL_AGENT_HTTP_PROXY=proxy.url)
    assert code == 0, checks
    assert f"GET {peer}/.well-known/openid-configuration" in proxy.seen
    assert any(seen.startswith(f"GET {peer}/jwks") for seen in proxy.seen), proxy.seen
    assert by_check(checks)["discovery"]["message"].endswith(f"through proxy {proxy.url}")


def test_a_proxy_that_is_down_is_named(peer: str, database: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, checks = doctor(config(tmp_path, peer), GLOBAL_AGENT_HTTP_PROXY=dead)
    assert code == 1
    discovery = by_check(checks)["discovery"]
    assert discovery["status"] == "fail" and f"through proxy {dead}" in discovery["message"]
    assert discovery["fix"].startswith(f"check that proxy {dead} is up")


PACHYDERM = (
    Path(__file__).parent.parent / "data" / "seeds" / "pachyderm" / "okta-upstream-idps.yaml"
)


def test_the_pachyderm_seed_names_its_crash_loop_causes(
    peer: str, database: str, tmp_path: Path
) -> None:
    # The seed with its IdP placeholders filled: the issuer keeps the seed's trailing
    # slash, the redirect URI its console host.
    text = (
        PACHYDERM.read_text()
        .replace("https://trial-1839456.okta.com/", peer + "/")
        .replace("0oa74mh2scJf29qOD697", "authbridge")
        .replace("VNwbzOBltNcaotD2CU5iRyTuqOPpwLR-RC16ai7wakta95W00p7X5HYkEgS_5UWH", SECRET)
    )
    path = tmp_path / "values.yaml"
    path.write_text(text)
    code, checks = doctor(path)
    assert code == 1
    okta = by_check(checks)
    assert okta["issuer"]["fix"] == f"remove the trailing slash: the provider's issuer is '{peer}'"
    assert okta["redirect_uri"]["message"].startswith(
        f"redirectUri https://console.pachdemo.com/dex/callback is not under server.issuer {APP}"
    )


def test_no_upstream_idp_is_a_warning_not_a_failure(database: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("{}\n")
    code, checks = doctor(path)
    assert code == 0
    mock = by_check(checks, "mock")["config"]
    assert mock["status"] == "warn" and "mock IdP signs in whoever is typed" in mock["message"]
