"""CLAIMLib stays pure: importing every module pulls in no slicer, qt, ctk or vtk."""
import pkgutil
import re
import subprocess
import sys

from conftest import REPO


def test_no_gui_imports_in_source():
    pattern = re.compile(r"^\s*(import|from)\s+(slicer|qt|ctk|vtk|slicer_core)\b", re.M)
    for path in (REPO / "CLAIM" / "CLAIMLib").rglob("*.py"):
        assert not pattern.search(path.read_text()), path


def test_importing_everything_loads_no_gui_module():
    import CLAIMLib

    names = [m.name for m in pkgutil.walk_packages(CLAIMLib.__path__, "CLAIMLib.")]
    code = ("import importlib, sys\n"
            f"for n in {names!r}: importlib.import_module(n)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('slicer', 'qt', 'ctk', 'vtk', 'vtkmodules')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
