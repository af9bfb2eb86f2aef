"""A backend CI must exercise: its tests may not skip, and some must pass.

`tests/require_postgres.py` and `tests/require_redis.py` are the plugins `.ci/run` loads
(`PYTEST_PLUGINS`), one per backend, each registering a `RequiredBackend`, so the README's
test command runs unchanged while CI refuses a green run that never touched the backend
(for instance because its URL variable was lost or the server was down).
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

__all__ = ["RequiredBackend"]


class RequiredBackend:
    """Tests marked `marker` that skip fail instead; a run where none passed fails."""

    def __init__(self, marker: str, label: str) -> None:
        self.marker = marker
        self.label = label
        self.ran: list[str] = []

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if item.get_closest_marker(self.marker) is None:
            return report
        if report.skipped:
            longrepr = report.longrepr
            reason = longrepr[2] if isinstance(longrepr, tuple) else longrepr
            report.outcome = "failed"
            report.longrepr = f"{self.label} test skipped in CI: {reason}"
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Counted where reports are logged: under pytest-xdist that is the controller, which
        # never runs a test itself (a marker's name is one of the report's keywords).
        if report.when == "call" and report.passed and self.marker in report.keywords:
            self.ran.append(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(session.config, "workerinput"):  # an xdist worker: the controller judges
            return
        if exitstatus == 0 and not self.ran and session.testscollected:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.write_line(f"{self.label} tests passed: {len(self.ran)}")
        if not self.ran:
            terminalreporter.write_line(f"FAILED: no {self.label} test ran", red=True)
