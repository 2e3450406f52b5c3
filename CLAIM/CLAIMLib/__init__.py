"""CLAIMLib: the pure-Python core of the CLAIM 3D Slicer extension, and its workflows and command.

Three layers live here, imported in one direction: the edge ``cli.py`` + ``commands/`` (the ``claim`` command:
parsing, printing, one-line errors) imports ``workflows/`` (one function per user operation), which imports the core
(every other module and ``diffusion/``, ``segmentation/``, ``joint/``: algorithms on arrays and records). The core
never imports a workflow or an edge. CLAIMLib never imports slicer, qt, ctk or vtk: the Slicer modules (through
``CLAIMSlicerLib``, the other edge), the ``claim`` command and the tests all call it.
"""
__version__ = "0.1.0"

from .errors import InputError  # noqa: E402,F401
