"""Slicer side of CLAIM, an edge of the layers: edges (``CLAIMLib/cli.py`` + ``CLAIMLib/commands/``, and this
package) -> workflows (``CLAIMLib/workflows/``) -> core. It converts MRML nodes to and from plain CLAIMLib objects
(``mrml``), holds the modules' Logic classes (``logic``: nodes in, CLAIMLib calls, nodes out; ``jobs``: the long
ones as child processes), what the panels' buttons do (``handlers``, with their Slicer-only ``services`` passed
in), the Qt pieces (``widgets``, ``bullseye_picker``, ``qtcompat``, ``signals``), the panels' parameter-node
plumbing (``panel``), the sample data (``sampledata``), the Python packages (``dependencies``) and the self-tests'
helpers (``selftest``). Only the module files (``CLAIM.py``, ``SMILEMaskEditor.py``), Slicer scripts and the tests
import it; CLAIMLib never does. It imports ``slicer`` and ``vtk`` as slicer-core offers them, so it runs inside
3D Slicer and under pytest with the ``slicer-core`` package (real MRML classes, no GUI); ``qt`` (PySide6 in the
tests) only in the Qt pieces, and ``ctk`` nowhere.
"""
