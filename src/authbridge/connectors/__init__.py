"""Upstream identity providers behind one small interface (after Dex's `connector`)."""

from __future__ import annotations

from authbridge.connectors.base import (
    CallbackConnector,
    LoginRequest,
    PasswordConnector,
    RefreshConnector,
    SignupPolicy,
)
from authbridge.connectors.errors import (
    ConnectorError,
    IdTokenInvalid,
    LoginFailed,
    ProviderUnavailable,
)
from authbridge.connectors.identity import Identity
from authbridge.connectors.registry import Connectors, build_connectors

__all__ = [
    "CallbackConnector",
    "ConnectorError",
    "Connectors",
    "IdTokenInvalid",
    "Identity",
    "LoginFailed",
    "LoginRequest",
    "PasswordConnector",
    "ProviderUnavailable",
    "RefreshConnector",
    "SignupPolicy",
    "build_connectors",
]
