"""A stand-in for Slicer's ``qt`` module built from PySide6, for testing Qt widgets outside Slicer.

Slicer's ``qt`` (PythonQt) puts every Qt class in one namespace: ``qt.QWidget``, ``qt.QPainter``, ``qt.QColor``,
``qt.Qt``, ... The shim does the same with PySide6's QtCore, QtGui and QtWidgets (and QtTest when present), so a
widget written against ``qt`` runs unchanged. It is not PythonQt: properties are methods here (``w.rect()``, not
``w.rect``) and enums are scoped, so widgets must be written for both (see CLAIMSlicerLib/bullseye_picker.py).

Use ``qt_module()`` inside a fixture that puts it in ``sys.modules["qt"]`` and takes it out again, so that the
other tests' stand-ins for ``qt`` are not disturbed.
"""
from __future__ import annotations

import os
import types


def qt_module() -> types.ModuleType:
    """A module named ``qt`` exposing PySide6's classes flattened; ImportError without PySide6."""
    from PySide6 import QtCore, QtGui, QtWidgets

    parts = [QtCore, QtGui, QtWidgets]
    try:
        from PySide6 import QtTest

        parts.append(QtTest)
    except ImportError:  # not in every PySide6 build
        pass
    qt = types.ModuleType("qt", "PySide6 classes under Slicer's flat 'qt' namespace (test shim)")
    for part in parts:
        for name in dir(part):
            if name.startswith("Q") or name == "Qt":
                setattr(qt, name, getattr(part, name))
    qt.__claim_shim__ = True
    return qt


def application():
    """The process's QApplication, created off screen if there is none yet."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def shimmed(module: str, reloaded=()):
    """Generator for a module-scoped fixture: the shim as ``qt`` while ``module`` (and ``reloaded``) are imported
    afresh under it; yields (qt, the module, QApplication) and puts everything back afterwards. Skips the tests
    when PySide6 is missing."""
    import importlib
    import sys

    import pytest

    try:
        qt = qt_module()
    except ImportError as e:
        pytest.skip(f"PySide6 is not installed ({e}); pip install PySide6-Essentials to test the Qt widgets")
    app = application()
    saved = sys.modules.get("qt")
    names = (module, *reloaded)
    sys.modules["qt"] = qt
    for name in names:
        sys.modules.pop(name, None)
    try:
        yield qt, importlib.import_module(module), app
    finally:
        for name in names:
            sys.modules.pop(name, None)
        if saved is None:
            sys.modules.pop("qt", None)
        else:
            sys.modules["qt"] = saved
