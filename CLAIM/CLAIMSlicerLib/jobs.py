"""Long CLAIM jobs as child processes: ``PythonSlicer -m CLAIMLib ...`` on temporary files, results read back.

A Logic method that prepares such a job (e.g. ``CLAIMLogic.synthesizeCommand``) writes its input nodes to a
temporary folder and returns a ``CommandJob``: the argv, the output files, and ``finish()``, which reads the outputs
into new nodes. Nothing touches the scene until ``finish()`` runs, so a failed or cancelled job leaves the scene as it
was. The GUI runs the job with ``CLAIMLib.runner.ProcessRunner`` polled by a timer (``widgets.JobController``);
scripts and tests call ``job.run()``.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from CLAIMLib.runner import claim_command, library_env


def oneLine(error) -> str:
    """The message of an exception (or text) on one line: what a job's status and the panels' error boxes show."""
    return " ".join(str(error).split()) or type(error).__name__


def python_executable() -> str:
    """The Python that runs ``-m CLAIMLib``: ``PythonSlicer`` inside Slicer (where ``sys.executable`` is the
    application), else this interpreter."""
    try:
        import slicer

        app = getattr(slicer, "app", None)
    except ImportError:
        app = None
    if app is None:
        return sys.executable
    found = shutil.which("PythonSlicer")  # Slicer puts its bin folder on PATH
    if found:
        return found
    exe = Path(sys.executable).with_name("PythonSlicer" + (".exe" if os.name == "nt" else ""))
    if exe.is_file():
        return str(exe)
    raise RuntimeError("PythonSlicer executable not found")


def temporary_folder(prefix: str = "claim-") -> Path:
    """A new folder under Slicer's temporary path (or the system's)."""
    base = None
    try:
        import slicer

        app = getattr(slicer, "app", None)
        base = app.temporaryPath if app is not None else None
    except ImportError:
        pass
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=base or None))


@dataclass
class CommandJob:
    """One ``claim`` command to run in a child process, and how to turn its outputs into nodes.

    Unpacks as ``argv, outputs, finish = job``. ``finish()`` returns the new node(s); call ``cleanup()`` afterwards
    (``run`` does), whatever happened, to remove the temporary folder.
    """

    argv: list
    outputs: list
    finish_outputs: Callable[[], object]
    workdir: Path
    title: str = "claim"
    env: dict = field(default_factory=library_env)

    def __iter__(self):
        return iter((self.argv, self.outputs, self.finish))

    def finish(self):
        """Read the outputs into the scene (only after the command succeeded)."""
        missing = [p for p in self.outputs if not Path(p).exists()]
        if missing:
            raise RuntimeError(f"{self.title}: the command wrote no {Path(missing[0]).name}")
        return self.finish_outputs()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, runner) -> None:
        """Start the command in a ``CLAIMLib.runner.ProcessRunner``."""
        runner.start(self.argv, env=self.env, outputs=self.outputs)

    def run(self, timeout: float | None = None, on_event=None):
        """Run to the end (blocking) and return ``finish()``'s result; RuntimeError with the one-line error."""
        from CLAIMLib.runner import run

        try:
            end = run(self.argv, on_event=on_event, env=self.env, outputs=self.outputs, timeout=timeout)
            if end["cancelled"]:
                raise RuntimeError(f"{self.title}: cancelled")
            if end["returncode"] != 0:
                raise RuntimeError(end["error"] or f"{self.title}: exited with status {end['returncode']}")
            return self.finish()
        finally:
            self.cleanup()


def claim_argv(*args) -> list:
    """``PythonSlicer -m CLAIMLib ARGS...`` (or this interpreter outside Slicer)."""
    return claim_command(*args, python=python_executable())
