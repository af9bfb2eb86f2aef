"""What each worker of `authbridge serve --workers N` costs in memory, idle.

    python bench/bench_workers.py [--workers 1 2 4] [--idle 3]

For each N: `authbridge serve --workers N` with the default configuration (SQLite file in a
fresh directory), started and polled on `/readyz` until 200 (the time is printed), then left
idle `--idle` seconds; then, for the parent and each of its children, the resident memory
(VmRSS, what `ps -o rss` shows) and the proportional set size (Pss from
/proc/PID/smaps_rollup: shared pages, the Python interpreter's and the libraries' code,
divided among the processes sharing them; the sum of the PSS is what the processes cost
together). With N = 1 there is no parent: the one process serves. With N > 1 the children
are the N workers and multiprocessing's resource tracker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from served import start_server


def _kib(pid: int, path: str, field: str) -> int:
    try:
        text = Path(f"/proc/{pid}/{path}").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def _role(pid: int) -> str:
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return "resource tracker" if "resource_tracker" in cmdline else "worker"


def measure(workers: int, idle: float) -> None:
    with tempfile.TemporaryDirectory() as temp:
        began = time.perf_counter()
        process, _port = start_server(Path(temp), SERVER__WORKERS=str(workers))
        ready = time.perf_counter() - began
        try:
            time.sleep(idle)
            rows = [(process.pid, "serving process" if workers == 1 else "parent")]
            rows += [(pid, _role(pid)) for pid in _children(process.pid)]
            print(f"--workers {workers}: ready in {ready:.1f} s")
            total_rss = total_pss = 0
            for pid, role in rows:
                rss = _kib(pid, "status", "VmRSS") / 1024
                pss = _kib(pid, "smaps_rollup", "Pss") / 1024
                total_rss, total_pss = total_rss + rss, total_pss + pss
                print(f"  {role:<17} pid {pid:>7}  RSS {rss:6.1f} MB  PSS {pss:6.1f} MB")
            print(f"  {'total':<29}  RSS {total_rss:6.1f} MB  PSS {total_pss:6.1f} MB")
        finally:
            process.terminate()
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    for workers in args.workers:
        measure(workers, args.idle)


if __name__ == "__main__":
    main()
