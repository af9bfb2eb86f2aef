"""The README's promises, checked: two set-up commands, a config example that validates, and
the config error it shows is the one the CLI prints."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.server import clean_environ, run_cli

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_set_up_has_exactly_two_single_line_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", _section("Set up"), re.S)
    assert len(blocks) == 2
    assert all(len(block.strip().splitlines()) == 1 for block in blocks)
    serve, test = (block.strip() for block in blocks)
    assert serve.endswith("authbridge serve")
    assert test.endswith("python -m pytest")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert f'TEST_COMMAND="{test}"' in ci, ".ci/run must run the README's test command"


def test_configuration_example_is_valid(tmp_path: Path) -> None:
    section = _section("Configuration")
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example
    config = tmp_path / "authbridge.yaml"
    config.write_text(example.group(1), encoding="utf-8")
    result = run_cli(
        ["config", "check", "--config", str(config)], tmp_path, clean_environ(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "0oa1example" in result.stdout


def test_configuration_error_shown_is_what_the_cli_prints(tmp_path: Path) -> None:
    shown = re.search(r"```\n(Configuration error.*?)```", _section("Configuration"), re.S)
    assert shown
    result = run_cli(
        ["config", "check"], tmp_path, clean_environ(tmp_path, AUTH__LOCAL__ENABELD="true")
    )
    assert result.returncode != 0
    printed = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    expected = [line.strip() for line in shown.group(1).splitlines() if line.strip()]
    assert printed == expected
