"""Log redaction (web/observability.py): secrets never reach a line, an IdP's error codes do."""

from __future__ import annotations

from typing import Any

import pytest

from authbridge.web.observability import redact

REDACTED = "[redacted]"


def _redact(**fields: Any) -> dict[str, Any]:
    return dict(redact(None, "info", {"event": "test", **fields}))


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "new_password",
        "client_secret",
        "access_token",
        "refresh_token",
        "id_token",
        "authorization",
        "cookie",
        "set_cookie",
        "device_code",
        "user_code",
        "auth_code",
        "code_verifier",
        "client_assertion",
        "signing_key",
    ],
)
def test_fields_named_like_a_secret_are_redacted(name: str) -> None:
    assert _redact(**{name: "s3cr3t-value"})[name] == REDACTED


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("code", "invalid_client"),  # a connector's error code
        ("code", "access_denied"),
        ("error", "invalid_grant"),  # RFC 6749 §5.2
        ("error_description", "The refresh token was revoked."),
        ("error_code", "AADSTS50011"),  # Entra's error code
        ("status", "403"),
        ("provider", "okta"),
    ],
)
def test_idp_error_codes_stay_readable(name: str, value: str) -> None:
    assert _redact(**{name: value})[name] == value


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (
            "GET https://app.example/cb?code=SplxlOBeZQQYbYS6WxSbIA&state=af0ifjsldkj",
            "SplxlOBeZQQYbYS6WxSbIA",
            "https://app.example/cb?code=",
        ),
        ("state=xyz&code=abc123&error=access_denied", "abc123", "error=access_denied"),
        ("#access_token=2YotnFZFEjr1zCsicMWpAA&token_type=Bearer", "2YotnFZFEjr1", "token_type"),
        ("header Authorization: Bearer mF_9.B5f-4.1JqM was refused", "mF_9.B5f-4.1JqM", "refused"),
        ("Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW", "czZCaGRSa3F0MzpnWDFmQmF0M2JW", "Basic"),
        ("token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln here", "eyJzdWIiOiJhIn0", "here"),
    ],
)
def test_secrets_inside_text_are_cut_out(text: str, secret: str, kept: str) -> None:
    for field in ("detail", "exception", "event"):
        out = _redact(**{field: text})[field]
        assert secret not in out
        assert kept in out
        assert REDACTED in out


def test_an_idp_error_with_its_description_survives_whole() -> None:
    line = _redact(
        code="invalid_request",
        detail="AADSTS900144: The request body must contain the parameter client_id.",
    )
    assert line["code"] == "invalid_request"
    assert line["detail"] == "AADSTS900144: The request body must contain the parameter client_id."
