"""Malformed input on every admin API operation that takes a body: never a 5xx, never a
stack trace; always an RFC 9457 problem document."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.web.api.conftest import Api

BODIES: list[tuple[str, bytes]] = [
    ("not-json", b"{nope"),
    ("deep", b"[" * 50000 + b"]" * 50000),
    ("deep-object", b'{"a":' * 20000 + b"1" + b"}" * 20000),
    ("array", b"[1,2,3]"),
    ("null", b"null"),
    ("huge-string", b'{"name":"' + b"A" * 2_000_000 + b'"}'),
    ("nul", b'{"name":"a\\u0000b","email":"a\\u0000@x.io","role":"\\u0000"}'),
    ("lone-surrogate", b'{"name":"\\ud800","email":"\\udfff@x.io"}'),
    ("bad-utf8", b'{"name":"\xff\xfe"}'),
    ("wrong-types", b'{"name":1,"email":[],"role":{},"roleBindings":"x","teams":7}'),
    ("huge-number", b'{"previousSecretExpiresIn":1' + b"0" * 5000 + b',"lifetime":1e999}'),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'a.db'}"
    with started_clients() as start:
        yield Api(start(create_app(make_settings(url)), raise_server_exceptions=False))


def _operations(api: Api) -> list[tuple[str, str]]:
    spec = api.client.get("/api/v1/openapi.json")
    if spec.status_code != 200:
        spec = api.client.get("/openapi.json")
    found = []
    for path, item in spec.json()["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in item.items():
            if method in ("post", "put", "patch") and "requestBody" in op:
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


def test_malformed_bodies_get_problem_documents(api: Api) -> None:
    operations = _operations(api)
    assert len(operations) >= 8
    failures = []
    for method, path in operations:
        for name, body in BODIES:
            r = api.request(
                method,
                path,
                content=body,
                headers={"content-type": "application/json", "if-match": '"x"'},
            )
            if r.status_code >= 500 or "Traceback" in r.text:
                failures.append((method, path, name, r.status_code, r.text[:200]))
            elif r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), (
                    method,
                    path,
                    name,
                    r.text[:200],
                )
    assert not failures, failures
