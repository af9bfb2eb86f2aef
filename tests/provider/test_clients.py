"""Redirect URI matching (RFC 9700 §4.1.3, RFC 8252 §7.3) and client authentication (RFC 6749
§2.3.1)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from authbridge.config.model import ClientSettings
from authbridge.provider.clients import (
    Client,
    ClientRegistry,
    authenticate_client,
    check_redirect_uris,
    client_problems,
    redirect_uri_registered,
)
from authbridge.provider.errors import OAuthError

DATA = json.loads(
    (Path(__file__).parents[1] / "data" / "provider" / "redirect_uri_variants.json").read_text()
)


def test_only_exact_redirect_uris_match() -> None:
    client = Client("c", redirect_uris=tuple(DATA["registered"]))
    for uri in DATA["registered"]:
        assert redirect_uri_registered(client, uri)
    for uri in DATA["refused"]:
        assert not redirect_uri_registered(client, uri), uri


def test_loopback_may_vary_only_its_port() -> None:
    client = Client("c", redirect_uris=(DATA["loopback_registered"],))
    for uri in DATA["loopback_accepted"]:
        assert redirect_uri_registered(client, uri), uri
    for uri in DATA["loopback_refused"]:
        assert not redirect_uri_registered(client, uri), uri


def test_registration_refuses_fragments_and_relative_uris() -> None:
    assert check_redirect_uris(["https://a.example/cb#x"])
    assert check_redirect_uris(["/cb"])
    assert check_redirect_uris(["https://user:pw@a.example/cb"])
    assert not check_redirect_uris(["https://a.example/cb", "com.example.app:/oauth2redirect"])


def test_no_space_control_character_or_endless_uri_and_no_control_in_a_name() -> None:
    """RFC 3986 §2: a URI has no space or control character (and PostgreSQL stores no NUL);
    the console splits a textarea by lines, so what is left of a line must be one URI."""
    for bad in (
        "https://a.example/c b",
        "https://a.example/cb\t",
        "https://a.example/\x00",
        "https://a.example/\x7f",
        "https://a.example/" + "a" * 2048,
    ):
        assert check_redirect_uris([bad]), repr(bad)
    assert not check_redirect_uris(["https://a.example/" + "a" * 2000])
    assert client_problems(Client("c", name="Ünïcode app")) == []
    for name in ("x\x00", "a\nb", "n" * 257):
        assert [key for key, _ in client_problems(Client("c", name=name))] == ["name"]


def _registry() -> ClientRegistry:
    return ClientRegistry(
        {
            "conf": ClientSettings(secret="pa:ss w%rd", redirect_uris=["https://x.example/cb"]),
            "pub": ClientSettings(public=True),
        },
        lambda _cid: None,
    )


def _basic(user: str, password: str) -> str:
    from urllib.parse import quote_plus

    raw = f"{quote_plus(user)}:{quote_plus(password)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_basic_credentials_are_form_urlencoded_first() -> None:
    """RFC 6749 §2.3.1: id and secret are application/x-www-form-urlencoded inside Basic."""
    client = authenticate_client(_registry(), _basic("conf", "pa:ss w%rd"), {})
    assert client.client_id == "conf"


def test_client_secret_post_and_failures() -> None:
    registry = _registry()
    assert authenticate_client(registry, None, {"client_id": "conf", "client_secret": "pa:ss w%rd"})
    for auth, form in [
        (None, {"client_id": "conf", "client_secret": "wrong"}),
        (None, {"client_id": "conf"}),
        (None, {"client_id": "nobody", "client_secret": "x"}),
        (None, {}),
        (_basic("conf", "wrong"), {}),
        ("Basic !!!", {}),
        (None, {"client_id": "pub", "client_secret": "anything"}),
    ]:
        with pytest.raises(OAuthError) as exc:
            authenticate_client(registry, auth, form)
        assert exc.value.error == "invalid_client" and exc.value.status == 401


def test_two_methods_at_once_are_refused() -> None:
    with pytest.raises(OAuthError) as exc:
        authenticate_client(
            _registry(), _basic("conf", "pa:ss w%rd"), {"client_secret": "pa:ss w%rd"}
        )
    assert exc.value.error == "invalid_request"


def test_public_client_only_where_allowed() -> None:
    assert authenticate_client(_registry(), None, {"client_id": "pub"}).public
    with pytest.raises(OAuthError):
        authenticate_client(_registry(), None, {"client_id": "pub"}, allow_public=False)


def test_builtin_cli_client_exists() -> None:
    cli = _registry().get("authbridge-cli")
    assert cli is not None and cli.public
