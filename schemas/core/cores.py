"""The CPU cores this process may run on: what a count of worker processes set to 0 means
(the API's workers, the evaluator's processes)."""

from __future__ import annotations

import os

__all__ = ["usable_cores"]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one, else
    every core); at least 1. A container's CPU limit is not an affinity: set the count
    explicitly there."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1
