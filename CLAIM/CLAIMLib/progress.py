"""Progress for long jobs: a tqdm bar for people, or JSON lines for the Slicer runner; and ``quiet``, which sends a
library's own output (nnU-Net's) to a log file while the terminal keeps CLAIM's progress.

``CLAIM_PROGRESS=json`` makes every step print ``{"progress": 0.42, "stage": "..."}`` on stdout, one line per
event, which ``runner.py`` (used by the Slicer modules) reads; ``CLAIM_PROGRESS=none`` silences it.
``CLAIM_VERBOSE=1`` (the commands' ``--verbose``) lets everything through to the terminal.

``ctrl_c`` (the ``claim`` command's) makes a Ctrl-C stop the job even when a C extension swallows the
KeyboardInterrupt: every progress step raises it again.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time

from tqdm import tqdm

_TERMINAL = []  # (stdout, stderr) of the terminal while ``quiet`` sends fds 1 and 2 elsewhere
_INTERRUPTED = []  # the SIGINTs ``ctrl_c`` saw


def mode() -> str:
    return os.environ.get("CLAIM_PROGRESS", "bar").lower()


def verbose() -> bool:
    return os.environ.get("CLAIM_VERBOSE", "") not in ("", "0")


def terminal():
    """(stdout, stderr) as the user sees them, also inside ``quiet``."""
    return _TERMINAL[-1] if _TERMINAL else (sys.stdout, sys.stderr)


def _on_sigint(signum, frame):
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def check_interrupt() -> None:
    """Raise KeyboardInterrupt when ``ctrl_c`` saw a SIGINT (called at every progress step)."""
    if _INTERRUPTED:
        raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c():
    """Within the block, SIGINT raises KeyboardInterrupt as Python's own handler does, and is remembered: some C
    extensions swallow an exception raised by a signal handler while they run (numpy 2.4's ``Generator.choice``
    does, most of the time), so the next progress step, or the end of the block, raises it again. An ignored SIGINT
    (``nohup``) or another handler stays as it is; outside the main thread nothing changes."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler or \
            threading.current_thread() is not threading.main_thread():
        yield
        return
    _INTERRUPTED.clear()
    signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
        check_interrupt()  # swallowed after the last progress step: still an interrupted job
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _INTERRUPTED.clear()


def emit(progress: float, stage: str, **extra) -> None:
    """Report progress (JSON lines in the ``json`` mode); a Ctrl-C seen by ``ctrl_c`` stops the job here."""
    check_interrupt()
    if mode() == "json":
        print(json.dumps({"progress": round(float(progress), 4), "stage": stage, **extra}), file=terminal()[0],
              flush=True)


class Stage:
    """One stage of a long job with a known number of steps: a bar with an ETA on the terminal (``info`` as its
    postfix), or JSON lines carrying the same (``eta_s`` and ``info``) for the Slicer runner."""

    def __init__(self, name: str, total: int, done: int = 0):
        self.name, self.total, self.done, self.start, self.start_done = name, max(int(total), 1), int(done), \
            time.perf_counter(), int(done)
        self.bar = None
        if mode() == "bar":
            self.bar = tqdm(total=self.total, initial=self.done, desc=name, file=terminal()[1], leave=False,
                            disable=None, dynamic_ncols=True)
        emit(self.done / self.total, name)

    def advance(self, n: int = 1, **info) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.set_postfix(info, refresh=False)
            self.bar.update(n)
        rate = (time.perf_counter() - self.start) / max(self.done - self.start_done, 1)
        emit(self.done / self.total, self.name, eta_s=round(rate * (self.total - self.done), 1), **info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _terminal_stream(stream, fd: int, saved: int):
    """``stream`` when it is not the file descriptor ``fd`` (pytest's capture, Slicer's console), else a new stream
    on ``saved``, the terminal's descriptor kept aside."""
    try:
        if stream.fileno() != fd:
            return stream, False
    except (AttributeError, OSError, ValueError):
        return stream, False
    return os.fdopen(os.dup(saved), "w", buffering=1, errors="replace"), True


@contextlib.contextmanager
def quiet(log=None):
    """Within the block, everything written to stdout and stderr, by Python or C code and by child processes, goes
    to ``log`` (appended; the null device when None); ``terminal()`` still reaches the user, so CLAIM's bars and
    JSON lines show. Nothing changes when ``CLAIM_VERBOSE`` is set, or inside another ``quiet``."""
    if verbose() or _TERMINAL:
        yield
        return
    if log is not None:
        os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    target = open(log if log is not None else os.devnull, "a", buffering=1, errors="replace")
    for s in (sys.stdout, sys.stderr):
        s.flush()
    saved = os.dup(1), os.dup(2)
    streams = [_terminal_stream(sys.stdout, 1, saved[0]), _terminal_stream(sys.stderr, 2, saved[1])]
    old = sys.stdout, sys.stderr
    os.dup2(target.fileno(), 1)
    os.dup2(target.fileno(), 2)
    sys.stdout = sys.stderr = target
    _TERMINAL.append((streams[0][0], streams[1][0]))
    try:
        yield
    finally:
        _TERMINAL.pop()
        target.flush()
        sys.stdout, sys.stderr = old
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        for stream, made in streams:
            if made:
                stream.close()
        target.close()


def track(iterable, total: int | None = None, stage: str = ""):
    """Iterate with progress reporting in the current mode."""
    if total is None:
        try:
            total = len(iterable)
        except TypeError:
            total = None
    if mode() == "bar":  # disable=None: a bar on a terminal, nothing in a log file
        iterable = tqdm(iterable, total=total, desc=stage, file=terminal()[1], leave=False, disable=None)
    emit(0.0, stage)
    for i, item in enumerate(iterable):
        yield item
        emit((i + 1) / total if total else 0.0, stage)
