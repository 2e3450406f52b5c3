"""The two differences between Slicer's ``qt`` (PythonQt) and PySide6 that the panels meet, written once.

Imports nothing: callers pass the Qt objects. ``widgets`` uses these; tests run the widgets under PySide6
(``tests/qt_shim.py``).
"""
from __future__ import annotations


def value(obj, name):
    """``obj.name()`` under PySide6, ``obj.name`` under PythonQt (where a Q_PROPERTY hides its getter)."""
    v = getattr(obj, name)
    return v() if callable(v) else v


def enum(owner, name: str, scope: str):
    """``owner.name`` (PythonQt and Qt5-style unscoped enums) or ``owner.scope.name`` (Qt6-style scoped enums)."""
    found = getattr(owner, name, None)
    return found if found is not None else getattr(getattr(owner, scope), name)
