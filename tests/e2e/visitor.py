"""A person with a browser, reduced to httpx: cookies kept, forms read, redirects not followed
(each test looks at where the server sends them)."""

from __future__ import annotations

import re

import httpx

from tests.e2e.forms import form_fields

__all__ = ["PASSWORD", "Visitor"]

PASSWORD = "correct horse battery staple"
TOKEN_AREA = re.compile(r'<textarea id="token"[^>]*>([^<]+)</textarea>')


class Visitor:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # A browser sends Origin on form posts; the server checks it against Host.
        self.http = httpx.Client(
            base_url=base_url,
            follow_redirects=False,
            timeout=30,
            headers={"user-agent": "authbridge-e2e"},
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def submit(self, page_path: str, action: str, **fields: str) -> httpx.Response:
        """Open the page, fill its form posting to `action` (keeping hidden fields), send it."""
        page = self.http.get(page_path)
        assert page.status_code == 200, f"{page_path}: {page.status_code}"
        data = {**form_fields(page.text, action), **fields}
        return self.http.post(action, data=data, headers={"origin": self.base_url})

    def sign_up(self, email: str, name: str, password: str = PASSWORD) -> httpx.Response:
        return self.submit("/signup", "/signup", email=email, name=name, password=password)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return self.submit("/login", "/login", username=username, password=password)

    def sign_out(self) -> httpx.Response:
        return self.submit("/account", "/logout")

    def account_token(self) -> str:
        page = self.http.get("/account")
        assert page.status_code == 200, page.status_code
        match = TOKEN_AREA.search(page.text)
        assert match, "the signed-in page shows no token"
        return match.group(1).strip()
