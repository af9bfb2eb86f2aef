"""The account page's self-service: a user cannot end another user's session or app by
naming its id."""

from __future__ import annotations

from fastapi.testclient import TestClient

from authbridge.clock import utcnow
from tests.web.test_pages import csrf, sign_up


def test_ending_another_users_session_by_its_id_does_nothing(client: TestClient) -> None:
    assert sign_up(client, "ada@example.com").status_code == 303
    ada_cookies = dict(client.cookies)
    client.cookies.clear()
    assert sign_up(client, "bob@example.com").status_code == 303
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    ada = ready.storage.users.by_username("ada@example.com")
    [ada_session] = ready.storage.sessions.of_user(ada.id, utcnow())
    token = csrf(client.get("/account").text)
    for path, field in (("/account/sessions/end", "session"), ("/account/apps/end", "grant")):
        r = client.post(
            path, data={field: ada_session.id_hash, "csrf_token": token}, follow_redirects=False
        )
        assert r.status_code == 303 and "notice=gone" in r.headers["location"], r.text
    assert ready.storage.sessions.of_user(ada.id, utcnow())
    client.cookies.clear()
    client.cookies.update(ada_cookies)
    assert client.get("/account", follow_redirects=False).status_code == 200
