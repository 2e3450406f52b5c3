"""The module files' wiring, in CI: CLAIMWidget and SMILEMaskEditorWidget set up for real under PySide6 (the qt
shim) with their real .ui, a fake Logic and fake services handed in, a real MRML scene (slicer-core), and
stand-ins for what only Slicer has (the scripted-module base classes, the parameter node wrapper, ctk, loadUI).
Clicking the panels' buttons reaches the handlers; a synthesis runs, and is cancelled, in a real child process.
Also the sample data (CLAIMSlicerLib/sampledata.py) the CLAIM module registers."""
from __future__ import annotations

import sys
import time
import types
import unittest
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("this 'slicer' module has no MRML classes", allow_module_level=True)

from conftest import REPO  # noqa: E402
from panel_fakes import (FakeCLAIMLogic, FakeServices, FakeSMILELogic, child_widgets,  # noqa: E402
                         parameter_node_wrapper, ui_loader)

RELOADED = ("CLAIM", "SMILEMaskEditor", "CLAIMSlicerLib.logic", "CLAIMSlicerLib.widgets",
            "CLAIMSlicerLib.bullseye_picker")


def _scripted_module_stand_ins(qt):
    slm = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent if parent is not None else types.SimpleNamespace(isEntered=True)
            self.widget = qt.QWidget()
            self.layout = qt.QVBoxLayout(self.widget)

        def setup(self):
            pass

        def resourcePath(self, filename):
            return str(Path(sys.modules[type(self).__module__].__file__).parent / "Resources" / filename)

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            pass

    class ScriptedLoadableModuleTest(unittest.TestCase):
        pass

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(slm, cls.__name__, cls)
    pnw = types.ModuleType("slicer.parameterNodeWrapper")
    pnw.parameterNodeWrapper = parameter_node_wrapper
    pnw.WithinRange = lambda lo, hi: ("WithinRange", lo, hi)
    pnw.Choice = lambda choices: ("Choice", tuple(choices))
    ctk = types.ModuleType("ctk")
    ctk.ctkPathLineEdit = types.SimpleNamespace(Files=1, Dirs=2)
    return slm, pnw, ctk


@pytest.fixture
def gui(monkeypatch):
    """The qt shim as ``qt``, stand-ins for Slicer's GUI-only modules, a fresh scene as ``slicer.mrmlScene``; the
    module files and the Qt pieces of CLAIMSlicerLib imported afresh. Yields (qt, CLAIMSlicerLib.widgets, app)."""
    import qt_shim

    try:
        qt = qt_shim.qt_module()
    except ImportError as e:
        pytest.skip(f"PySide6 is not installed ({e})")
    app = qt_shim.application()
    slm, pnw, ctk = _scripted_module_stand_ins(qt)
    for name, module in (("qt", qt), ("ctk", ctk), ("slicer.ScriptedLoadableModule", slm),
                         ("slicer.parameterNodeWrapper", pnw)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(slicer, "mrmlScene", slicer.vtkMRMLScene(), raising=False)
    monkeypatch.setattr(slicer.util, "loadUI", ui_loader(qt), raising=False)
    monkeypatch.setattr(slicer.util, "childWidgetVariables", lambda root: child_widgets(qt, root), raising=False)
    monkeypatch.syspath_prepend(str(REPO / "SMILEMaskEditor"))
    for name in RELOADED:
        monkeypatch.delitem(sys.modules, name, raising=False)
    import CLAIMSlicerLib.widgets as widgets

    yield qt, widgets, app
    for name in RELOADED:
        sys.modules.pop(name, None)


def _wait(app, condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    assert condition()


PROGRESS_THEN = ("import json, time\n"
                 "print(json.dumps({'progress': 0.5, 'stage': 'sampling'}), flush=True)\n"
                 "time.sleep(SECONDS)\n")


def test_claim_widget_wires_its_buttons_to_the_handlers(gui, tmp_path):
    qt, widgets, app = gui
    import CLAIM

    scene = slicer.mrmlScene
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "lge")
    labels = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "labels")
    fake = FakeServices(showImage=widgets.showImage)
    fake.paths = {"diffusionCheckpoint": str(tmp_path / "last.pt")}
    logic = FakeCLAIMLogic(scene, tmp_path, fake)
    widget = CLAIM.CLAIMWidget(logic=logic, services=fake.services())
    widget.setup()
    try:
        ui, p = widget.ui, widget._parameterNode
        assert widget.logic is logic and widget.handlers.synthesisJobs is widget.synthesisJobs
        assert (p.inputVolume, p.inputLabels) == (volume, labels)  # the scene's first inputs
        assert p.checkpoint == tmp_path / "last.pt"  # remembered from last time
        assert ui.infoButton.isEnabled() and ui.bullseyeButton.isEnabled() and not ui.synthesizeButton.isEnabled()
        p.scarMask = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mask")  # the panel follows the parameters
        assert ui.synthesizeButton.isEnabled()

        ui.infoButton.click()
        assert ui.infoTextEdit.toPlainText() == "lge with labels (detected labels)"
        ui.bullseyeButton.click()
        assert p.outputTable is not None and not ui.bullseyeImageLabel.pixmap().isNull()
        assert widget.remotePicker.parent() is ui.remoteBullseyeFrame
        widget.remotePicker.toggleSegment(5)
        assert p.remoteSegments == "5"
        ui.quantifyScarButton.click()
        assert logic.called("quantifyScar")[0][0][2:4] == ("fwhm", [5])
        assert p.scarOutput is not None and not ui.scarImageLabel.pixmap().isNull()
        ui.remoteClearButton.click()
        assert p.remoteSegments == ""

        applyText = ui.synthesizeButton.text()
        logic.argv = [sys.executable, "-c", PROGRESS_THEN.replace("SECONDS", "60")]
        ui.synthesizeButton.click()
        assert ui.synthesizeButton.text() == "Cancel"
        _wait(app, lambda: ui.synthesisProgressBar.value() == 50)  # the panel's timer polls the real child
        ui.synthesizeButton.click()
        assert not widget.synthesisJobs.running and ui.synthesisStatusLabel.text() == "synthesis: cancelled"
        assert ui.synthesizeButton.text() == applyText and p.segmentationVolume is None

        logic.argv = [sys.executable, "-c", PROGRESS_THEN.replace("SECONDS", "0")]
        ui.synthesizeButton.click()
        _wait(app, lambda: not widget.synthesisJobs.running)
        assert p.segmentationVolume is scene.GetFirstNodeByName("lge_synthetic") is not None
        assert ui.synthesisStatusLabel.text() == "synthesis: done" and fake.errors == []

        ui.loadPhantomButton.click()
        assert p.inputVolume.GetName() == "phantom0" and logic.called("addPhantomCase") == [((), {"seed": 0})]
    finally:
        widget.cleanup()
    assert not widget.synthesisJobs.running


def test_smile_widget_wires_the_picker_and_its_buttons(gui, tmp_path):
    qt, widgets, app = gui
    import SMILEMaskEditor

    scene = slicer.mrmlScene
    scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "lge")
    scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "labels")
    fake = FakeServices()
    logic = FakeSMILELogic(scene, tmp_path, fake)
    widget = SMILEMaskEditor.SMILEMaskEditorWidget(logic=logic, services=fake.services())
    widget.setup()
    try:
        ui, p = widget.ui, widget._parameterNode
        assert widget.picker.parent() is ui.bullseyeFrame
        assert not ui.generateButton.isEnabled()
        ui.ladButton.click()
        assert p.segments == "1,2,7,8,13,14,17" and ui.generateButton.isEnabled()
        assert ui.selectedSegmentsLabel.text() == "Segments 1, 2, 7, 8, 13, 14, 17"
        ui.generateButton.click()
        node = p.outputSegmentation
        assert node is not None and "Scar" in ui.statusLabel.text()
        ui.newSeedButton.click()
        assert p.seed == 1 and p.outputSegmentation is node and len(logic.called("generateMask")) == 2
        ui.clearButton.click()
        assert p.segments == "" and not ui.generateButton.isEnabled()
        ui.randomButton.click()
        assert len(logic.called("availableSegments")) == 1 and len(widget.picker.selectedSegments()) == 3
        p.segments = "5"
        assert widget.picker.selectedSegments() == [5]
        assert fake.errors == []
    finally:
        widget.cleanup()


def test_claim_module_registers_the_sample_data_at_startup(gui, monkeypatch):
    import CLAIM
    from CLAIMSlicerLib import sampledata

    connected = []
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(connect=lambda *a: connected.append(a)),
                        raising=False)
    CLAIM.CLAIM(types.SimpleNamespace())
    monkeypatch.delattr(slicer, "app")
    assert connected == [("startupCompleted()", sampledata.registerSampleData)]


def test_sample_data_is_registered_and_loads_the_phantom(tmp_path):
    from CLAIMSlicerLib import sampledata

    registered = []
    fakeSampleData = types.SimpleNamespace(SampleDataLogic=types.SimpleNamespace(
        registerCustomSampleDataSource=lambda **kw: registered.append(kw)))
    sampledata.registerSampleData(fakeSampleData)
    (kw,) = registered
    assert kw["sampleName"] == sampledata.SAMPLE_NAME == kw["nodeNames"] and kw["category"] == "CLAIM"
    assert Path(kw["thumbnailFileName"]) == REPO / "CLAIM" / "Resources" / "Icons" / "CLAIM.png"
    assert Path(kw["thumbnailFileName"]).is_file()
    assert kw["customDownloader"] is sampledata.loadPhantomSample

    scene = slicer.vtkMRMLScene()
    fake = FakeServices()
    logic = FakeCLAIMLogic(scene, tmp_path)
    nodes = kw["customDownloader"](None, logic=logic, services=fake.services())
    assert logic.called("addPhantomCase") == [((), {"seed": sampledata.SAMPLE_SEED})]
    assert [n.GetClassName() for n in nodes] == ["vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode"]
    assert fake.layers == [{"background": nodes[0], "fit": True}] and fake.errors == []
