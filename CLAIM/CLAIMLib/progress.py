"""Progress for long jobs: a tqdm bar for people, or JSON lines for the Slicer runner.

``CLAIM_PROGRESS=json`` makes every step print ``{"progress": 0.42, "stage": "..."}`` on stdout, one line per
event, which ``runner.py`` (used by the Slicer modules) reads; ``CLAIM_PROGRESS=none`` silences it.
"""
from __future__ import annotations

import json
import os
import sys

from tqdm import tqdm


def mode() -> str:
    return os.environ.get("CLAIM_PROGRESS", "bar").lower()


def emit(progress: float, stage: str, **extra) -> None:
    if mode() == "json":
        print(json.dumps({"progress": round(float(progress), 4), "stage": stage, **extra}), flush=True)


def track(iterable, total: int | None = None, stage: str = ""):
    """Iterate with progress reporting in the current mode."""
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    m = mode()
    if m == "json":
        emit(0.0, stage)
        for i, item in enumerate(iterable):
            yield item
            emit((i + 1) / total if total else 0.0, stage)
    elif m == "none":
        yield from iterable
    else:
        # disable=None: a bar on a terminal, nothing in a log file
        yield from tqdm(iterable, total=total, desc=stage, file=sys.stderr, leave=False, disable=None)
