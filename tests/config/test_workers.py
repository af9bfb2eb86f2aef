"""`server.workers` (issue 18): a positive integer or "auto", and what "auto" resolves to from
the CPU affinity, the cgroup v2 CPU quota and the cgroup v2 memory limit.

The cgroup texts are the kernel's formats (Documentation/admin-guide/cgroup-v2.rst):
`cpu.max` is "$MAX $PERIOD" with "max" for no limit (what Docker writes for `--cpus 2` is
"200000 100000"), `memory.max` is bytes or "max".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from authbridge.config import ConfigError, Settings, load_settings
from authbridge.config import workers as workers_module
from authbridge.config.workers import (
    WORKER_MEMORY,
    cpu_quota,
    memory_limit,
    parse_cpu_max,
    parse_memory_max,
    plan_workers,
    shares_changes,
    worker_count,
)

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        ("max 100000\n", None),  # no limit
        ("200000 100000\n", 2.0),  # docker run --cpus 2
        ("150000 100000\n", 1.5),
        ("50000 100000\n", 0.5),
        ("max\n", None),
        ("", None),  # no cgroup v2
        ("garbage here\n", None),
    ],
)
def test_cpu_max_is_the_quota_over_the_period(text: str, cpus: float | None) -> None:
    assert parse_cpu_max(text) == cpus


@pytest.mark.parametrize(
    ("text", "workers"),
    [("max 100000", 64), ("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)],
)
def test_auto_on_a_64_cpu_node_is_the_quota_rounded_up(text: str, workers: int) -> None:
    assert plan_workers(64, parse_cpu_max(text), None) == workers


def test_the_affinity_mask_caps_a_larger_quota() -> None:
    # taskset -c 0-2 in a container allowed 8 CPUs: 3 CPUs are all it can run on.
    assert plan_workers(3, 8.0, None) == 3
    assert plan_workers(0, None, None) == 1  # at least one, whatever is read


def test_the_memory_limit_caps_the_workers_parent_included() -> None:
    # The Helm chart's pod: 512Mi, no CPU limit, on a 64-core node: one process, not 64
    # (each about 150 MB: 64 would be OOM-killed at start).
    assert parse_memory_max("536870912\n") == 512 * MIB
    assert plan_workers(64, None, 512 * MIB) == 1
    # 1 GiB holds 5 processes of WORKER_MEMORY: 4 workers and their parent.
    assert WORKER_MEMORY == 192 * MIB
    assert plan_workers(64, None, 1024 * MIB) == 4
    assert plan_workers(2, 2.0, 1024 * MIB) == 2  # the CPUs are the smaller limit
    assert plan_workers(64, None, 64 * MIB) == 1
    assert parse_memory_max("max\n") is None


def test_the_cgroup_files_are_read_and_a_missing_one_is_no_limit(tmp_path: Path) -> None:
    cpu, memory = tmp_path / "cpu.max", tmp_path / "memory.max"
    assert cpu_quota(cpu) is None and memory_limit(memory) is None
    cpu.write_text("150000 100000\n")
    memory.write_text("max\n")
    assert cpu_quota(cpu) == 1.5 and memory_limit(memory) is None


def test_auto_reads_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers_module.os, "sched_getaffinity", lambda _pid: set(range(64)))
    monkeypatch.setattr(workers_module, "cpu_quota", lambda: 2.0)
    monkeypatch.setattr(workers_module, "memory_limit", lambda: None)
    assert worker_count("auto") == 2
    monkeypatch.setattr(workers_module, "cpu_quota", lambda: None)
    assert worker_count("auto") == 64
    assert worker_count(3) == 3  # a number is taken as given


def test_auto_is_one_process_where_workers_would_not_share_changes() -> None:
    # SQLite's change bus is in-process only: a SCIM credential revoked through one worker
    # would be accepted by the others until their reload. PostgreSQL or Redis share them.
    assert not shares_changes("sqlite:///authbridge.db", None)
    assert shares_changes("sqlite:///authbridge.db", "redis://cache:6379/0")
    assert shares_changes("postgresql://db/authbridge", None)
    assert worker_count("auto", changes_shared=False) == 1
    assert worker_count(2, changes_shared=False) == 2  # asked for: obeyed


def test_the_default_is_one_process_and_numbers_come_from_the_environment() -> None:
    assert Settings().server.workers == 1
    assert load_settings(None, {"SERVER__WORKERS": "3"}).server.workers == 3
    assert load_settings(None, {"SERVER__WORKERS": "auto"}).server.workers == "auto"
    assert Settings.model_validate({"server": {"workers": 2}}).server.workers == 2


@pytest.mark.parametrize("value", ["0", "-1", "many", "1.5", ""])
def test_a_bad_value_is_one_error_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(None, {"SERVER__WORKERS": value})
    assert [str(issue) for issue in refused.value.issues] == [
        'server.workers: must be a positive integer (worker processes) or "auto" (one per CPU)'
        f" (got {value!r})"
    ]


def test_a_bad_value_in_the_file_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "authbridge.yaml"
    config.write_text("server:\n  workers: true\n")
    with pytest.raises(ConfigError, match=r"^server\.workers: must be a positive integer"):
        load_settings(config, {})


def test_serve_refuses_a_bad_workers_option_before_starting(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["serve", "--workers", "0"], env={"DATABASE__URL": f"sqlite:///{tmp_path}/a.db"}
    )
    assert result.exit_code == 2
    assert 'server.workers: must be a positive integer (worker processes) or "auto"' in (
        result.output
    )
    assert not (tmp_path / "a.db").exists()  # refused before anything was opened
