"""pytest plugin for CI: a Redis test that skips is a failure, and some must run.

Loaded by `.ci/run` through `PYTEST_PLUGINS=...,tests.require_redis` (as
`tests.require_postgres` is), so a green CI run has exercised the Redis counters against
the real Redis (AUTHBRIDGE_TEST_REDIS_URL), not skipped them because it was down.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

MARKER = "redis"
_ran: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if item.get_closest_marker(MARKER) is None:
        return report
    if report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"Redis test skipped in CI: {reason}"
    elif report.when == "call" and report.passed:
        _ran.append(item.nodeid)
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus == 0 and not _ran and session.testscollected:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(f"Redis tests passed: {len(_ran)}")
    if not _ran:
        terminalreporter.write_line("FAILED: no Redis test ran", red=True)
