"""The foundation, end to end: the real `authbridge serve`, driven over HTTP as a person would.

First admin through the printed one-time link, a second user signing up and in with a
username and password, the platform token on the signed-in page verified with PyJWT (an
independent JOSE library) against the published JWKS found through discovery, key rotation
by the CLI against the live database, a database outage and recovery, and config errors.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.engine import make_url

from tests.e2e.forms import form_fields
from tests.e2e.server import AuthbridgeServer, clean_environ, run_cli, wait_status
from tests.e2e.tcp_proxy import proxy_for
from tests.e2e.visitor import PASSWORD, Visitor

ADMIN = ("root@example.com", "Root Admin")
USER = ("ada@example.com", "Ada Lovelace")
# RFC 9068 §2.2 required claims, plus the identity claims authbridge documents.
EXPECTED_CLAIMS = {
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sub",
    "client_id",
    "scope",
    "preferred_username",
    "email",
    "email_verified",
    "name",
    "groups",
    "roles",
}


def discover_jwks(base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """OIDC Discovery §4: the configuration document, then the JWKS its jwks_uri names."""
    config = httpx.get(base_url + "/.well-known/openid-configuration", timeout=10)
    assert config.status_code == 200
    document = config.json()
    assert document["jwks_uri"] == base_url + "/api/v1/system/config/jwks"
    keys = httpx.get(document["jwks_uri"], timeout=10)
    assert keys.status_code == 200
    assert keys.headers["content-type"].startswith("application/jwk-set+json")
    return document, keys.json()


def user_id(database: Path, username: str) -> str:
    """The account's id read straight from the database file (not from anything we render)."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT id FROM users WHERE username = ?", (username,)).fetchone()
    assert row, f"no user {username} in {database}"
    return str(row[0])


def verify_platform_token(
    token: str,
    *,
    issuer: str,
    jwks: dict[str, Any],
    subject: str,
    email: str,
    name: str,
    roles: list[str],
    issued_between: tuple[float, float],
) -> dict[str, Any]:
    """Check an access token against RFC 9068 and our documented claims, with PyJWT."""
    header = jwt.get_unverified_header(token)
    # RFC 9068 §2.1: typ "at+jwt"; ES256 is the configured algorithm; kid names a JWKS key.
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    published = {key["kid"]: key for key in jwks["keys"]}
    assert header["kid"] in published, "token kid is not in the JWKS"
    jwk = published[header["kid"]]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    assert "d" not in jwk, "the JWKS leaks a private key"
    key = jwt.PyJWK.from_dict(jwk, algorithm="ES256")
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["ES256"],
        audience=issuer,
        issuer=issuer,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"]},
    )
    assert set(claims) == EXPECTED_CLAIMS, f"unexpected claim set {sorted(claims)}"
    before, after = issued_between
    assert int(before) - 1 <= claims["iat"] <= after + 1
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] == claims["iat"] + 3600  # tokens.accessTokenLifetime default
    assert claims["aud"] == issuer  # tokens.audience defaults to the issuer
    assert claims["sub"] == subject
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["client_id"] == "authbridge"
    assert claims["scope"].split() == ["openid", "profile", "email"]
    assert claims["preferred_username"] == email
    assert claims["email"] == email
    assert claims["email_verified"] is False  # a local email is never verified
    assert claims["name"] == name
    assert claims["groups"] == []
    assert claims["roles"] == roles
    return claims


def timed_token(visitor: Visitor) -> tuple[str, tuple[float, float]]:
    before = time.time()
    token = visitor.account_token()
    return token, (before, time.time())


def test_first_admin_then_a_user_signs_up_and_in_and_gets_a_verifiable_token(
    server: AuthbridgeServer,
) -> None:
    database = Path(make_url(server.database_url).database or "")
    # A person opens the address: the root sends them to the sign-in page.
    home = httpx.get(server.url + "/", timeout=10)
    assert home.status_code == 303 and home.headers["location"] == "/login"
    link = server.setup_link()
    assert link.startswith(server.url + "/setup?token=")
    path = link.removeprefix(server.url)

    admin = Visitor(server.url)
    created = admin.submit(path, "/setup", email=ADMIN[0], name=ADMIN[1], password=PASSWORD)
    assert created.status_code == 303 and created.headers["location"] == "/account"
    page = admin.get("/account")
    assert page.status_code == 200
    assert ADMIN[0] in page.text and "admin" in page.text
    _, jwks = discover_jwks(server.url)
    token, window = timed_token(admin)
    verify_platform_token(
        token,
        issuer=server.url,
        jwks=jwks,
        subject=user_id(database, ADMIN[0]),
        email=ADMIN[0],
        name=ADMIN[1],
        roles=["admin"],
        issued_between=window,
    )
    out = admin.sign_out()
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert admin.get("/account").headers["location"] == "/login"
    # The link is one-time: a second visit finds nothing to do.
    assert httpx.get(link, timeout=10).status_code == 404

    user = Visitor(server.url)
    signed_up = user.sign_up(*USER)
    assert signed_up.status_code == 303 and signed_up.headers["location"] == "/account"
    assert user.sign_out().status_code == 303
    signed_in = user.sign_in(USER[0])
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    page = user.get("/account")
    assert USER[0] in page.text and USER[1] in page.text
    first, window = timed_token(user)
    subject = user_id(database, USER[0])
    claims = verify_platform_token(
        first,
        issuer=server.url,
        jwks=jwks,
        subject=subject,
        email=USER[0],
        name=USER[1],
        roles=["viewer"],
        issued_between=window,
    )
    again, window = timed_token(user)
    repeat = verify_platform_token(
        again,
        issuer=server.url,
        jwks=jwks,
        subject=subject,
        email=USER[0],
        name=USER[1],
        roles=["viewer"],
        issued_between=window,
    )
    assert repeat["jti"] != claims["jti"], "every token needs its own jti"
    assert subject != user_id(database, ADMIN[0])


def test_wrong_password_and_forged_form_are_refused(server: AuthbridgeServer) -> None:
    owner = Visitor(server.url)
    assert owner.sign_up("grace@example.com", "Grace Hopper").status_code == 303
    stranger = Visitor(server.url)
    wrong = stranger.sign_in("grace@example.com", "not the password at all")
    assert wrong.status_code == 401
    assert "do not match" in wrong.text
    assert "authbridge_session" not in stranger.http.cookies
    # A post without the form's CSRF token (a cross-site form) is refused, nothing signed in.
    forged = httpx.post(
        server.url + "/login",
        timeout=10,
        data={"username": "grace@example.com", "password": PASSWORD},
    )
    assert forged.status_code == 403
    assert "authbridge_session" not in forged.cookies


def test_keys_rotate_publishes_a_second_key_and_tokens_still_verify(
    server: AuthbridgeServer,
) -> None:
    visitor = Visitor(server.url)
    assert visitor.sign_up("linus@example.com", "Linus").status_code == 303
    before_token = visitor.account_token()
    _, jwks = discover_jwks(server.url)
    assert len(jwks["keys"]) == 1
    old_kid = jwks["keys"][0]["kid"]

    rotated = run_cli(["keys", "rotate"], server.workdir, server.env)
    assert rotated.returncode == 0, rotated.stderr
    assert "published" in rotated.stdout

    # The app re-reads its key snapshot every tokens.keyReloadInterval (1 s here).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        _, jwks = discover_jwks(server.url)
        if len(jwks["keys"]) == 2:
            break
        time.sleep(0.5)
    kids = [key["kid"] for key in jwks["keys"]]
    assert len(kids) == 2 and old_kid in kids, f"JWKS after rotation: {kids}"
    new_kid = next(kid for kid in kids if kid != old_kid)
    assert new_kid in rotated.stdout

    # Tokens signed before the rotation verify against the new JWKS; and the new key only
    # signs after tokens.keyPublishAhead (600 s), so new tokens still carry the old kid.
    for token in (before_token, visitor.account_token()):
        key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]]
        jwt.decode(token, key.key, algorithms=["ES256"], audience=server.url, issuer=server.url)
        assert jwt.get_unverified_header(token)["kid"] == old_kid
    listed = run_cli(["keys", "list"], server.workdir, server.env)
    assert listed.returncode == 0 and old_kid in listed.stdout and new_kid in listed.stdout


def test_health_endpoints_and_metrics(server: AuthbridgeServer) -> None:
    assert httpx.get(server.url + "/healthz", timeout=10).json()["status"] == "ok"
    assert httpx.get(server.url + "/readyz", timeout=10).json()["status"] == "ok"
    metrics = httpx.get(server.url + "/metrics", timeout=10)
    assert metrics.status_code == 200 and "# TYPE" in metrics.text


@pytest.mark.postgres
def test_database_outage_gives_503_and_the_service_recovers_by_itself(
    e2e_postgres_url: str, tmp_path: Path
) -> None:
    proxy, url = proxy_for(e2e_postgres_url)
    server = AuthbridgeServer(tmp_path, url)
    try:
        # Start while the database is away: live, not ready, pages say 503 (not a crash).
        server.start(wait_ready=False)
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        assert httpx.get(server.url + "/readyz", timeout=10).status_code == 503
        assert httpx.get(server.url + "/login", timeout=10).status_code == 503
        proxy.restore()
        wait_status(server.url + "/readyz", 200)
        link = server.setup_link().removeprefix(server.url)
        admin = Visitor(server.url)
        created = admin.submit(link, "/setup", email=ADMIN[0], name=ADMIN[1], password=PASSWORD)
        assert created.status_code == 303

        # The database goes away while the service runs.
        visitor = Visitor(server.url)
        form = visitor.get("/login")
        proxy.cut()
        wait_status(server.url + "/readyz", 503)
        assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        fields = {**form_fields(form.text, "/login"), "username": ADMIN[0], "password": PASSWORD}
        refused = visitor.http.post("/login", data=fields, headers={"origin": server.url})
        assert refused.status_code == 503
        assert "database" in refused.text and "Traceback" not in refused.text
        assert "authbridge_session" not in visitor.http.cookies

        # It comes back: no restart, the same form works.
        proxy.restore()
        wait_status(server.url + "/readyz", 200)
        signed_in = visitor.http.post("/login", data=fields, headers={"origin": server.url})
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
        assert ADMIN[0] in visitor.get("/account").text
        assert visitor.account_token().count(".") == 2
    finally:
        server.stop()
        proxy.cut()


def test_config_check_names_a_misspelt_key_and_its_fix(tmp_path: Path) -> None:
    env = clean_environ(tmp_path, AUTH__LOCAL__ENABELD="true")
    result = run_cli(["config", "check"], tmp_path, env)
    assert result.returncode != 0
    assert "auth.local.enabeld" in result.stderr
    assert "auth.local.enabled" in result.stderr and "AUTH__LOCAL__ENABLED" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

    config = tmp_path / "authbridge.yaml"
    config.write_text("auth:\n  openidConnect:\n    flow: code\n  locl:\n    enabled: true\n")
    result = run_cli(
        ["config", "check", "--config", str(config)], tmp_path, clean_environ(tmp_path)
    )
    assert result.returncode != 0
    assert "auth.locl" in result.stderr and "auth.local" in result.stderr


def test_config_check_masks_secrets_of_a_valid_config(tmp_path: Path) -> None:
    env = clean_environ(
        tmp_path,
        DATABASE__URL="postgresql://authbridge:s3cr3t-pw@db.internal:5432/authbridge",
        AUTH__OPENID_CONNECT__OKTA__ENABLED="true",
        AUTH__OPENID_CONNECT__OKTA__CLIENT_ID="0oa1example",
        AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET="very-secret-value",
        AUTH__OPENID_CONNECT__OKTA__BASE_DOMAIN="example.okta.com",
    )
    result = run_cli(["config", "check"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "0oa1example" in result.stdout
    assert "s3cr3t-pw" not in result.stdout and "very-secret-value" not in result.stdout


def test_serve_with_a_broken_config_exits_naming_the_error(tmp_path: Path) -> None:
    server = AuthbridgeServer(tmp_path, SERVER__PORTT="8081")
    result = run_cli(["serve"], tmp_path, server.env, timeout=30)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "server.portt" in output and "server.port" in output
    assert "Traceback" not in output

    server = AuthbridgeServer(tmp_path, TOKENS__ACCESS_TOKEN_LIFETIME="forever")
    result = run_cli(["serve"], tmp_path, server.env, timeout=30)
    assert result.returncode != 0
    assert "tokens.accessTokenLifetime" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
