"""`require_acr` / `require_amr` (with `max_age`) in the three adapters, answered per RFC 9470
§3: 401, ``error="insufficient_user_authentication"``, and the ``acr_values``/``max_age``
the client takes to the authorization server (§4)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from authbridge.middleware import TokenVerifier, require_acr, require_amr
from authbridge.middleware.asgi import JwtAuthMiddleware, RequireMiddleware
from authbridge.middleware.authn import ACR_1FA, ACR_MFA
from authbridge.middleware.authz import Authorizer, Requirement
from authbridge.middleware.bearer import error_body, www_authenticate
from authbridge.middleware.dependency import BearerAuth
from authbridge.middleware.errors import ConfigError, InsufficientUserAuthentication
from authbridge.middleware.wsgi import JwtWsgiMiddleware, RequireWsgiMiddleware

from .forge import Signer, access_claims, at_header, compact

ROUTES = {
    "/mfa": require_acr(ACR_MFA),
    "/fresh-mfa": require_acr(ACR_MFA, max_age=300),
    "/otp": require_amr("otp"),
    "/two-factors": require_amr("mfa"),
}


@pytest.fixture
def es(signers: dict[str, Signer]) -> Signer:
    return signers["ES256"]


def _header(signer: Signer, **claims: Any) -> dict[str, str]:
    token = compact(at_header(signer), access_claims(**claims), signer)
    return {"Authorization": f"Bearer {token}"}


def _asgi(verifier: TokenVerifier) -> Any:
    ok = [Route("/", lambda request: PlainTextResponse("ok"))]
    mounts = [
        Mount(path, app=RequireMiddleware(Starlette(routes=ok), need))
        for path, need in ROUTES.items()
    ]
    return TestClient(JwtAuthMiddleware(Starlette(routes=mounts), verifier))


def _fastapi(verifier: TokenVerifier) -> Any:
    app = FastAPI()
    auth = BearerAuth(verifier)
    needs = {
        "/mfa": auth.require_acr(ACR_MFA),
        "/fresh-mfa": auth.require_acr(ACR_MFA, max_age=300),
        "/otp": auth.require_amr("otp"),
        "/two-factors": auth.require_amr("mfa"),
    }
    for path, dependency in needs.items():
        needed = Depends(dependency)

        def route(token: Any = needed) -> str:
            return "ok"

        app.get(path + "/")(route)
    return TestClient(app)


def _wsgi(verifier: TokenVerifier) -> Any:
    from werkzeug.test import Client

    def ok(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    guards = {path: RequireWsgiMiddleware(ok, need) for path, need in ROUTES.items()}

    def dispatch(environ: Any, start_response: Any) -> Any:
        path = "/" + environ["PATH_INFO"].strip("/")
        return guards[path](environ, start_response)

    return Client(JwtWsgiMiddleware(dispatch, verifier))


ADAPTERS = {"asgi": _asgi, "fastapi": _fastapi, "wsgi": _wsgi}


@pytest.fixture(params=sorted(ADAPTERS))
def client(request: pytest.FixtureRequest, verifier: TokenVerifier) -> Any:
    return ADAPTERS[request.param](verifier)


def _challenge(response: Any) -> str:
    assert response.status_code == 401
    challenge: str = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="insufficient_user_authentication"' in challenge
    return challenge


def test_an_acr_below_the_route_gets_the_step_up_challenge(client: Any, es: Signer) -> None:
    assert client.get("/mfa/", headers=_header(es, acr=ACR_MFA)).status_code == 200
    refused = client.get("/mfa/", headers=_header(es, acr=ACR_1FA, amr=["pwd"]))
    challenge = _challenge(refused)
    assert f'acr_values="{ACR_MFA}"' in challenge and "max_age" not in challenge
    assert 'error_description="A different authentication level is required"' in challenge
    # No acr at all is not enough either, and a made-up one is not authbridge's MFA level.
    _challenge(client.get("/mfa/", headers=_header(es)))
    _challenge(client.get("/mfa/", headers=_header(es, acr="urn:authbridge:acr:mfa:x")))
    # No token: RFC 6750's plain 401, no step-up error.
    assert "insufficient_user_authentication" not in client.get("/mfa/").headers.get(
        "www-authenticate", ""
    )


def test_max_age_asks_for_a_recent_sign_in(client: Any, es: Signer) -> None:
    now = int(time.time())
    recent = _header(es, acr=ACR_MFA, auth_time=now - 60)
    assert client.get("/fresh-mfa/", headers=recent).status_code == 200
    for stale in (
        _header(es, acr=ACR_MFA, auth_time=now - 3600),
        _header(es, acr=ACR_MFA),  # no auth_time: not known to be recent
        _header(es, acr=ACR_MFA, auth_time="yesterday"),
    ):
        challenge = _challenge(client.get("/fresh-mfa/", headers=stale))
        assert 'max_age="300"' in challenge and f'acr_values="{ACR_MFA}"' in challenge
        assert "More recent authentication is required" in challenge


def test_amr_requirements(client: Any, es: Signer) -> None:
    assert client.get("/otp/", headers=_header(es, amr=["pwd", "otp"])).status_code == 200
    challenge = _challenge(client.get("/otp/", headers=_header(es, amr=["pwd"])))
    assert "acr_values" not in challenge  # one method asked: no level to name
    # "mfa" is met by the value itself or by two kinds of factor.
    for amr in (["mfa"], ["pwd", "otp"], ["hwk", "pin"]):
        assert client.get("/two-factors/", headers=_header(es, amr=amr)).status_code == 200
    for amr in (["pwd"], ["otp"], "mfa", None):
        challenge = _challenge(client.get("/two-factors/", headers=_header(es, amr=amr)))
        assert f'acr_values="{ACR_MFA}"' in challenge


def test_the_json_body_mirrors_the_challenge() -> None:
    error = InsufficientUserAuthentication(acr_values=(ACR_MFA,), max_age=0)
    assert json.loads(error_body(error)) == {
        "error": "insufficient_user_authentication",
        "error_description": "A different authentication level is required",
        "acr_values": ACR_MFA,
        "max_age": 0,
    }
    assert 'max_age="0"' in www_authenticate(error, "r")


def test_unsound_requirements_are_refused_at_start_up() -> None:
    for requirement in (
        require_acr("two words"),
        require_amr(""),
        require_acr(ACR_MFA, max_age=-1),
        Requirement(role="admin", acr=(ACR_MFA,)),
    ):
        with pytest.raises(ConfigError):
            Authorizer().check_config(requirement)
