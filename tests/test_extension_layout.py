"""The extension's shape: Slicer template metadata, module CMake files, resources, .ui files, loadable modules.

The module files are imported with stand-ins for Qt, CTK, Slicer's scripted-module base classes and the parameter
node wrapper (the real ones exist only inside Slicer), and their in-Slicer self-tests are run against a slicer-core
scene: the Logic tests run for real; those that need the Slicer application may skip, saying so. What the panels do
is tested here in CI, not skipped: the handlers in test_slicer_handlers.py, the module files' wiring in
test_module_widgets.py.
"""
import ast
import io
import re
import sys
import types
import unittest
import xml.etree.ElementTree as ET

import pytest

from conftest import REPO

MODULES = ("CLAIM", "SMILEMaskEditor")


def test_top_level_layout():
    for rel in ("CMakeLists.txt", "CLAIM", "SMILEMaskEditor", "Resources", "Testing", "README.md", "LICENSE",
                "pyproject.toml", "bench", ".ci/run", "Testing/README.md"):
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
    assert (REPO / module / "Resources" / "UI" / f"{module}.ui").is_file()
    resources = re.search(r"set\(MODULE_PYTHON_RESOURCES(.*?)\)", cmake, re.S).group(1)
    assert "Resources/UI/${MODULE_NAME}.ui" in resources  # installed beside the module, found by resourcePath
    for item in resources.split():
        assert (REPO / module / item.replace("${MODULE_NAME}", module)).is_file(), item
    if module == "CLAIM":  # CLAIMLib and CLAIMSlicerLib are installed with the CLAIM module
        assert "CLAIMLib/*.py" in cmake and "CLAIMSlicerLib/*.py" in cmake


@pytest.mark.parametrize("module", MODULES)
def test_module_file_has_the_four_classes(module):
    tree = ast.parse((REPO / module / f"{module}.py").read_text())
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    imported = {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {module, f"{module}Widget", f"{module}Test", f"{module}ParameterNode"} <= classes
    assert f"{module}Logic" in classes | imported
    # thin: the module file talks to CLAIMSlicerLib only; every computation is behind the Logic
    sources = {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert "CLAIMLib" not in sources, sources


HANDLERS = {"CLAIM": "CLAIMPanelHandlers", "SMILEMaskEditor": "SMILEPanelHandlers"}


def _class_source(path, name) -> str:
    text = path.read_text()
    cls = next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == name)
    return ast.get_source_segment(text, cls)


@pytest.mark.parametrize("module", MODULES)
def test_module_widget_only_wires(module):
    """The Widget wires the panel; what its buttons do is in CLAIMSlicerLib.handlers (tested without Slicer)."""
    widget = _class_source(REPO / module / f"{module}.py", f"{module}Widget")
    for call in ("slicer.util", "slicer.app", "tryWithErrorDisplay", "errorDisplay", "setSliceViewerLayers"):
        assert call not in widget, call
    assert f"{HANDLERS[module]}(" in widget and ".clicked.connect(handlers." in widget


def test_handlers_import_no_gui_toolkit():
    """The handlers, their services, signals and the sample data import neither qt nor ctk when imported (they are
    tested under plain pytest); no CLAIMSlicerLib file imports ctk."""
    lib = REPO / "CLAIM" / "CLAIMSlicerLib"
    for name in ("handlers", "services", "signals", "sampledata", "qtcompat", "jobs", "panel"):
        tree = ast.parse((lib / f"{name}.py").read_text())
        top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
        top |= {(n.module or "").split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom)}
        assert not top & {"qt", "ctk", "PySide6"}, (name, top)
    for path in lib.glob("*.py"):
        imported = {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import)
                    for a in n.names}
        assert "ctk" not in imported, path.name


def _parameter_fields(module) -> set:
    tree = ast.parse((REPO / module / f"{module}.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == f"{module}ParameterNode")
    assert any(getattr(d, "id", None) == "parameterNodeWrapper" for d in cls.decorator_list)
    return {n.target.id for n in cls.body if isinstance(n, ast.AnnAssign)}


def _ui(module):
    return ET.parse(REPO / module / "Resources" / "UI" / f"{module}.ui").getroot()


@pytest.mark.parametrize("module", MODULES)
def test_ui_binds_to_the_parameter_node(module):
    """Every SlicerParameterName names a parameter, every widget the module uses exists, selectors get the scene."""
    root = _ui(module)
    fields = _parameter_fields(module)
    bound = {}
    for w in root.iter("widget"):
        for p in w.findall("property"):
            if p.get("name") == "SlicerParameterName":
                assert p.get("stdset") == "0", w.get("name")  # a dynamic property
                bound[p.find("string").text] = w.get("name")
    assert bound and set(bound) <= fields, set(bound) - fields
    names = {w.get("name") for w in root.iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", (REPO / module / f"{module}.py").read_text()))
    assert used <= names, used - names
    handlers = _class_source(REPO / "CLAIM" / "CLAIMSlicerLib" / "handlers.py", HANDLERS[module])
    used = set(re.findall(r"self\.ui\.(\w+)", handlers))
    assert used and used <= names, used - names  # the widgets the panel's handlers write to exist too
    selectors = {w.get("name") for w in root.iter("widget") if w.get("class") == "qMRMLNodeComboBox"}
    receivers = {c.find("receiver").text for c in root.iter("connection")
                 if c.find("signal").text == "mrmlSceneChanged(vtkMRMLScene*)"}
    assert selectors == receivers
    assert root.find("widget").get("class") == "qMRMLWidget"


@pytest.fixture(scope="module")
def qt_app():
    import qt_shim

    pytest.importorskip("PySide6.QtUiTools", reason="PySide6 is not installed")
    return qt_shim.application()


@pytest.mark.parametrize("module", MODULES)
def test_ui_loads_in_qt(qt_app, module):
    """Qt's own loader reads the .ui (Slicer's custom widgets stood in for by plain QWidgets)."""
    import qt_shim
    from panel_fakes import ui_loader
    from PySide6 import QtWidgets

    widget = ui_loader(qt_shim.qt_module())(REPO / module / "Resources" / "UI" / f"{module}.ui")
    root = _ui(module)
    for w in root.iter("widget"):
        found = widget.findChild(QtWidgets.QWidget, w.get("name")) or (widget if widget.objectName() == w.get("name")
                                                                     else None)
        assert found is not None, w.get("name")
        bound = any(q.get("name") == "SlicerParameterName" for q in w.findall("property"))
        if w.get("class") == "QComboBox" and bound:  # the choices the parameter node allows are all offered
            assert found.count() >= 2
    widget.deleteLater()


@pytest.fixture
def fake_slicer_gui(monkeypatch):
    """Stand-ins for qt, ctk, slicer.ScriptedLoadableModule and slicer.parameterNodeWrapper; a real slicer-core
    scene as slicer.mrmlScene."""
    slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip("this 'slicer' module has no MRML classes")
    slm = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            pass

    class ScriptedLoadableModuleTest(unittest.TestCase):
        def delayDisplay(self, message, msec=0):
            pass

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(slm, cls.__name__, cls)
    pnw = types.ModuleType("slicer.parameterNodeWrapper")
    pnw.parameterNodeWrapper = lambda cls: cls
    pnw.WithinRange = lambda lo, hi: ("WithinRange", lo, hi)
    pnw.Choice = lambda choices: ("Choice", tuple(choices))
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", slm)
    monkeypatch.setitem(sys.modules, "slicer.parameterNodeWrapper", pnw)
    monkeypatch.setitem(sys.modules, "qt", types.ModuleType("qt"))
    monkeypatch.setitem(sys.modules, "ctk", types.ModuleType("ctk"))
    monkeypatch.setattr(slicer, "mrmlScene", slicer.vtkMRMLScene(), raising=False)
    monkeypatch.syspath_prepend(str(REPO / "SMILEMaskEditor"))
    names = ("CLAIM", "SMILEMaskEditor", "CLAIMSlicerLib.logic", "CLAIMSlicerLib.widgets",
             "CLAIMSlicerLib.bullseye_picker")
    for name in names:
        sys.modules.pop(name, None)
    yield slicer
    for name in names:
        sys.modules.pop(name, None)


@pytest.mark.parametrize("module", MODULES)
def test_module_loads_and_its_self_test_passes(fake_slicer_gui, module):
    """The module's self-test under pytest: the Logic tests pass; a test that needs the Slicer application may skip,
    with a message saying why (its panel behaviour is tested without Slicer in test_slicer_handlers.py)."""
    assert not hasattr(fake_slicer_gui, "app")
    mod = __import__(module)
    parent = types.SimpleNamespace()
    getattr(mod, module)(parent)
    assert parent.title and parent.categories == ["Cardiac"] and parent.helpText
    assert "Slicer 5.10" in parent.helpText  # the minimum version is stated
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(getattr(mod, f"{module}Test")))
    assert result.wasSuccessful(), result.failures + result.errors
    ran = result.testsRun - len(result.skipped)
    assert ran >= 2, (result.testsRun, result.skipped)
    for _, reason in result.skipped:
        assert "3D Slicer application" in reason and "Testing/README.md" in reason, reason


def test_self_test_script_runs_both_modules():
    text = (REPO / "Testing" / "Python" / "CLAIMExtensionSelfTest.py").read_text()
    for module in MODULES:
        assert module in text
    readme = (REPO / "Testing" / "README.md").read_text()
    assert "--testing" in readme and "--no-main-window" in readme and "pytest" in readme
