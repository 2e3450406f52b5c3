"""The parameter-node plumbing both module panels share (CLAIMSlicerLib/panel.py), against a real MRML scene
(slicer-core) and slicer's own VTKObservationMixin; the panel's widgets are a stand-in."""
import types
import warnings

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("this 'slicer' module has no MRML classes", allow_module_level=True)

import vtk  # noqa: E402
from slicer.util import VTKObservationMixin  # noqa: E402

from CLAIMSlicerLib.panel import ParameterNodePanel, selectDefaultInputs  # noqa: E402


class Parameters:
    """Stands for a parameterNodeWrapper instance: attributes, GUI binding, and the node's observers."""

    def __init__(self, node):
        self.node = node
        self.inputVolume = None
        self.inputLabels = None
        self.bound = []

    def connectGui(self, ui):
        tag = object()
        self.bound.append(tag)
        return tag

    def disconnectGui(self, tag):
        self.bound.remove(tag)

    def AddObserver(self, event, callback, priority=0.0):
        return self.node.AddObserver(event, callback, priority)

    def RemoveObserver(self, tag):
        self.node.RemoveObserver(tag)


class Logic:
    def __init__(self, scene):
        self.scene = scene

    def getParameterNode(self):
        node = self.scene.GetFirstNodeByClass("vtkMRMLScriptedModuleNode")
        return node or self.scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")


class Panel(ParameterNodePanel, VTKObservationMixin):
    parameterNodeClass = Parameters

    def __init__(self, scene):
        VTKObservationMixin.__init__(self)
        self.scene = scene
        self.parent = types.SimpleNamespace(isEntered=True)
        self.ui = object()
        self.logic = Logic(scene)
        self.modified = 0
        self.stopped = 0
        scene.AddObserver(scene.StartCloseEvent, lambda *a: None)  # the scene's own observers stay untouched
        self.addObserver(scene, scene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(scene, scene.EndCloseEvent, self.onSceneEndClose)

    def onParameterNodeModified(self, caller=None, event=None):
        self.modified += 1

    def stopJobs(self):
        self.stopped += 1


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


@pytest.fixture
def make_panel(scene):
    panels = []

    def make():
        panels.append(Panel(scene))
        return panels[-1]

    yield make
    for panel in panels:  # no observer may outlive its panel (the scene's destructor fires close events)
        panel.cleanup()


def test_default_inputs_fill_only_empty_parameters(scene):
    p = types.SimpleNamespace(inputVolume=None, inputLabels=None)
    selectDefaultInputs(scene, p)
    assert p.inputVolume is None and p.inputLabels is None  # an empty scene offers nothing
    first = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "first")
    scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "second")
    seg = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "labels")
    selectDefaultInputs(scene, p)
    assert p.inputVolume is first and p.inputLabels is seg
    chosen = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "chosen")
    p.inputVolume = chosen
    selectDefaultInputs(scene, p)
    assert p.inputVolume is chosen  # a choice the user made is kept


def test_panel_binds_follows_and_releases_its_parameter_node(scene, make_panel):
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "lge")
    panel = make_panel()
    panel.initializeParameterNode()
    p = panel._parameterNode
    assert isinstance(p, Parameters) and len(p.bound) == 1 and p.inputVolume is volume
    n = panel.modified
    p.node.Modified()
    assert panel.modified == n + 1  # the panel follows the parameters

    panel.exit()  # leaving the module: unbound, no longer followed
    assert p.bound == []
    p.node.Modified()
    assert panel.modified == n + 1
    panel.enter()  # back: bound again, to the scene's same parameter node
    assert panel._parameterNode.node is p.node and len(panel._parameterNode.bound) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # VTKObservationMixin warns on a double add or a missing remove
        panel.enter()  # entering twice leaves one binding, and one observer
    m = panel.modified
    panel._parameterNode.node.Modified()
    assert panel.modified == m + 1


def test_panel_on_scene_close_stops_jobs_and_rebinds(scene, make_panel):
    panel = make_panel()
    panel.initializeParameterNode()
    old = panel._parameterNode
    scene.Clear(0)  # StartCloseEvent, then EndCloseEvent
    assert panel.stopped == 1 and old.bound == []
    assert panel._parameterNode is not None and panel._parameterNode is not old  # the entered panel rebinds
    panel.parent.isEntered = False
    scene.Clear(0)
    assert panel.stopped == 2 and panel._parameterNode is None  # a panel not shown waits for enter()


def test_panel_cleanup_removes_its_observers_and_stops_jobs(scene, make_panel):
    panel = make_panel()
    panel.initializeParameterNode()
    node = panel._parameterNode.node
    panel.cleanup()
    assert panel.stopped == 1
    n = panel.modified
    node.Modified()
    scene.Clear(0)
    assert panel.modified == n and panel.stopped == 1  # nothing reaches a cleaned-up panel
    assert node.HasObserver(vtk.vtkCommand.ModifiedEvent) == 0
