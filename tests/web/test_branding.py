"""`branding:` on the pages: product name, logo, colours as custom properties in a
stylesheet of our own (the CSP stays `default-src 'self'`), and templates overridden by name
from `templatesDir`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS
from tests.provider.test_authorize import authorize_url
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_up

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def test_defaults_keep_the_built_in_look(client: TestClient) -> None:
    page = client.get("/login").text
    assert "<title>Sign in · authbridge</title>" in page
    assert "/branding.css" not in page and "/branding/logo" not in page
    assert client.get("/branding/logo").status_code == 404


def test_product_name_colours_and_logo(app_factory: AppFactory, tmp_path: Path) -> None:
    logo = tmp_path / "acme.png"
    logo.write_bytes(PNG)
    client = app_factory(
        BRANDING__PRODUCT_NAME="Acme Sign-in",
        BRANDING__PRIMARY_COLOR="#0B5394",
        BRANDING__ACCENT_COLOR="#9fc5e8",
        BRANDING__LOGO_PATH=str(logo),
    )
    page = client.get("/login")
    assert "<title>Sign in · Acme Sign-in</title>" in page.text
    assert '<link rel="stylesheet" href="/branding.css">' in page.text
    assert '<img src="/branding/logo" alt="" class="logo">Acme Sign-in' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    css = client.get("/branding.css")
    assert css.headers["content-type"].startswith("text/css")
    assert "--accent: #0b5394;" in css.text and "--accent-dark: #9fc5e8;" in css.text
    served = client.get("/branding/logo")
    assert served.content == PNG and served.headers["content-type"] == "image/png"
    # Error pages built without storage carry the brand too.
    assert "Acme Sign-in" in client.get("/nowhere", headers={"accept": "text/html"}).text


def test_templates_dir_overrides_by_name(app_factory: AppFactory, tmp_path: Path) -> None:
    (tmp_path / "login.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1 id="custom">Welcome to '
        "{{ brand.name }}</h1><form method=post action=/login>"
        '<input type=hidden name=csrf_token value="{{ csrf_token }}"></form>'
        "{% endblock %}"
    )
    client = app_factory(BRANDING__TEMPLATES_DIR=str(tmp_path), BRANDING__PRODUCT_NAME="Acme")
    login = client.get("/login").text
    assert '<h1 id="custom">Welcome to Acme</h1>' in login
    # Templates not overridden are the built-in ones, and sign-up still works.
    assert sign_up(client).status_code == 303
    assert "Signed in" in client.get("/account").text


def test_the_form_post_page_names_the_product(app_factory: AppFactory, sqlite_url: str) -> None:
    """OAuth 2.0 Form Post Response Mode: the page a browser sees on its way back to the app
    carries the operator's product name, not ours."""
    settings = make_settings(sqlite_url, BRANDING__PRODUCT_NAME="Acme Sign-in")
    client = app_factory(settings.model_copy(update={"clients": CLIENTS}))
    assert sign_up(client).status_code == 303
    page = client.get(authorize_url(response_mode="form_post"), follow_redirects=False)
    assert page.status_code == 200
    assert "<title>Returning to the application · Acme Sign-in</title>" in page.text
