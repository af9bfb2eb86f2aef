"""RFC 6750 §2.1 header parsing and §3 challenges."""

from __future__ import annotations

import pytest

from authbridge.middleware import InsufficientScope, InvalidRequest, InvalidToken, Reason
from authbridge.middleware.bearer import parse_authorization, www_authenticate


def test_parse_authorization() -> None:
    assert parse_authorization([]) is None
    assert parse_authorization(["Basic abc"]) is None
    assert parse_authorization(["bearer a.b.c"]) == "a.b.c"  # scheme is case-insensitive
    for bad in (["Bearer"], ["Bearer a b"], ["Bearer a,b"], ["Bearer x", "Bearer y"]):
        with pytest.raises(InvalidRequest):
            parse_authorization(bad)


def test_challenges() -> None:
    assert www_authenticate(None, "api") == 'Bearer realm="api"'
    expired = www_authenticate(InvalidToken(Reason.EXPIRED), 'a"pi')
    assert expired == (
        'Bearer realm="api", error="invalid_token", error_description="The token has expired"'
    )
    scope = www_authenticate(InsufficientScope(("read", "write")), "api")
    assert 'error="insufficient_scope"' in scope and 'scope="read write"' in scope
