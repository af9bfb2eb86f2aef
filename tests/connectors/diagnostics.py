"""What the operator learns about a failed sign-in: the page shows the person only a
reference (the request id), and the diagnostic goes to the log lines of that request."""

from __future__ import annotations

from typing import Any

import pytest


def explained(capsys: pytest.CaptureFixture[str], response: Any) -> str:
    """The log lines of `response`'s request, after checking the page shows its reference."""
    request_id = response.headers["x-request-id"]
    assert f"<code>{request_id}</code>" in response.text
    # Standard output, or standard error once a command in this worker has configured
    # logging as the CLI does (log lines on stderr).
    captured = capsys.readouterr()
    logged = captured.out + captured.err
    return "\n".join(line for line in logged.splitlines() if request_id in line)
