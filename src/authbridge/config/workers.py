"""How many worker processes `server.workers: auto` means: the CPUs this process may really
use, as many as its memory limit has room for.

`os.cpu_count()` is the machine's CPUs, not this process's: a container limited to 2 CPUs
on a 64-core node sees 64, and 64 workers there would each get 1/32 of a CPU while costing
a whole worker's memory. Three limits are read, and the smallest wins:

* the CPU affinity mask (`os.sched_getaffinity`, sched_setaffinity(2)): `taskset`, cpusets,
  Kubernetes' static CPU manager;
* the cgroup v2 CPU bandwidth quota (`/sys/fs/cgroup/cpu.max`, "$MAX $PERIOD", the kernel's
  Documentation/admin-guide/cgroup-v2.rst "cpu.max"): Docker's `--cpus`, Kubernetes'
  `resources.limits.cpu`. "max 100000" is no limit; "150000 100000" is 1.5 CPUs, rounded up
  to 2 (a worker more than the quota costs memory; one less leaves the quota unused);
* the cgroup v2 memory limit (`/sys/fs/cgroup/memory.max`, bytes or "max"): Kubernetes'
  `resources.limits.memory`. Many clusters set no CPU limit on purpose (only a request), and
  there the affinity mask is the whole node: the Helm chart's pod (512Mi, no CPU limit) on a
  64-core node would start 64 workers of about 137 MB each and be OOM-killed at start. So
  `auto` plans `WORKER_MEMORY` per worker and one more for the supervising parent and
  multiprocessing's resource tracker (about 58 MB together) and the headroom of all: N
  workers need (N + 1) x WORKER_MEMORY, and one process (no parent) needs one.

At least 1, whatever the limits say; and 1 on the embedded SQLite default without Redis
(`worker_count`: no change bus between processes there). Inside a container the cgroup
namespace makes `/sys/fs/cgroup` the container's own cgroup; without cgroup v2 only the
affinity counts.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

__all__ = [
    "CPU_MAX",
    "MEMORY_MAX",
    "WORKER_MEMORY",
    "Workers",
    "cpu_quota",
    "memory_limit",
    "parse_cpu_max",
    "parse_memory_max",
    "plan_workers",
    "shares_changes",
    "usable_cpus",
    "worker_count",
]

CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
MEMORY_MAX = Path("/sys/fs/cgroup/memory.max")
# What `auto` plans per process: an idle worker of the default `serve` measures about 137 MB
# RSS (bench/README.md, "bench_workers.py"), and load adds buffers and caches on top.
WORKER_MEMORY = 192 * 1024 * 1024

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


def parse_memory_max(text: str) -> int | None:
    """Bytes allowed by a cgroup v2 `memory.max` text, or None when unlimited ("max") or
    unreadable."""
    value = text.strip()
    if not value.isdigit():
        return None
    return int(value) or None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii")
    except OSError:  # no cgroup v2 (or not mounted): no limit known
        return ""


def cpu_quota(path: Path = CPU_MAX) -> float | None:
    """The cgroup v2 CPU quota of this process's cgroup in CPUs, or None (no limit)."""
    return parse_cpu_max(_read(path))


def memory_limit(path: Path = MEMORY_MAX) -> int | None:
    """The cgroup v2 memory limit of this process's cgroup in bytes, or None (no limit)."""
    return parse_memory_max(_read(path))


def _affinity() -> int:
    getaffinity = getattr(os, "sched_getaffinity", None)  # Linux only
    if getaffinity is not None:
        return len(getaffinity(0))
    return os.cpu_count() or 1


def plan_workers(affinity: int, quota: float | None, memory: int | None) -> int:
    """Workers for `auto` given the affinity mask's size, the CPU quota (CPUs, None: none)
    and the memory limit (bytes, None: none): the CPUs, capped by the quota rounded up and
    by what the memory holds; at least 1."""
    workers = affinity if quota is None else min(affinity, math.ceil(quota))
    if memory is not None and workers > 1:
        # N > 1 workers run beside their parent: N + 1 processes.
        workers = min(workers, memory // WORKER_MEMORY - 1)
    return max(1, workers)


def usable_cpus() -> int:
    """The CPUs this process may use (affinity and CPU quota), read from the system."""
    return plan_workers(_affinity(), cpu_quota(), None)


def shares_changes(database_url: str, redis_url: str | None) -> bool:
    """Whether processes on this database see each other's changes at once: Redis pub/sub
    or PostgreSQL LISTEN/NOTIFY (`storage.notify.change_bus` picks the same way); SQLite's
    bus is in-process only."""
    return bool(redis_url) or not database_url.startswith("sqlite")


def worker_count(workers: Workers, *, changes_shared: bool = True) -> int:
    """`server.workers` as a number of processes: a number is taken as given; "auto" is
    planned from the system's limits (see the module's text) when the processes share a
    change bus (`changes_shared`: PostgreSQL's LISTEN/NOTIFY or Redis), and is 1 when they
    would not: on SQLite alone changes reach only the process that made them at once (a
    SCIM credential revoked in the console through one worker would be accepted by the
    others until their 30 s reload), and writes queue on one file whatever the workers."""
    if workers != "auto":
        return workers
    if not changes_shared:
        return 1
    return plan_workers(_affinity(), cpu_quota(), memory_limit())
