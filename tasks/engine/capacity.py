"""How many steps run side by side by default: the cores, and the memory that holds them."""

from __future__ import annotations

import os

STEP_MEMORY = 1.5 * 2**30  # the example's largest step process peaked at 895 MiB (bench/build.py): with room


def jobs() -> int:
    """Steps side by side by default: one per core, as many as the available memory holds."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return cores
    return max(1, min(cores, int(available // STEP_MEMORY)))
