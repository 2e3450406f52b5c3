"""Stand-ins shared by the panel tests (test_slicer_handlers.py, test_module_widgets.py): a fake Logic per module
that records its calls and puts real MRML nodes (slicer-core) in a scene, a fake process runner fed by the test,
fake Slicer services, and the modules' real .ui files loaded by PySide6."""
from __future__ import annotations

import pathlib
import types
from contextlib import contextmanager

from conftest import REPO

CUSTOM_WIDGETS = ("qMRMLNodeComboBox", "ctkCollapsibleButton", "ctkSliderWidget", "ctkPathLineEdit")


def ui_loader(qt):
    """A function path -> widget: Qt's own loader of .ui files, Slicer's custom widgets stood in for by plain
    QWidgets (the root qMRMLWidget takes a scene)."""
    from PySide6 import QtUiTools

    loader = QtUiTools.QUiLoader()
    classes = [type("qMRMLWidget", (qt.QWidget,), {"setMRMLScene": lambda self, scene: None})]
    classes += [type(name, (qt.QWidget,), {}) for name in CUSTOM_WIDGETS]
    for cls in classes:
        loader.registerCustomWidget(cls)

    def load(path):
        widget = loader.load(str(path))
        assert widget is not None, loader.errorString()
        return widget

    load.classes = classes  # the loader does not keep them alive: a collected one crashes the next load
    return load


def child_widgets(qt, root):
    """The named children of a widget, as ``slicer.util.childWidgetVariables`` gives them."""
    return types.SimpleNamespace(**{w.objectName(): w for w in root.findChildren(qt.QWidget) if w.objectName()})


def load_ui(qt, module: str):
    """The module's real .ui: (root widget, namespace of its named children)."""
    root = ui_loader(qt)(REPO / module / "Resources" / "UI" / f"{module}.ui")
    return root, child_widgets(qt, root)


def parameter_node_wrapper(cls):
    """Stands for ``slicer.parameterNodeWrapper``: the class's annotated fields, with their defaults, kept on the
    scripted module node (wrapping the node again finds them); setting one modifies the node, so the panel's
    observer runs. ``connectGui`` binds nothing (the tests set the parameters themselves)."""
    fields = {}
    for name, annotation in cls.__annotations__.items():
        fields[name] = getattr(cls, name, pathlib.Path() if str(annotation) == "pathlib.Path" else None)

    class Wrapper:
        def __init__(self, node):
            object.__setattr__(self, "parameterNode", node)
            if not hasattr(node, "fakeParameters"):
                node.fakeParameters = dict(fields)

        def __getattr__(self, name):
            if name in fields:
                return self.parameterNode.fakeParameters[name]
            raise AttributeError(name)

        def __setattr__(self, name, value):
            if name not in fields:
                raise AttributeError(f"{cls.__name__} has no parameter {name}")
            self.parameterNode.fakeParameters[name] = value
            self.parameterNode.Modified()

        def connectGui(self, ui):
            return object()

        def disconnectGui(self, tag):
            pass

        def AddObserver(self, event, callback, priority=0.0):
            return self.parameterNode.AddObserver(event, callback, priority)

        def RemoveObserver(self, tag):
            self.parameterNode.RemoveObserver(tag)

    Wrapper.__name__ = Wrapper.__qualname__ = cls.__name__
    return Wrapper


class FakeRunner:
    """``CLAIMLib.runner.ProcessRunner``'s interface, without a process: the test feeds the events a child gives."""

    def __init__(self):
        self.argv, self.events, self.cancels = None, [], 0

    def start(self, argv, env=None, cwd=None, outputs=()):
        self.argv, self.events = list(argv), []

    def poll(self):
        events, self.events = self.events, []
        return events

    def progress(self, fraction: float, stage: str = "", **extra) -> None:
        self.events.append({"type": "progress", "progress": fraction, "stage": stage, **extra})

    def finish(self, returncode: int = 0, error: str | None = None) -> None:
        self.events.append({"type": "finished", "returncode": returncode, "error": error, "cancelled": False})

    def cancel(self) -> None:
        self.cancels += 1
        self.events.append({"type": "finished", "returncode": -15, "error": None, "cancelled": True})


class FakeServices:
    """Records what a panel shows; ``install`` is the answer to the dependency prompt."""

    def __init__(self, showImage=None):
        self.errors, self.layers, self.tables, self.images, self.asked = [], [], [], [], []
        self.paths: dict = {}
        self.install = True
        self.busyNow = False
        self._showImage = showImage

    @contextmanager
    def _busy(self):
        self.busyNow = True
        try:
            yield
        finally:
            self.busyNow = False

    def _ensure(self, group):
        self.asked.append(group)
        return self.install

    def _image(self, label, path):
        self.images.append(path)
        if self._showImage is not None:
            self._showImage(label, path)

    def services(self):
        from CLAIMSlicerLib.services import PanelServices

        return PanelServices(errorDisplay=lambda message, details: self.errors.append((message, details)),
                             busy=self._busy, showImage=self._image,
                             setSliceViewerLayers=lambda **kw: self.layers.append(kw), showTable=self.tables.append,
                             rememberedPath=lambda key: self.paths.get(key, ""), rememberPath=self.paths.__setitem__,
                             ensureDependencies=self._ensure)


class FakeLogic:
    """Records each call as (name, args, kwargs), raises what ``raises[name]`` holds, and gives real nodes."""

    def __init__(self, scene, folder, services=None):
        self.scene, self.folder = scene, folder
        self.calls: list = []
        self.raises: dict = {}
        self.services = services  # to see whether a call ran under the wait cursor
        self.busyDuringCalls: list = []
        self.argv = None  # a job's command (default: one that is never run, for a fake runner)

    def _call(self, name, *args, **kw):
        self.calls.append((name, args, kw))
        if self.services is not None:
            self.busyDuringCalls.append(self.services.busyNow)
        if name in self.raises:
            raise self.raises[name]

    def called(self, name):
        return [(a, k) for n, a, k in self.calls if n == name]

    def getParameterNode(self):
        node = self.scene.GetFirstNodeByClass("vtkMRMLScriptedModuleNode")
        return node or self.scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode")

    def addPhantomCase(self, seed=0, pathological=True):
        self._call("addPhantomCase", seed=seed)
        volume = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", f"phantom{seed}")
        labels = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"phantom{seed}_labels")
        return volume, labels, None

    def infoText(self, volumeNode, labelNode, scheme=None):
        self._call("infoText", volumeNode, labelNode, scheme)
        return f"{volumeNode.GetName()} with {labelNode.GetName()} ({scheme or 'detected'} labels)"


class FakeCLAIMLogic(FakeLogic):
    def _job(self, title, nodeClass, name):
        from CLAIMSlicerLib.jobs import CommandJob

        work = self.folder / f"{title}-{len(self.calls)}"
        work.mkdir()
        return CommandJob(self.argv or ["claim", title], [], lambda: self.scene.AddNewNodeByClass(nodeClass, name),
                          work, title)

    def synthesizeCommand(self, volumeNode, labelNode, maskNode, checkpoint, sampler="dpm", steps=0, seed=0,
                          brightness=None, device=None, scheme=None):
        self._call("synthesizeCommand", volumeNode, labelNode, maskNode, checkpoint, sampler, steps, seed,
                   brightness, device, scheme)
        return self._job("synthesis", "vtkMRMLScalarVolumeNode", f"{volumeNode.GetName()}_synthetic")

    installed: tuple = ()  # names installedModels gives

    def installedModels(self, kind="segmenter"):
        self._call("installedModels", kind)
        return list(self.installed)

    def segmentCommand(self, volumeNode, modelDir, device=None):
        self._call("segmentCommand", volumeNode, modelDir, device)
        return self._job("segmentation", "vtkMRMLSegmentationNode", f"{volumeNode.GetName()}_segmentation")

    def bullseye(self, volumeNode, labelNode, scarNode=None, pngPath=None, rvPointsNode=None, scheme=None,
                 tableNode=None):
        import qt

        from CLAIMSlicerLib import mrml

        self._call("bullseye", volumeNode, labelNode, scarNode, rvPointsNode=rvPointsNode, scheme=scheme,
                   tableNode=tableNode)
        table = tableNode or self.scene.AddNewNodeByClass("vtkMRMLTableNode", "scar_per_segment")
        mrml.set_record(table, {"totals": {"scar_ml": 2.5, "myocardium_ml": 101.25, "scar_percent": 2.47,
                                           "mvo_ml": 0.25}})
        png = self.folder / "bullseye.png"
        image = qt.QImage(40, 40, qt.QImage.Format.Format_RGB32)
        image.fill(qt.QColor("#c8402f"))
        assert image.save(str(png))
        return table, str(png)


    def quantifyScar(self, volumeNode, labelNode, method="fwhm", remoteSegments=None, remoteNode=None,
                     grayZone=False, minSizeMl=None, endocardialOnly=False, rvPointsNode=None, scheme=None,
                     outputSegmentationNode=None, tableNode=None):
        from CLAIMSlicerLib import mrml

        self._call("quantifyScar", volumeNode, labelNode, method, remoteSegments, remoteNode, grayZone, minSizeMl,
                   endocardialOnly, rvPointsNode=rvPointsNode, scheme=scheme,
                   outputSegmentationNode=outputSegmentationNode, tableNode=tableNode)
        node = outputSegmentationNode or self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "lge_scar")
        table = tableNode or self.scene.AddNewNodeByClass("vtkMRMLTableNode", "lge_scar_per_segment")
        mrml.set_record(node, {"method": method, "remote": {"description": "AHA segment 3 (automatic: lowest median)"},
                               "gray_zone": {"levels": [35, 50]} if grayZone else None,
                               "totals": {"scar_ml": 12.5, "myocardium_ml": 100.0, "scar_percent": 12.5,
                                          "mvo_ml": 0.5, "gray_zone_ml": 3.25 if grayZone else 0.0}})
        _, png = self.bullseye(volumeNode, labelNode)
        self.calls.pop()  # the figure only
        return node, table, png


class FakeSMILELogic(FakeLogic):
    def __init__(self, scene, folder, services=None):
        super().__init__(scene, folder, services)
        self.lastRecord = None
        self.available = [1, 2, 3, 7, 8, 9, 13, 14, 15, 17]

    def availableSegments(self, volumeNode, labelNode, rvPointsNode=None, scheme=None):
        self._call("availableSegments", volumeNode, labelNode, rvPointsNode, scheme)
        return list(self.available)

    def generateMask(self, volumeNode, labelNode, segments=None, volumeMl=None, transmurality=None, mvo=False,
                     seed=0, mode="direct", outputSegmentationNode=None, rvPointsNode=None, scheme=None,
                     territory=None, priors=None):
        self._call("generateMask", volumeNode, labelNode, segments, volumeMl, transmurality, mvo, seed, mode,
                   outputSegmentationNode=outputSegmentationNode, rvPointsNode=rvPointsNode, scheme=scheme,
                   priors=priors)
        volumeMl = 5.0 if volumeMl is None else volumeMl
        node = outputSegmentationNode or self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "scar_mask")
        pattern, _, extent = transmurality.partition(":")
        self.lastRecord = {
            "per_segment": {str(s): {"capacity_limited": s == 10} for s in segments},
            "achieved_total_ml": 0.9 * volumeMl, "target_total_ml": volumeMl, "segments": list(segments),
            "pattern": pattern, "extent": float(extent or 1), "mvo_ml": 0.5 if mvo else 0.0, "seed": seed,
            "mode": mode, "seconds": {"mask": 0.012},
            "orientation": {"source": "rv_insertion", "confidence": 0.93, "warning": "few RV points"}}
        return node

    def exportAHA(self, volumeNode, labelNode, rvPointsNode=None, scheme=None, method="direct",
                  outputLabelmapNode=None):
        self._call("exportAHA", volumeNode, labelNode, rvPointsNode, scheme, method, outputLabelmapNode)
        return outputLabelmapNode
