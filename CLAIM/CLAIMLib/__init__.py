"""CLAIMLib: the pure-Python core of the CLAIM 3D Slicer extension.

It never imports slicer, qt, ctk or vtk: the Slicer modules, the ``claim`` command and the tests all call it.
"""
__version__ = "0.1.0"

from .errors import InputError  # noqa: E402,F401
