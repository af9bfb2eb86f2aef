"""Every credential and limit rule, tried by a client that tries to break it."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from authbridge.config.model import ScimSettings
from authbridge.scim import auth
from authbridge.scim.errors import Unauthorized
from tests.scim.conftest import BASIC, ENTRA_TOKEN, HEADERS, ScimFactory, scim

USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "eve@example.com"}


def _is_scim_401(response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/scim+json")
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "401"  # RFC 7644 §3.12: a string
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    ("source", "authorization"),
    [
        ("okta", None),
        ("okta", "Basic " + base64.b64encode(b"okta-provisioner:wrong").decode()),
        ("okta", f"Bearer {ENTRA_TOKEN}"),  # the other endpoint's kind of credential
        ("okta", "Basic !!!not-base64"),
        ("okta", BASIC.replace("Basic", "Bearer")),
        ("microsoft", None),
        ("microsoft", "Bearer wrong-token"),
        ("microsoft", BASIC),  # the other endpoint's kind of credential
        ("microsoft", f"Bearer {ENTRA_TOKEN}x"),
        ("microsoft", f"Basic {ENTRA_TOKEN}"),
    ],
)
def test_missing_wrong_or_foreign_credentials_get_401_with_a_body(
    api: TestClient, source: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    for method, path, body in [
        ("GET", "/Users", None),
        ("POST", "/Users", USER),
        ("GET", "/ServiceProviderConfig", None),
        ("DELETE", "/Groups/x", None),
        ("GET", "/no/such/thing", None),
    ]:
        response = api.request(method, f"/v1/scim/v2/{source}{path}", headers=headers, json=body)
        _is_scim_401(response)
    # Nothing was created by the refused requests.
    assert scim(api, source, "GET", "/Users").json()["totalResults"] == 0


def test_an_unconfigured_endpoint_refuses_everyone(scim_app: ScimFactory) -> None:
    client = scim_app(SCIM__MICROSOFT__AUTH_CODE="")
    _is_scim_401(client.get("/v1/scim/v2/microsoft/Users", headers={"Authorization": "Bearer "}))
    _is_scim_401(client.get("/v1/scim/v2/microsoft/Users", headers=HEADERS["microsoft"]))
    assert scim(client, "okta", "GET", "/Users").status_code == 200


def test_astronomer_env_names_configure_the_credentials() -> None:
    environ = {"SCIM_AUTH_CODE_OKTA": "user:pa:ss", "SCIM_AUTH_CODE_MICROSOFT": "tok"}
    okta = auth.credential_for("okta", ScimSettings(), environ)
    entra = auth.credential_for("microsoft", ScimSettings(), environ)
    basic = "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert auth.authenticate(okta, basic) == "okta:user"
    assert auth.authenticate(entra, "Bearer tok").startswith("microsoft:token:")
    with pytest.raises(Unauthorized):
        auth.authenticate(okta, "Basic " + base64.b64encode(b"user:pa:sS").decode())


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    credential = auth.Credential("microsoft", "bearer", "the-token")
    with pytest.raises(Unauthorized):
        auth.authenticate(credential, "Bearer t")
    # Compared as equal-length digests, so neither content nor length leaks through timing.
    assert len(calls) == 1 and len(calls[0][0]) == len(calls[0][1]) == 32


def test_request_size_limit(scim_app: ScimFactory) -> None:
    client = scim_app(SCIM__MAX_REQUEST_BYTES="2048")
    big = {**USER, "displayName": "x" * 4096}
    response = scim(client, "okta", "POST", "/Users", json=big)
    assert response.status_code == 413
    assert response.json()["status"] == "413"
    assert scim(client, "okta", "GET", "/Users").json()["totalResults"] == 0


@pytest.mark.parametrize(
    ("filter_", "why"),
    [
        ("userName eq ", "syntax"),
        ('userName eq "a"' + ' or userName eq "b"' * 100, "too many terms"),
        ('userName eq "' + "a" * 5000 + '"', "too long"),
        ("userName gt true", "wrong type"),
        ('shoeSize eq "x"', "not in the schema (RFC 7644 §3.12)"),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:shoeSize eq "x"', "unknown"),
        ('emails[shoeSize eq "x"]', "not a sub-attribute of emails"),
        ("emails.shoeSize pr", "not a sub-attribute of emails"),
        ('name eq "x"', "a complex attribute has no value to compare"),
        ('emails[type eq "work" and phoneNumbers[type eq "work"]]', "value filters do not nest"),
        ('userName[value eq "x"]', "not multi-valued"),
    ],
)
def test_bad_or_costly_filters_are_400_invalid_filter(
    api: TestClient, filter_: str, why: str
) -> None:
    response = scim(api, "okta", "GET", "/Users", params={"filter": filter_})
    assert response.status_code == 400, why
    assert response.json()["scimType"] == "invalidFilter", why


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "scim_type"),
    [
        ("POST", "/Users", b"{not json", 400, "invalidSyntax"),
        ("POST", "/Users", b"[]", 400, "invalidSyntax"),
        (
            "POST",
            "/Users",
            b'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"]}',
            400,
            None,
        ),
        (
            "POST",
            "/Groups",
            b'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"]}',
            400,
            None,
        ),
        ("PATCH", "/Users/nope", b'{"Operations":[]}', 400, "invalidSyntax"),
        ("GET", "/Users?startIndex=abc", None, 400, "invalidValue"),
        ("GET", "/Users?sortOrder=sideways", None, 400, "invalidValue"),
        ("PUT", "/Users", b"{}", 405, None),
        ("POST", "/Bulk", b"{}", 501, None),
    ],
)
def test_bad_requests_get_scim_errors_never_500(
    api: TestClient,
    method: str,
    path: str,
    content: bytes | None,
    status: int,
    scim_type: str | None,
) -> None:
    response = scim(api, "okta", method, path, content=content)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == str(status)
    if scim_type:
        assert body["scimType"] == scim_type


def test_sources_see_only_their_own_resources(api: TestClient) -> None:
    created = scim(api, "okta", "POST", "/Users", json={**USER, "externalId": "same"}).json()
    # Entra sees nothing of Okta's, cannot read, change or delete it...
    assert scim(api, "microsoft", "GET", "/Users").json()["totalResults"] == 0
    for method in ("GET", "DELETE"):
        assert scim(api, "microsoft", method, f"/Users/{created['id']}").status_code == 404
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}],
    }
    assert scim(api, "microsoft", "PATCH", f"/Users/{created['id']}", json=patch).status_code == 404
    # ...nor make it a member of its groups.
    group = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "g",
        "members": [{"value": created["id"]}],
    }
    # (an id this source did not provision is skipped, as an unknown one is: a 400 would
    # quarantine the IdP's whole provisioning job)
    made = scim(api, "microsoft", "POST", "/Groups", json=group)
    assert made.status_code == 201 and "members" not in made.json()
    team = scim(api, "microsoft", "GET", f"/Groups/{made.json()['id']}").json()
    assert "members" not in team
    # Its externalId space is its own, but userName stays unique across the platform.
    other = {**USER, "userName": "mallory@example.com", "externalId": "same"}
    assert scim(api, "microsoft", "POST", "/Users", json=other).status_code == 201
    clash = scim(api, "microsoft", "POST", "/Users", json={**USER, "userName": "EVE@example.com"})
    assert clash.status_code == 409
    assert scim(api, "okta", "GET", f"/Users/{created['id']}").json().get("active") is not False
