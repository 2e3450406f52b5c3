"""Run a long ``claim`` job as a child process and follow it without blocking: for the Slicer modules and scripts.

The GUI pattern (as in MONAIAuto3DSeg's process runner): ``start`` launches the child with ``CLAIM_PROGRESS=json``
(so ``progress.emit`` prints ``{"progress": 0.42, "stage": "..."}`` lines on stdout), two daemon threads copy its
stdout and stderr lines into a queue, and a GUI timer calls ``poll()``, which never blocks, to turn the lines into
events. ``cancel()`` kills the whole process tree (a child that started workers of its own takes them with it).

Events are plain dicts:

- ``{"type": "progress", "progress": 0.42, "stage": "sampling", ...}`` for each JSON progress line (extra keys of
  the line are kept; progress is clamped to 0..1);
- ``{"type": "log", "stream": "stdout" | "stderr", "line": "..."}`` for every other line;
- ``{"type": "finished", "returncode": 0, "error": None, "cancelled": False}`` once, last, when the child has
  exited. ``error`` is the one-line problem of a failed job: the last stderr line starting with ``claim: error:``
  (the CLI's way of reporting bad input, exit status 2), else the last stderr line.

Jobs should write to temporary outputs that the caller renames on success; name them in ``outputs`` and a job
that fails or is cancelled leaves none of them behind.

Inside Slicer, ``sys.executable`` is the Slicer application, not a Python interpreter: the module passes the
``PythonSlicer`` executable, ``claim_command(..., python=shutil.which("PythonSlicer"))``.

Pure Python: this module never imports slicer, qt or ctk.
"""
from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_POSIX = os.name == "posix"
ERROR_PREFIX = "claim: error:"


def claim_command(*args, python: str | os.PathLike | None = None) -> list[str]:
    """The argv of ``python -m CLAIMLib ARGS...`` (the ``claim`` CLI).

    ``python`` defaults to ``sys.executable``; the Slicer modules pass the path of ``PythonSlicer``, since inside
    Slicer ``sys.executable`` is the application itself.
    """
    exe = os.fspath(python) if python is not None else sys.executable
    return [exe, "-m", "CLAIMLib", *(os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args)]


def library_env(env: dict | None = None) -> dict:
    """``env`` (default: none extra) with the folder holding CLAIMLib prepended to ``PYTHONPATH``.

    So that ``python -m CLAIMLib`` finds the package where it is not installed (e.g. in a Slicer extension's module
    folder, which Slicer adds to its own ``sys.path``; a child process need not have it on its path).
    """
    out = dict(env or {})
    here = str(Path(__file__).resolve().parents[1])
    current = out.get("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    parts = [p for p in current.split(os.pathsep) if p]
    if here not in parts:
        parts.insert(0, here)
    out["PYTHONPATH"] = os.pathsep.join(parts)
    return out


def remove_outputs(paths) -> list[str]:
    """Delete whichever of ``paths`` exist (files, links or folders). Returns the ones removed."""
    removed = []
    for p in paths or ():
        p = Path(p)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists() or p.is_symlink():
            try:
                p.unlink()
            except OSError:
                pass
        else:
            continue
        if not (p.exists() or p.is_symlink()):
            removed.append(str(p))
    return removed


def parse_progress(line: str) -> dict | None:
    """The progress event of one stdout line, or None when it is not a JSON progress line."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or "progress" not in data:
        return None
    try:
        value = float(data["progress"])
    except (TypeError, ValueError):
        return None
    if value != value:  # NaN
        return None
    return {**data, "type": "progress", "progress": min(1.0, max(0.0, value)), "stage": str(data.get("stage", ""))}


class ProcessRunner:
    """One child process at a time, followed by ``poll()`` from a GUI timer (or ``run`` for scripts).

    ``grace``: seconds ``cancel`` waits after asking the process tree to stop (SIGTERM) before killing it
    (SIGKILL). ``linger``: seconds ``poll`` waits after the child exits for its output pipes to close before it
    reports the end anyway (a grandchild that outlives the child may hold them open).
    """

    def __init__(self, grace: float = 2.0, linger: float = 1.0, log_lines: int = 1000):
        self.grace = float(grace)
        self.linger = float(linger)
        self.log = collections.deque(maxlen=log_lines)  # (stream, line) of the latest job, newest last
        self._proc: subprocess.Popen | None = None
        self._reset()

    def _reset(self):
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._open_streams = 0
        self._pending: list[dict] = []
        self._outputs: list[str] = []
        self._exit_seen: float | None = None
        self._finished = False
        self._cancelled = False
        self._progress = 0.0
        self._stage = ""
        self._returncode: int | None = None
        self._error: str | None = None
        self._last_stderr: str | None = None
        self._last_claim_error: str | None = None
        self.log.clear()

    # ------------------------------------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        """A job was started and has not been reported finished (by ``poll``) or cancelled."""
        return self._proc is not None and not self._finished

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def progress(self) -> float:
        """The latest progress (0..1) seen by ``poll``."""
        return self._progress

    @property
    def stage(self) -> str:
        return self._stage

    @property
    def returncode(self) -> int | None:
        """The child's exit status once finished (negative: killed by that signal on POSIX), else None."""
        return self._returncode

    @property
    def error(self) -> str | None:
        """The one-line error of a failed job (not of a cancelled one), else None."""
        return self._error

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def outputs(self) -> list[str]:
        return list(self._outputs)

    # ------------------------------------------------------------------------------------------------ start
    def start(self, argv, env: dict | None = None, cwd=None, outputs=()) -> "ProcessRunner":
        """Launch ``argv``. ``env`` holds variables added to (overriding) the current environment.

        ``CLAIM_PROGRESS=json`` and unbuffered Python output are always set. ``outputs``: paths the job will create,
        removed if it fails or is cancelled. Raises RuntimeError while a job is running and OSError when the
        program cannot be started (nothing is left running then).
        """
        if self.running:
            raise RuntimeError("a job is already running; cancel it or wait for it to finish")
        self._proc = None
        self._reset()
        self._outputs = [os.fspath(p) for p in outputs or ()]
        child_env = dict(os.environ)
        child_env.update({str(k): str(v) for k, v in (env or {}).items()})
        child_env["CLAIM_PROGRESS"] = "json"
        child_env["PYTHONUNBUFFERED"] = "1"  # log lines arrive as they are printed, not when a buffer fills
        child_env.setdefault("PYTHONIOENCODING", "utf-8")
        kwargs = dict(stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env,
                      cwd=os.fspath(cwd) if cwd is not None else None, text=True, encoding="utf-8",
                      errors="replace", bufsize=1)
        if _POSIX:
            kwargs["start_new_session"] = True  # its own session and process group: cancel kills the group
        else:
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
        self._proc = subprocess.Popen([os.fspath(a) for a in argv], **kwargs)
        for name, stream in (("stdout", self._proc.stdout), ("stderr", self._proc.stderr)):
            t = threading.Thread(target=self._read, args=(name, stream), name=f"claim-runner-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self._open_streams = 2
        return self

    def _read(self, name: str, stream):
        try:
            for line in stream:
                self._queue.put((name, line.rstrip("\r\n")))
        except (OSError, ValueError):  # the pipe was closed under us
            pass
        finally:
            self._queue.put((name, None))  # end of this stream

    # ------------------------------------------------------------------------------------------------ events
    def _handle(self, name: str, line: str | None) -> list[dict]:
        if line is None:
            self._open_streams -= 1
            return []
        self.log.append((name, line))
        if name == "stdout":
            event = parse_progress(line)
            if event is not None:
                self._progress, self._stage = event["progress"], event["stage"]
                return [event]
        elif line.strip():
            self._last_stderr = line.strip()
            if self._last_stderr.startswith(ERROR_PREFIX):
                self._last_claim_error = self._last_stderr
        return [{"type": "log", "stream": name, "line": line}]

    def _drain(self) -> list[dict]:
        events = []
        while True:
            try:
                name, line = self._queue.get_nowait()
            except queue.Empty:
                return events
            events.extend(self._handle(name, line))

    def _finish(self) -> dict:
        rc = self._proc.returncode
        self._returncode = rc
        self._finished = True
        if self._cancelled:
            self._error = None
        elif rc != 0:
            if self._last_claim_error or self._last_stderr:
                self._error = self._last_claim_error or self._last_stderr
            elif rc is not None and rc < 0:
                self._error = f"killed by signal {-rc}"
            else:
                self._error = f"exited with status {rc}"
        if self._cancelled or rc != 0:
            remove_outputs(self._outputs)
        return {"type": "finished", "returncode": rc, "error": self._error, "cancelled": self._cancelled}

    def poll(self) -> list[dict]:
        """The events since the last call, without blocking; the last one is ``finished`` once the job is over."""
        events, self._pending = self._pending, []
        if self._proc is None or self._finished:
            return events  # lines that still trickle in after the end (from a stray grandchild) are dropped
        events.extend(self._drain())
        if self._proc.poll() is not None:
            now = time.monotonic()
            if self._exit_seen is None:
                self._exit_seen = now
            if self._open_streams > 0 and now - self._exit_seen < self.linger:
                return events  # the last lines may still be on their way
            events.extend(self._drain())
            events.append(self._finish())
        return events

    # ------------------------------------------------------------------------------------------------ stop
    def _kill_tree(self):
        proc = self._proc
        if _POSIX:
            pgid = proc.pid  # start_new_session: the child leads its own process group
            _signal_group(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                pass
            # whatever is left of the group (the child, if it ignored SIGTERM, and its own children) dies now;
            # the group ID cannot be reused while any member lives
            _signal_group(pgid, signal.SIGKILL)
        else:
            try:  # /T: the process and every process it started, /F: forcefully
                subprocess.run(["taskkill", "/T", "/F", "/PID", str(proc.pid)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=max(self.grace, 5.0),
                               creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
            except (OSError, subprocess.SubprocessError):
                pass
            if proc.poll() is None:  # no taskkill: at least the child itself
                proc.kill()
        try:
            proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            pass

    def cancel(self) -> None:
        """Kill the job's whole process tree, remove its outputs and mark it cancelled (a no-op when not running).

        Returns within about ``grace`` seconds (at once for a child that stops on SIGTERM); the next ``poll``
        gives the remaining lines and the ``finished`` event, with ``cancelled`` True.
        """
        if not self.running:
            return
        self._cancelled = True
        self._kill_tree()  # even when the child is gone: its children may not be
        for t in self._threads:
            t.join(timeout=1.0)
        if not any(t.is_alive() for t in self._threads):  # never close a pipe that a thread is blocked reading
            for stream in (self._proc.stdout, self._proc.stderr):
                try:
                    stream.close()
                except (OSError, ValueError):
                    pass
        self._pending.extend(self._drain())
        self._pending.append(self._finish())

    def wait(self, timeout: float | None = None, on_event=None, interval: float = 0.05) -> dict:
        """Poll until the job finishes; returns the ``finished`` event. On timeout, cancels and raises TimeoutError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                for event in self.poll():
                    if on_event is not None:
                        on_event(event)
                    if event["type"] == "finished":
                        return event
                if deadline is not None and time.monotonic() > deadline:
                    break
                time.sleep(interval)
        except BaseException:  # Ctrl-C, or an error raised by on_event: leave nothing running
            self.cancel()
            raise
        self.cancel()
        for event in self.poll():
            if on_event is not None:
                on_event(event)
        raise TimeoutError(f"the job did not finish within {timeout:g} s and was cancelled")


def _signal_group(pgid: int, sig) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv, on_event=None, env: dict | None = None, cwd=None, outputs=(), timeout: float | None = None,
        interval: float = 0.05) -> dict:
    """Run a job to the end (blocking, for scripts), calling ``on_event(event)`` for each event.

    Returns the ``finished`` event: ``{"type": "finished", "returncode", "error", "cancelled"}``. A timeout or
    Ctrl-C cancels the job (removing ``outputs``) before raising.
    """
    runner = ProcessRunner()
    runner.start(argv, env=env, cwd=cwd, outputs=outputs)
    return runner.wait(timeout=timeout, on_event=on_event, interval=interval)
