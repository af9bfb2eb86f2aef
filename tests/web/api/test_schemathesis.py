"""schemathesis against the live app, from the document it publishes at /api/v1/openapi.json.

Every operation the document lists is fuzzed (positive and negative data, a bounded number of
examples, derandomized so a run is repeatable) over real HTTP with an admin's platform token,
and each response is checked: no 5xx, the status code and content type
documented, the body valid against the documented schema, and data the document calls
invalid refused (4xx). A new route is covered the moment it is published.

`AUTHBRIDGE_SCHEMATHESIS_EXAMPLES` (default 8 per operation and mode) and
`AUTHBRIDGE_SCHEMATHESIS_SECONDS` (default 40, shared evenly; each run sends at least one
example) raise both for a deeper local run.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import requests.auth
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from authbridge.web.app import create_app
from authbridge.web.services import Ready
from tests.conftest import make_settings
from tests.live import serve
from tests.web.api.conftest import mint_token, new_user

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Data the document declares invalid (too long, wrong type, unknown member) must be refused
# with a 4xx: the declared constraints are the enforced ones.
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
EXAMPLES = int(os.environ.get("AUTHBRIDGE_SCHEMATHESIS_EXAMPLES", "8"))
# Seconds for all the examples; each operation and mode gets an even share of what is left.
BUDGET = float(os.environ.get("AUTHBRIDGE_SCHEMATHESIS_SECONDS", "40"))
# Per request: a loaded CI machine is slow, but a request that takes this long is a finding.
TIMEOUT = 10.0


class Admin(requests.auth.AuthBase):
    """The admin's bearer token on every request, set as the request is sent (after
    schemathesis built it, so no generated or dropped Authorization header replaces it:
    refusals are test_authorization.py's subject; here every example is an admin's).

    It survives the run: a fuzzed DELETE or disable that happened to hit its user, or a
    revoked binding, must not turn every later example into a 401 or 403 that hides bugs,
    so either makes a new admin for the next request."""

    def __init__(self, ready: Ready) -> None:
        self.ready = ready
        self.token = ""
        self.reminted = 0

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if not self.token:
            self.token = mint_token(self.ready, new_user(self.ready, "admin"))
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def saw(self, status: int) -> None:
        # 401: its user was disabled or deleted, or its token revoked; 403: its admin
        # binding was revoked (or a rule like "not yourself" refused; a new admin is cheap).
        if status in (401, 403):
            self.token = ""
            self.reminted += 1


@dataclass
class Live:
    url: str
    admin: Admin
    session: requests.Session = field(default_factory=requests.Session)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database: Path = tmp_path_factory.mktemp("schemathesis") / "authbridge.db"
    app = create_app(make_settings(f"sqlite:///{database}"))
    with serve(app) as url:
        ready: Ready = app.state.services.ready()
        admin = Admin(ready)
        with requests.Session() as session:
            session.auth = admin
            yield Live(url, admin, session)


def _operations(live: Live) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(live.url + "/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the document lists no operation"
    return operations


def _only_authorization_is_invalid(case: Case) -> bool:
    """A negative case whose one invalid part is the Authorization header (schemathesis
    reads the bearer scheme as a required header and drops it)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_negative:
        return False
    data = meta.phase.data
    names = {getattr(m, "parameter", None) for m in getattr(data, "mutations", None) or []}
    names.add(getattr(data, "parameter", None))
    names.discard(None)
    return bool(names) and all(str(name).lower() == "authorization" for name in names)


def _report(case: Case, status: int, group: FailureGroup) -> str:
    """What failed, in a few lines each, and how to send the request again (token left out)."""
    lines = [f"{status} to:  {case.as_curl_command(headers={})}"]
    for failure in group.exceptions:
        message = " ".join(str(getattr(failure, "message", failure)).split())
        lines.append(f"{getattr(failure, 'title', type(failure).__name__)}: {message[:300]}")
    return "\n      ".join(lines)


def _first_lines(error: BaseException, lines: int = 12) -> str:
    text = str(error).strip() or type(error).__name__
    return "\n      ".join(text.splitlines()[:lines])


class OutOfTime(Exception):
    """This operation's share of the time budget is spent (not a failure)."""


def _fuzz(
    live: Live, operation: schemathesis.APIOperation, mode: GenerationMode, until: float
) -> int:
    """Runs the examples (until `until`, monotonic); how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the seed is fixed: a failure reproduces on the next run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the budget is bounded
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case) -> None:
        nonlocal sent
        if _only_authorization_is_invalid(case):
            return  # the session's auth puts a valid token back: nothing invalid is left
        if sent and time.monotonic() > until:
            raise OutOfTime
        sent += 1
        response = case.call(base_url=live.url, session=live.session, timeout=TIMEOUT)
        live.admin.saw(response.status_code)
        try:
            checks = NEGATIVE_CHECKS if mode is GenerationMode.NEGATIVE else CHECKS
            case.validate_response(response, checks=checks)
        except FailureGroup as group:
            raise AssertionError(_report(case, response.status_code, group)) from None

    with contextlib.suppress(OutOfTime):
        run()
    return sent


def test_every_published_operation_conforms_to_the_document(live: Live) -> None:
    started = time.monotonic()
    failures: list[str] = []
    runs = [
        (operation, mode)
        for operation in _operations(live)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    sent = 0
    for index, (operation, mode) in enumerate(runs):
        # Each run gets an even share of what is left of the budget (at least one example
        # each), so every operation is reached however many the document lists.
        left = started + BUDGET - time.monotonic()
        until = time.monotonic() + max(left, 0) / (len(runs) - index)
        try:
            sent += _fuzz(live, operation, mode, until)
        except (Exception, BaseExceptionGroup) as error:  # every failure is listed
            failures.append(f"{operation.label} [{mode.value}]: {_first_lines(error)}")
    elapsed = time.monotonic() - started
    print(f"schemathesis: {len(runs)} runs, {sent} requests, {elapsed:.1f} s")
    assert not failures, (
        f"{len(failures)} of {len(runs)} operation runs failed "
        f"({sent} requests, {elapsed:.0f} s):\n  - " + "\n  - ".join(failures)
    )


def test_the_harness_survives_its_admin_being_disabled_or_demoted(live: Live) -> None:
    def status() -> int:
        return live.session.get(live.url + "/api/v1/roles", timeout=TIMEOUT).status_code

    def user() -> str:
        return str(live.admin.ready.provider.access_claims(live.admin.token)["sub"])  # type: ignore[index]

    assert status() == 200
    live.admin.ready.storage.users.set_active(user(), False)
    refused = status()
    assert refused == 401  # a disabled user's token is refused
    live.admin.saw(refused)
    assert status() == 200
    live.admin.ready.bindings.revoke("admin", user_id=user())
    refused = status()
    assert refused == 403  # no longer an admin
    live.admin.saw(refused)
    assert status() == 200
