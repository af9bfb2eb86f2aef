"""An unconfigured issuer follows the listener (issue 15): `server.port`/`server.host` in the
file, or `serve --host/--port`, move it; a configured issuer never moves."""

from __future__ import annotations

from authbridge.config import Settings


def test_default_issuer_is_the_listener() -> None:
    assert Settings().server.issuer == "http://localhost:8080"
    settings = Settings.model_validate({"server": {"port": 9000}})
    assert settings.server.issuer == "http://localhost:9000"
    settings = Settings.model_validate({"server": {"host": "::1", "port": 9000}})
    assert settings.server.issuer == "http://[::1]:9000"


def test_listening_on_moves_only_an_unconfigured_issuer() -> None:
    server = Settings().server.listening_on("127.0.0.1", 18090)
    assert (server.issuer, server.host, server.port) == (
        "http://127.0.0.1:18090",
        "127.0.0.1",
        18090,
    )
    assert Settings().server.listening_on("0.0.0.0", 18090).issuer == "http://localhost:18090"
    configured = Settings.model_validate({"server": {"issuer": "https://auth.example.com/"}})
    moved = configured.server.listening_on(None, 18090)
    assert (moved.issuer, moved.port) == ("https://auth.example.com", 18090)
