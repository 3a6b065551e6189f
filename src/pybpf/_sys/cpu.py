"""CPU topology as the kernel sees it (for per-CPU maps and perf buffers)."""

from __future__ import annotations

import functools
import os


def parse_cpulist(text: str) -> list[int]:
    """Parse a kernel cpulist such as ``0-3,5,7-8``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.extend(range(int(lo), int(hi) + 1))
        else:
            cpus.append(int(part))
    return cpus


@functools.lru_cache(maxsize=None)
def possible_cpus() -> list[int]:
    """CPUs in /sys/devices/system/cpu/possible (what per-CPU maps are sized by)."""
    try:
        with open("/sys/devices/system/cpu/possible") as f:
            return parse_cpulist(f.read())
    except OSError:
        return list(range(os.cpu_count() or 1))


@functools.lru_cache(maxsize=None)
def online_cpus() -> list[int]:
    """CPUs in /sys/devices/system/cpu/online (where perf buffers are opened)."""
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return parse_cpulist(f.read())
    except OSError:
        return possible_cpus()


def num_possible_cpus() -> int:
    """Number of slots a per-CPU map value has (max possible CPU + 1)."""
    cpus = possible_cpus()
    return (max(cpus) + 1) if cpus else 1
