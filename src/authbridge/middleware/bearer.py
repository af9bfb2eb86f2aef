"""RFC 6750 plumbing shared by the adapters: reading the credentials, answering failures.

Only the ``Authorization`` request header field is read (RFC 6750 §2.1). Form-encoded body
parameters (§2.2) and the URI query parameter (§2.3, which leaks tokens into logs) are
deliberately not supported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from .errors import InsufficientScope, InsufficientUserAuthentication, InvalidRequest, TokenError

__all__ = ["error_body", "parse_authorization", "www_authenticate"]

# RFC 6750 §3: error_description and scope values exclude '"' and '\'; we also drop
# control characters so that nothing can break out of the quoted-string.
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 6750 §2.1 b64token.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def _quote(value: str) -> str:
    return _UNSAFE.sub("", value)[:200]


def parse_authorization(values: Sequence[str]) -> str | None:
    """The bearer token of RFC 6750 §2.1, ``None`` when no Bearer credentials were sent.

    Another scheme (say Basic) means "no bearer credentials", answered with a bare
    challenge. Two Authorization headers, or a Bearer value that is not one b64token, are
    an ``invalid_request`` (RFC 6750 §3.1).
    """
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest()
    scheme, _, rest = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = rest.strip()
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest()
    return token


def www_authenticate(error: TokenError | None, realm: str) -> str:
    """The ``WWW-Authenticate`` challenge of RFC 6750 §3.

    RFC 6750 §3.1: a request without any authentication gets no error code.
    """
    parts = [f'realm="{_quote(realm)}"']
    if error is not None and error.error is not None:
        parts.append(f'error="{error.error}"')
        parts.append(f'error_description="{_quote(error.description)}"')
        if isinstance(error, InsufficientScope) and error.scopes:
            parts.append(f'scope="{_quote(" ".join(error.scopes))}"')
        if isinstance(error, InsufficientUserAuthentication):
            # RFC 9470 §3: what the client asks the authorization server for next.
            if error.acr_values:
                parts.append(f'acr_values="{_quote(" ".join(error.acr_values))}"')
            if error.max_age is not None:
                parts.append(f'max_age="{error.max_age}"')
    return "Bearer " + ", ".join(parts)


def error_body(error: TokenError) -> bytes:
    """A small JSON body mirroring the challenge (RFC 6749 §5.2 member names)."""
    body: dict[str, object] = {"error_description": error.description}
    if error.error is not None:
        body = {"error": error.error, **body}
    if isinstance(error, InsufficientUserAuthentication):
        if error.acr_values:
            body["acr_values"] = " ".join(error.acr_values)
        if error.max_age is not None:
            body["max_age"] = error.max_age
    return json.dumps(body).encode()
