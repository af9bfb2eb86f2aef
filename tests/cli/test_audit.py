"""`authbridge keys rotate` records `key.rotated` before the command exits, and `authbridge
audit list` reads it back through the admin API's service, in its JSON shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> str:
    path = tmp_path / "authbridge.yaml"
    path.write_text(f"database:\n  url: {sqlite_url}\n")
    return str(path)


def test_a_key_rotation_is_audited_and_listed(config: str) -> None:
    rotated = runner.invoke(app, ["keys", "rotate", "--config", config])
    assert rotated.exit_code == 0, rotated.output
    listed = runner.invoke(
        app, ["audit", "list", "--type", "key.", "--output", "json", "--config", config]
    )
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.stdout)
    (event,) = body["items"]
    assert body["nextCursor"] is None
    assert event["type"] == "key.rotated" and event["actor"]["kind"] == "cli"
    assert event["target"]["type"] == "key" and event["details"]["after"]["alg"]
    text = runner.invoke(app, ["audit", "list", "--target", "key", "--config", config])
    assert text.exit_code == 0 and "key.rotated" in text.stdout


def test_bad_filters_exit_2(config: str) -> None:
    bad = runner.invoke(app, ["audit", "list", "--since", "yesterday", "--config", config])
    assert bad.exit_code == 2
    assert runner.invoke(app, ["audit", "list", "--limit", "0", "--config", config]).exit_code == 2
