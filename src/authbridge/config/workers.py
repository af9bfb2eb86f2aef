"""How many worker processes `server.workers: auto` means: the CPUs this process may really use.

`os.cpu_count()` is the machine's CPUs, not this process's: a container limited to 2 CPUs
on a 64-core node sees 64, and 64 workers there would each get 1/32 of a CPU while costing
a whole worker's memory. Two limits are read, and the smaller wins:

* the CPU affinity mask (`os.sched_getaffinity`, sched_setaffinity(2)): `taskset`, cpusets,
  Kubernetes' static CPU manager;
* the cgroup v2 CPU bandwidth quota (`/sys/fs/cgroup/cpu.max`, "$MAX $PERIOD", the kernel's
  Documentation/admin-guide/cgroup-v2.rst "cpu.max"): Docker's `--cpus`, Kubernetes'
  `resources.limits.cpu`. "max 100000" is no limit; "150000 100000" is 1.5 CPUs, rounded up
  to 2 (a worker more than the quota costs memory; one less leaves the quota unused).

At least 1, whatever the limits say.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

__all__ = [
    "CPU_MAX",
    "Workers",
    "cpu_quota",
    "cpus_from",
    "parse_cpu_max",
    "usable_cpus",
    "worker_count",
]

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")

Workers = int | Literal["auto"]


def parse_cpu_max(text: str) -> float | None:
    """CPUs allowed by a cgroup v2 `cpu.max` text ("$MAX $PERIOD"), or None when unlimited
    ("max ...") or unreadable (a malformed file is no limit rather than a crash)."""
    fields = text.split()
    if not fields or fields[0] == "max":
        return None
    try:
        quota = int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else 100_000  # the kernel's default period
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / period


def cpu_quota(path: Path = CPU_MAX) -> float | None:
    """The cgroup v2 CPU quota of this process's cgroup, or None (no limit, or no cgroup v2:
    inside a container the namespace makes `/sys/fs/cgroup` the container's own cgroup)."""
    try:
        return parse_cpu_max(path.read_text(encoding="ascii"))
    except OSError:
        return None


def _affinity() -> int:
    getaffinity = getattr(os, "sched_getaffinity", None)  # Linux only
    if getaffinity is not None:
        return len(getaffinity(0))
    return os.cpu_count() or 1


def cpus_from(affinity: int, quota: float | None) -> int:
    """The CPUs a process may use given its affinity mask's size and its cgroup quota
    (None: unlimited): the mask, capped by the quota rounded up; at least 1."""
    cpus = affinity if quota is None else min(affinity, math.ceil(quota))
    return max(1, cpus)


def usable_cpus() -> int:
    """The CPUs this process may use, read from the system (see the module's text)."""
    return cpus_from(_affinity(), cpu_quota())


def worker_count(workers: Workers) -> int:
    """`server.workers` as a number of processes: "auto" is `usable_cpus()`."""
    return usable_cpus() if workers == "auto" else workers
