"""Instruction counts under valgrind's callgrind, shared by the benches.

The child (a bench run with its `--child-count` flag) marks the span of each contender with
two system calls nothing else in its loop makes: `getppid` zeroes the counters, `getpgrp`
dumps them, so set-up, key generation and warm-up are left out. Its last line of standard
output names the contenders in order, separated by `|` or whitespace. No neighbour on the
machine can move these counts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["instructions"]

_SUMMARY = re.compile(r"^summary: (\d+)", re.MULTILINE)


def instructions(command: list[str]) -> dict[str, int]:
    """Run `command` (the child) under callgrind; each contender's instruction total."""
    out_dir = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    try:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out_dir / 'cg'}",
                "--zero-before=getppid",
                "--dump-before=getpgrp",
                *command,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        last = done.stdout.strip().splitlines()[-1]
        names = last.split("|") if "|" in last else last.split()
        totals = {}
        for index, name in enumerate(names, start=1):
            found = _SUMMARY.search((out_dir / f"cg.{index}").read_text())
            if found is None:
                raise SystemExit(f"callgrind wrote no summary for {name}")
            totals[name] = int(found.group(1))
        return totals
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
