"""The extension's shape: Slicer template metadata, module CMake files, resources, and module files that load.

The module files are imported with stand-ins for Qt, CTK and Slicer's scripted-module base classes (the real
ones exist only inside Slicer), and their in-Slicer self-tests are run against a slicer-core scene.
"""
import ast
import io
import re
import sys
import types
import unittest

import pytest

from conftest import REPO

MODULES = ("CLAIM", "SMILEMaskEditor")


def test_top_level_layout():
    for rel in ("CMakeLists.txt", "CLAIM", "SMILEMaskEditor", "Resources", "Testing", "README.md", "LICENSE",
                "pyproject.toml", "bench", ".ci/run"):
        assert (REPO / rel).exists(), rel
    assert "Apache License" in (REPO / "LICENSE").read_text()
    cmake = (REPO / "CMakeLists.txt").read_text()
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert re.search(rf"set\({key}\s", cmake), key
    for module in MODULES:
        assert f"add_subdirectory({module})" in cmake
    assert "Slicer_EXTENSION_GENERATE_CONFIG" in cmake and "Slicer_EXTENSION_CPACK" in cmake


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_and_resources(module):
    cmake = (REPO / module / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule" in cmake and "WITH_GENERIC_TESTS" in cmake
    assert (REPO / module / f"{module}.py").is_file()
    assert (REPO / module / "Resources" / "Icons" / f"{module}.png").is_file()
    if module == "CLAIM":  # CLAIMLib and CLAIMSlicerLib are installed with the CLAIM module
        assert "CLAIMLib/*.py" in cmake and "CLAIMSlicerLib/*.py" in cmake


@pytest.mark.parametrize("module", MODULES)
def test_module_file_has_the_four_classes(module):
    tree = ast.parse((REPO / module / f"{module}.py").read_text())
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {module, f"{module}Widget", f"{module}Test"} <= classes
    assert f"{module}Logic" in classes | imported


@pytest.fixture
def fake_slicer_gui(monkeypatch):
    """Stand-ins for qt, ctk and slicer.ScriptedLoadableModule; a real slicer-core scene as slicer.mrmlScene."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("this 'slicer' module has no MRML classes")
    slm = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        pass

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            pass

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=0):
            pass

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(slm, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", slm)
    monkeypatch.setitem(sys.modules, "qt", types.ModuleType("qt"))
    monkeypatch.setitem(sys.modules, "ctk", types.ModuleType("ctk"))
    monkeypatch.setattr(slicer, "mrmlScene", slicer.vtkMRMLScene(), raising=False)
    monkeypatch.syspath_prepend(str(REPO / "SMILEMaskEditor"))
    for name in ("CLAIM", "SMILEMaskEditor", "CLAIMSlicerLib.logic"):
        sys.modules.pop(name, None)
    yield slicer
    for name in ("CLAIM", "SMILEMaskEditor", "CLAIMSlicerLib.logic"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("module", MODULES)
def test_module_loads_and_its_self_test_passes(fake_slicer_gui, module):
    mod = __import__(module)
    parent = types.SimpleNamespace()
    getattr(mod, module)(parent)
    assert parent.title and parent.categories == ["Cardiac"] and parent.helpText
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(getattr(mod, f"{module}Test")))
    assert result.wasSuccessful() and result.testsRun >= 1, result.failures + result.errors
