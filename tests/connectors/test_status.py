"""A connector's status from what is already known (connectors/status.py): configuration
errors and the discovery cache's failure first, then the last observed call; nothing
known is `unknown`, never a probe."""

from __future__ import annotations

from types import SimpleNamespace

from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.status import UpstreamRecorder, status_of


def _connector(**extra: object) -> SimpleNamespace:
    return SimpleNamespace(id="corp", type_name="oidc", **extra)


def test_nothing_known_is_unknown_and_the_mock_is_ok() -> None:
    recorder = UpstreamRecorder()
    assert status_of(_connector(), recorder).status == "unknown"
    assert status_of(SimpleNamespace(id="mock", type_name="mock"), recorder).status == "ok"


def test_the_last_call_decides_and_the_last_failure_stays_visible() -> None:
    seen: list[tuple[str, str | None]] = []
    recorder = UpstreamRecorder(lambda c, _s, e: seen.append((c, e)))
    recorder("corp", 0.1, "timeout")
    failing = status_of(_connector(), recorder)
    assert (failing.status, failing.last_error) == ("failing", "timeout")
    recorder("corp", 0.1, None)
    ok = status_of(_connector(), recorder)
    assert (ok.status, ok.last_error) == ("ok", "timeout") and ok.last_error_at is not None
    # A 4xx is the caller's request (a stale code), not the IdP failing.
    recorder("corp", 0.1, "http_4xx")
    assert status_of(_connector(), recorder).status == "ok"
    # The metrics still hear every call.
    assert seen == [("corp", "timeout"), ("corp", None), ("corp", "http_4xx")]


def test_configuration_and_discovery_problems_come_first() -> None:
    recorder = UpstreamRecorder()
    recorder("corp", 0.1, None)
    problem = ProviderUnavailable("down", code="idp_unreachable")
    cached = _connector(config_error=None, discovery=SimpleNamespace(problem=problem))
    status = status_of(cached, recorder)
    assert (status.status, status.last_error) == ("failing", "idp_unreachable")
    broken = _connector(config_error=ProviderUnavailable("bad", code="idp_misconfigured"))
    assert status_of(broken, recorder).last_error == "idp_misconfigured"
