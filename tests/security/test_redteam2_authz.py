"""Red team: `GET /api/v1/authz/roles` (and the provider's own token checks behind it) must
refuse every token the revocation feed refuses. A user's revocation (password change, or a
deactivation later undone) puts the subject on the feed; tokens issued before it that
authbridge does not track per user (refresh and client_credentials grants) were still
answered by authbridge itself while every middleware refused them."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.test_authz_routes import _ready
from tests.web.test_authz_routes import _token as _untracked_token  # no per-user record

PATH = "/api/v1/authz/roles"


def _status(client: TestClient, token: str) -> tuple[int, str]:
    answer = client.get(PATH, headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.headers.get("www-authenticate", "")


def test_a_token_issued_before_the_users_revocation_is_refused(client: TestClient) -> None:
    # Attack: steal an access token, the victim changes the password (every credential of
    # the user revoked, the user stays active): the stolen token must stop working.
    ready = _ready(client)
    user = ready.storage.users.create(username="victim@example.com", roles=["viewer"])
    stolen = _untracked_token(ready, "victim@example.com")
    assert _status(client, stolen)[0] == 200
    ready.revocation.revoke_user(user.id)
    status, challenge = _status(client, stolen)
    assert status == 401 and 'error="invalid_token"' in challenge


def test_a_deactivation_undone_does_not_revive_old_tokens(client: TestClient) -> None:
    ready = _ready(client)
    user = ready.storage.users.create(username="leaver@example.com", roles=["viewer"])
    old = _untracked_token(ready, "leaver@example.com")
    ready.storage.users.set_active(user.id, False)
    ready.revocation.revoke_user(user.id)
    ready.storage.users.set_active(user.id, True)
    assert _status(client, old)[0] == 401


def test_another_scheme_is_a_request_without_bearer_credentials(client: TestClient) -> None:
    # RFC 6750 §3.1: a request "attempted using an unsupported authentication method" lacks
    # authentication information: 401 with a challenge and no error code (RFC 7235 §3.1: a
    # 401 MUST carry WWW-Authenticate), as the middleware answers it.
    answer = client.get(PATH, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="authbridge"'
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_malformed_bearer_request_carries_its_challenge(client: TestClient) -> None:
    # RFC 6750 §3: a request without an access token that enables access MUST be answered
    # with WWW-Authenticate; §3.1's invalid_request is 400 with error="invalid_request".
    answer = client.get(PATH, headers={"Authorization": "Bearer "})
    assert answer.status_code == 400
    assert 'error="invalid_request"' in answer.headers.get("www-authenticate", "")
