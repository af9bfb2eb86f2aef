"""HTTP details of RFC 7644: ETag and If-Match (§3.14), Location (§3.3), attributes and
excludedAttributes (§3.9), /.search (§3.4.3), and the discovery documents (§4)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from authbridge.config.model import ScimSettings
from authbridge.scim.auth import credential_for
from tests.scim.conftest import scim

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "nina@example.com",
    "name": {"givenName": "Nina", "familyName": "Simone"},
    "title": "Singer",
}
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_if_none_match_compares_weakly(api: TestClient) -> None:
    """RFC 7232 §3.2: If-None-Match uses the weak comparison (§2.3.2): W/"1" matches "1"."""
    created = scim(api, "okta", "POST", "/Users", json=USER)
    path, etag = "/Users/" + created.json()["id"], created.headers["etag"]
    strong = etag.removeprefix("W/")
    for header in (strong, f'"x", {strong}', "*", etag):
        answer = scim(api, "okta", "GET", path, headers={"If-None-Match": header})
        assert answer.status_code == 304, header
        assert answer.headers["etag"] == etag
    assert scim(api, "okta", "GET", path, headers={"If-None-Match": '"2"'}).status_code == 200


def test_etag_if_match_and_location(api: TestClient) -> None:
    created = scim(api, "okta", "POST", "/Users", json=USER)
    assert created.status_code == 201
    etag = created.headers["etag"]
    assert etag == created.json()["meta"]["version"] and etag.startswith('W/"')
    assert created.headers["location"] == created.json()["meta"]["location"]
    path = "/Users/" + created.json()["id"]
    assert scim(api, "okta", "GET", path, headers={"If-None-Match": etag}).status_code == 304
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "title", "value": "Pianist"}],
    }
    stale = scim(api, "okta", "PATCH", path, json=body, headers={"If-Match": 'W/"999"'})
    assert stale.status_code == 412 and stale.json()["status"] == "412"
    assert scim(api, "okta", "GET", path).json()["title"] == "Singer"  # unchanged
    fresh = scim(api, "okta", "PATCH", path, json=body, headers={"If-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    put = scim(api, "okta", "PUT", path, json=USER, headers={"If-Match": etag})
    assert put.status_code == 412


def test_attributes_and_excluded_attributes(api: TestClient) -> None:
    uid = scim(api, "okta", "POST", "/Users", json=USER).json()["id"]
    only = scim(api, "okta", "GET", f"/Users/{uid}", params={"attributes": "name.givenName"}).json()
    # §3.9: id and schemas are always returned; nothing else than what was asked.
    assert only["name"] == {"givenName": "Nina"} and only["id"] == uid
    assert "title" not in only and "userName" not in only
    without = scim(api, "okta", "GET", "/Users", params={"excludedAttributes": "title,name"}).json()
    assert "title" not in without["Resources"][0] and "name" not in without["Resources"][0]
    search = scim(
        api,
        "okta",
        "POST",
        "/Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'name.familyName eq "SIMONE"',
            "attributes": ["userName"],
            "startIndex": 1,
            "count": 10,
        },
    )
    assert search.status_code == 200
    assert search.json()["Resources"] == [
        {"schemas": USER["schemas"], "id": uid, "userName": "nina@example.com"}
    ]


def test_discovery_tells_what_is_supported(api: TestClient) -> None:
    okta = scim(api, "okta", "GET", "/ServiceProviderConfig").json()
    entra = scim(api, "microsoft", "GET", "/ServiceProviderConfig").json()
    assert okta["patch"]["supported"] and okta["etag"]["supported"] and okta["sort"]["supported"]
    assert okta["filter"] == {"supported": True, "maxResults": 1000}
    assert not okta["bulk"]["supported"] and not okta["changePassword"]["supported"]
    assert okta["authenticationSchemes"][0]["type"] == "httpbasic"
    assert entra["authenticationSchemes"][0]["type"] == "oauthbearertoken"
    types = scim(api, "okta", "GET", "/ResourceTypes").json()["Resources"]
    assert {t["id"]: t["endpoint"] for t in types} == {"User": "/Users", "Group": "/Groups"}
    schemas = scim(api, "okta", "GET", "/Schemas").json()["Resources"]
    assert {s["id"] for s in schemas} == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    }
    user = next(s for s in schemas if s["name"] == "User")
    username = next(a for a in user["attributes"] if a["name"] == "userName")
    assert username["caseExact"] is False and username["uniqueness"] == "server"
    one = scim(api, "okta", "GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
    assert one.status_code == 200 and one.json()["name"] == "Group"


def test_credential_from_a_mounted_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "okta_provisioning_account_secret"
    secret.write_text("user:from-file\n")
    credential = credential_for("okta", ScimSettings(), {"SCIM_AUTH_CODE_OKTA_FILE": str(secret)})
    assert credential.secret == "user:from-file"
