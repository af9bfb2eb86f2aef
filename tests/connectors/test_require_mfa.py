"""`requireMfa`, `acrValues` and `maxAge` against the certified panva/oidc-provider, made to
state (or not) how the person signed in through its OIDC_PROVIDER_AMR/ACR knobs; and the
platform's own OP stepping a client up to the MFA level it asks for (OIDC Core §3.1.2.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt

from authbridge.middleware.authn import ACR_1FA, ACR_MFA
from authbridge.storage.audit import AuditFilter
from tests.conftest import make_settings
from tests.connectors.node_provider import node_provider, sign_in_at_provider
from tests.connectors.upstream import APP, land, query
from tests.provider.conftest import CLIENTS, location_params
from tests.provider.test_authorize import authorize_url
from tests.provider.test_token import redeem
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_up

UPSTREAM_CLIENT = {
    "client_id": "authbridge",
    "client_secret": "a-long-enough-client-secret-for-hs-algs",
    "redirect_uris": [APP + "/v1/oauth/callback/"],
}
OKTA_2FA = "urn:okta:loa:2fa:any"  # tests/data/idp_authn/okta.json


@contextmanager
def upstream(tmp_path: Path, **knobs: str) -> Iterator[tuple[str, Path]]:
    """The provider with these OIDC_PROVIDER_* knobs; yields (issuer, request log)."""
    log = tmp_path / "authorize-requests.jsonl"
    faults = {
        "OIDC_PROVIDER_REQUEST_LOG": str(log),
        "OIDC_PROVIDER_ACR_VALUES": f"{OKTA_2FA},urn:okta:loa:1fa:any",
        **{f"OIDC_PROVIDER_{name.upper()}": value for name, value in knobs.items()},
    }
    with node_provider([UPSTREAM_CLIENT], tmp_path, faults) as issuer:
        yield issuer, log


def app_for(app_factory: AppFactory, sqlite_url: str, issuer: str, **connector: str) -> TestClient:
    env = {
        "AUTH__OPENID_CONNECT__FLOW": "code",
        "AUTH__OPENID_CONNECT__CORP__ENABLED": "true",
        "AUTH__OPENID_CONNECT__CORP__CLIENT_ID": UPSTREAM_CLIENT["client_id"],
        "AUTH__OPENID_CONNECT__CORP__CLIENT_SECRET": UPSTREAM_CLIENT["client_secret"],
        "AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL": issuer,
        **{f"AUTH__OPENID_CONNECT__CORP__{k.upper()}": v for k, v in connector.items()},
    }
    settings = make_settings(sqlite_url, **env).model_copy(update={"clients": CLIENTS})
    return app_factory(settings)


def idp_sign_in(app: TestClient, next_url: str = "/account") -> Any:
    started = app.get(
        "/v1/oauth/start", params={"provider": "corp", "next": next_url}, follow_redirects=False
    )
    assert started.status_code == 303, started.text
    answer = sign_in_at_provider(started.headers["location"], "ada", APP)
    return land(app, answer.headers["location"]), started.headers["location"]


def requests_seen(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def audit(app: TestClient, type: str) -> list[Any]:
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.audit.flush()
    return ready.storage.audit.query(AuditFilter(type=type), limit=50)


MFA = {"require_mfa": "true", "acr_values": json.dumps([OKTA_2FA]), "max_age": "600"}


def test_mfa_proven_by_amr_signs_in_and_the_request_asked_for_it(
    tmp_path: Path, app_factory: AppFactory, sqlite_url: str
) -> None:
    with upstream(tmp_path, amr="pwd,otp") as (issuer, log):
        app = app_for(app_factory, sqlite_url, issuer, **MFA)
        response, authorize = idp_sign_in(app)
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/account"
        # What authbridge sent, and what the provider received (OIDC Core §3.1.2.1).
        assert query(authorize)["acr_values"] == OKTA_2FA
        assert query(authorize)["max_age"] == "600"
        (seen,) = requests_seen(log)
        assert seen["acr_values"] == OKTA_2FA and seen["max_age"] == "600"
        (event,) = audit(app, "signin.succeeded")
        assert event.details["amr"] == ["pwd", "otp", "mfa"]


def test_mfa_proven_by_an_accepted_acr(
    tmp_path: Path, app_factory: AppFactory, sqlite_url: str
) -> None:
    with upstream(tmp_path, acr=OKTA_2FA) as (issuer, _):
        app = app_for(app_factory, sqlite_url, issuer, **MFA)
        response, _ = idp_sign_in(app)
        assert response.status_code == 303, response.text
        assert "ada@example.com" in app.get("/account").text


@pytest.mark.parametrize(
    "knobs",
    [
        {},  # the ID token says nothing of how the person signed in
        {"amr": "pwd"},  # one factor
        {"amr": "otp"},  # one factor, if a strong one
        {"acr": "urn:okta:loa:1fa:any", "amr": "pwd,kba"},  # two of one kind; acr not accepted
        {"userinfo_amr": "pwd,otp"},  # said by userinfo only: not an authentication statement
    ],
    ids=["omitted", "pwd", "otp-alone", "1fa-acr-and-knowledge-only", "userinfo-only"],
)
def test_no_proof_of_a_second_factor_is_refused(
    knobs: dict[str, str], tmp_path: Path, app_factory: AppFactory, sqlite_url: str
) -> None:
    with upstream(tmp_path, **knobs) as (issuer, _):
        app = app_for(app_factory, sqlite_url, issuer, **MFA)
        response, _ = idp_sign_in(app)
        assert response.status_code == 403
        assert "did not confirm a second factor" in response.text
        assert "Second factor not confirmed" in response.text
        assert "ada@example.com" not in app.get("/account", follow_redirects=False).text
        (event,) = audit(app, "signin.failed")
        assert event.details == {"method": "idp", "connector": "corp", "error": "mfa_not_confirmed"}


def test_without_require_mfa_the_methods_are_recorded_not_demanded(
    tmp_path: Path, app_factory: AppFactory, sqlite_url: str
) -> None:
    with upstream(tmp_path) as (issuer, log):
        app = app_for(app_factory, sqlite_url, issuer)
        response, _ = idp_sign_in(app)
        assert response.status_code == 303
        (seen,) = requests_seen(log)
        assert "acr_values" not in seen and "max_age" not in seen
        (event,) = audit(app, "signin.succeeded")
        assert event.details["amr"] == []


def _id_token(app: TestClient, params: dict[str, str]) -> dict[str, Any]:
    body = redeem(app, params["code"]).json()
    # Verified elsewhere (tests/provider); here only the claims matter.
    return dict(jwt.decode(body["id_token"], _jwk(app)).claims) | {"_access": body}


def _jwk(app: TestClient) -> Any:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(app.get("/.well-known/jwks.json").json())


def test_a_client_asking_for_mfa_gets_a_step_up_sign_in_and_the_acr(
    tmp_path: Path, app_factory: AppFactory, sqlite_url: str
) -> None:
    with upstream(tmp_path, amr="pwd,hwk") as (issuer, _):
        app = app_for(app_factory, sqlite_url, issuer, require_mfa="true")
        assert (
            ACR_MFA in app.get("/.well-known/openid-configuration").json()["acr_values_supported"]
        )
        assert sign_up(app).status_code == 303  # a local password: the 1fa level
        plain = location_params(app.get(authorize_url(), follow_redirects=False))
        claims = _id_token(app, plain)
        assert (claims["acr"], claims["amr"]) == (ACR_1FA, ["pwd"])

        # The client asks for the MFA level: the password session does not reach it.
        step = app.get(authorize_url(acr_values=ACR_MFA), follow_redirects=False)
        assert step.status_code == 303 and step.headers["location"].startswith("/login?")
        next_url = query(step.headers["location"])["next"]
        assert next_url.startswith("/oauth2/authorize?")
        # The person signs in through the IdP that proves a second factor, and is sent back.
        response, _ = idp_sign_in(app, next_url)
        assert response.status_code == 303 and response.headers["location"] == next_url
        back = app.get(next_url, follow_redirects=False)
        claims = _id_token(app, location_params(back))
        assert claims["acr"] == ACR_MFA
        assert claims["amr"] == ["pwd", "hwk", "mfa"]
        access = jwt.decode(claims["_access"]["access_token"], _jwk(app)).claims
        assert access["acr"] == ACR_MFA and access["auth_time"] == claims["auth_time"]

        # The MFA session meets the request at once now; the lower level too.
        for level in (ACR_MFA, ACR_1FA):
            again = app.get(authorize_url(acr_values=level), follow_redirects=False)
            assert "code" in location_params(again), level

        # max_age=0 asks for a sign-in now whatever the level (OIDC Core §3.1.2.1): the
        # MFA session is not enough, and the new tokens say when the new sign-in was.
        fresh = app.get(authorize_url(acr_values=ACR_MFA, max_age="0"), follow_redirects=False)
        assert fresh.status_code == 303 and fresh.headers["location"].startswith("/login?")
        next_url = query(fresh.headers["location"])["next"]
        response, _ = idp_sign_in(app, next_url)
        renewed = _id_token(app, location_params(app.get(next_url, follow_redirects=False)))
        assert renewed["acr"] == ACR_MFA and renewed["auth_time"] >= claims["auth_time"]
