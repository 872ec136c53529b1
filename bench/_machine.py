"""Facts about the machine a benchmark ran on, for the README's header."""

from __future__ import annotations

import os
import platform
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int  # what `nproc` says: the CPUs this process may run on
    memory_bytes: int
    cpu_model: str
    python: str
    sqlite: str
    disk: str  # filesystem and device holding `path` (fsync cost depends on it)

    def describe(self) -> str:
        return (
            f"{self.cpus} CPUs ({self.cpu_model}), {self.memory_bytes / 2**30:.1f} GiB RAM, "
            f"Python {self.python}, SQLite {self.sqlite}, disk {self.disk}"
        )


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model"):
            return value.strip()
    return platform.processor() or "unknown CPU"


def _disk(path: Path) -> str:
    """The filesystem type and device of the mount that holds `path`."""
    path = path.resolve()
    mounts = [p for p in psutil.disk_partitions(all=True) if path.is_relative_to(p.mountpoint)]
    if not mounts:
        return "unknown"
    mount = max(mounts, key=lambda p: len(p.mountpoint))
    return f"{mount.fstype} on {mount.device}"


def machine(path: Path) -> Machine:
    """This machine; `path` is where the benchmarks write their files."""
    return Machine(
        cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1,
        memory_bytes=psutil.virtual_memory().total,
        cpu_model=_cpu_model(),
        python=f"{platform.python_implementation()} {platform.python_version()}",
        sqlite=sqlite3.sqlite_version,
        disk=_disk(path),
    )
