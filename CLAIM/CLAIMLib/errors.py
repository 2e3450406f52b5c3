"""The one error type that the CLI turns into ``claim: error: <file>: <problem>`` and exit status 2."""
from __future__ import annotations

import os


class InputError(Exception):
    """Bad input named by its source (a file, a folder or an option) and a one-line problem."""

    def __init__(self, source, problem: str):
        self.source = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
        self.problem = " ".join(str(problem).split())  # always one line
        super().__init__(f"{self.source}: {self.problem}")
