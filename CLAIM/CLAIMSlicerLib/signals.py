"""A tiny pure-Python signal (after SlicerNNUNet's ``Signal``) for events between the panel layers.

Qt signals are declared differently in PythonQt and PySide6, and the handlers must not need Qt at all; a job
controller's progress and end reach the handlers, and the tests, through these.
"""
from __future__ import annotations


class Signal:
    """``connect(slot)``, ``disconnect(slot)``, ``emit(*args)``: each connected callable is called in order."""

    def __init__(self, *argumentNames: str):
        self.argumentNames = argumentNames  # documentation only: what emit passes
        self._slots: list = []

    def connect(self, slot) -> None:
        if slot not in self._slots:
            self._slots.append(slot)

    def disconnect(self, slot) -> None:
        if slot in self._slots:
            self._slots.remove(slot)

    def emit(self, *args) -> None:
        for slot in list(self._slots):
            slot(*args)
