"""The browser review's findings on the existing pages (issue 14 part 4), each pinned: the
app's `next` survives sign-up, pages name the app that asked, errors point at the failing
field, colours keep 4.5:1, end users see no operator diagnostics, backticks render as code,
and the device page's Allow and Deny do not touch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import authbridge.web
from tests.conftest import make_settings
from tests.provider.conftest import CLIENTS
from tests.provider.test_authorize import authorize_url
from tests.web.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up

STYLE = Path(authbridge.web.__file__).parent / "static/style.css"


@pytest.fixture
def op(app_factory: AppFactory, sqlite_url: str) -> TestClient:
    return app_factory(make_settings(sqlite_url).model_copy(update={"clients": CLIENTS}))


def _input(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]* name="{name}"[^>]*>', html)
    assert match, f"no input {name}"
    return match.group(0)


def test_sign_up_from_an_apps_login_returns_to_the_app(op: TestClient) -> None:
    back = authorize_url()
    login = op.get("/login", params={"next": back})
    link = re.search(r'<a href="(/signup\?next=[^"]+)">Create one</a>', login.text)
    assert link, "the sign-up link dropped next"
    form = op.get(link.group(1).replace("&amp;", "&"))
    assert f'name="next" value="{back.replace("&", "&amp;")}"' in form.text
    created = op.post(
        "/signup",
        data={
            "email": "ada@example.com",
            "password": PASSWORD,
            "next": back,
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303 and created.headers["location"] == back
    # ... and the authorization then completes for the new account, back at the app.
    answer = op.get(back, follow_redirects=False)
    assert answer.headers["location"].startswith("https://rp.example/callback?code=")


def test_sign_up_refuses_an_offsite_next(op: TestClient) -> None:
    form = op.get("/signup?next=//evil.example/")
    assert "evil.example" not in form.text
    created = op.post(
        "/signup",
        data={
            "email": "a@example.com",
            "password": PASSWORD,
            "next": "https://evil.example/",
            "csrf_token": csrf(form.text),
        },
        follow_redirects=False,
    )
    assert created.headers["location"] == "/account"


def test_login_and_sign_up_pages_name_the_app_that_asked(op: TestClient) -> None:
    for page in ("/login", "/signup"):
        html = op.get(page, params={"next": authorize_url()}).text
        assert re.search(r'id="app-name">[^<]*<strong>Web app</strong>', html), page
        unknown = op.get(page, params={"next": authorize_url(client_id="nobody")}).text
        assert 'id="app-name"' not in unknown


def test_logout_page_names_the_app_that_asked(op: TestClient) -> None:
    sign_up(op)
    page = op.get("/oauth2/logout", params={"client_id": "webapp"})
    assert page.status_code == 200
    assert '<strong id="app-name">Web app</strong> asks to sign you out' in page.text
    assert "An application asks" in op.get("/oauth2/logout").text


def test_a_wrong_password_marks_and_focuses_the_password(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    page = sign_in(client, password="not the right one")
    password, username = _input(page.text, "password"), _input(page.text, "username")
    assert 'aria-invalid="true"' in password and 'aria-describedby="form-error"' in password
    assert "autofocus" in password
    assert "aria-invalid" not in username and "autofocus" not in username


def test_sign_up_errors_point_at_the_failing_field(client: TestClient) -> None:
    weak = sign_up(client, password="short")
    assert weak.status_code == 400
    password = _input(weak.text, "password")
    assert 'aria-invalid="true"' in password and "autofocus" in password
    assert 'aria-describedby="form-error password-help"' in password
    assert "autofocus" not in _input(weak.text, "email")
    sign_up(client, email="taken@example.com")
    client.cookies.clear()
    taken = sign_up(client, email="taken@example.com")
    email = _input(taken.text, "email")
    assert 'aria-invalid="true"' in email and "autofocus" in email
    assert "aria-invalid" not in _input(taken.text, "password")


def test_password_change_errors_point_at_the_failing_field(client: TestClient) -> None:
    sign_up(client)
    form = client.get("/account/password")
    assert "At least 8 characters" in form.text  # the policy is shown
    wrong = client.post(
        "/account/password",
        data={
            "current_password": "nope",
            "new_password": "a long new passphrase",
            "csrf_token": csrf(form.text),
        },
    )
    assert 'aria-invalid="true"' in _input(wrong.text, "current_password")
    assert "aria-invalid" not in _input(wrong.text, "new_password")
    weak = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "password",
            "csrf_token": csrf(form.text),
        },
    )
    assert 'aria-invalid="true"' in _input(weak.text, "new_password")


def test_error_text_and_disabled_button_keep_aa_contrast() -> None:
    from authbridge.config.branding import DARK_BACKGROUND, contrast

    css = STYLE.read_text()
    dark = re.search(r"prefers-color-scheme: dark\)\s*{([^}]*)}", css)
    assert dark, "no dark-scheme colours"
    error = re.search(r"--error:\s*(#[0-9a-fA-F]{6})", dark.group(1))
    assert error and contrast(error.group(1), DARK_BACKGROUND) >= 4.5
    muted = re.search(r"--muted-bg:\s*(#[0-9a-fA-F]{6})", css)
    disabled = re.search(r"\.disabled\s*{[^}]*background:\s*var\(--muted-bg\)", css)
    assert muted and disabled and contrast(muted.group(1), "#ffffff") >= 4.5


def test_idp_down_pages_keep_operator_diagnostics_in_the_log(
    app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = app_factory(
        AUTH__OPENID_CONNECT__CORP__ENABLED="true",
        AUTH__OPENID_CONNECT__CORP__CLIENT_ID="x",
        AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL="http://127.0.0.1:9/.well-known/x",
    )
    capsys.readouterr()
    page = client.get("/v1/oauth/start?provider=corp", headers={"accept": "text/html"})
    assert page.status_code >= 500
    assert "reached" in page.text or "answer" in page.text
    for internal in ("127.0.0.1", "HTTPS_PROXY", "NO_PROXY", "proxy"):
        assert internal not in page.text, internal
    reference = page.headers["x-request-id"]
    assert f"<code>{reference}</code>" in page.text
    captured = capsys.readouterr()  # stdout, or stderr once a CLI test configured logging
    logged = captured.out + captured.err
    assert "127.0.0.1:9" in logged and reference in logged  # the operator still learns it


def test_backticks_render_as_code_not_literally(client: TestClient) -> None:
    expired = client.get("/v1/oauth/callback/?state=stale&code=x")
    assert expired.status_code == 400 and "Sign-in link expired" in expired.text
    assert "`" not in expired.text
    gone = client.get("/setup?token=not-a-token")
    assert "<code>authbridge setup-link</code>" in gone.text and "`" not in gone.text


def test_code_spans_escape_everything_else() -> None:
    from authbridge.web.rendering import code_spans

    assert str(code_spans("run `a<b>` & <i>x</i>")) == (
        "run <code>a&lt;b&gt;</code> &amp; &lt;i&gt;x&lt;/i&gt;"
    )


def test_device_allow_and_deny_are_separate_targets(op: TestClient) -> None:
    sign_up(op)
    started = op.post(
        "/oauth2/device_authorization", data={"client_id": "native", "scope": "openid"}
    ).json()
    page = op.get("/device", params={"user_code": started["user_code"]})
    actions = re.search(r'<div class="actions">(.*?)</div>', page.text, re.S)
    assert actions and "Allow" in actions.group(1) and "Deny" in actions.group(1)
    assert 'class="link"' not in actions.group(1)  # a text link touching Allow
    css = STYLE.read_text()
    gap = re.search(r"\.actions\s*{[^}]*gap:\s*([\d.]+)rem", css)
    assert gap and float(gap.group(1)) * 16 >= 24  # WCAG 2.5.8 spacing
