"""Run every benchmark in this folder, one after the other, with this interpreter.

    python bench/run.py [NAME ...]     # e.g. python bench/run.py signin

Each prints its own figures and ratios against a baseline measured in the same run.
Exits non-zero if any benchmark failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    wanted = sys.argv[1:]
    scripts = sorted(HERE.glob("bench_*.py"))
    if wanted:
        scripts = [s for s in scripts if any(w in s.stem for w in wanted)]
    failed = []
    for script in scripts:
        print(f"\n=== {script.name}", flush=True)
        began = time.monotonic()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"=== {script.name}: exit {result.returncode}, {time.monotonic() - began:.0f}s")
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
