"""The parameter-node plumbing both module panels share (Slicer's scripted-module template, written once).

No Qt import here: the panel's widgets come from its .ui through ``slicer.util``, so this module is tested with a
bare MRML scene (slicer-core) and a stand-in widget.
"""
from __future__ import annotations


def selectDefaultInputs(scene, parameters, volume: str = "inputVolume", labels: str = "inputLabels") -> None:
    """Fill empty input parameters with the scene's first scalar volume and first segmentation."""
    for name, nodeClass in ((volume, "vtkMRMLScalarVolumeNode"), (labels, "vtkMRMLSegmentationNode")):
        if not getattr(parameters, name):
            node = scene.GetFirstNodeByClass(nodeClass)
            if node:
                setattr(parameters, name, node)


class ParameterNodePanel:
    """The parameter-node plumbing of Slicer's scripted-module template, written once for both module panels.

    A panel derives from this first, then ``ScriptedLoadableModuleWidget`` and ``VTKObservationMixin``. It sets
    ``parameterNodeClass`` (its ``parameterNodeWrapper``) and ``self.logic``, overrides ``onParameterNodeModified``
    (the panel's state from the parameters) and, when it runs jobs, ``stopJobs``. Its ``setup`` calls
    ``loadPanel(uiFile)`` first and ``initializeParameterNode()`` last. The scene is ``slicer.mrmlScene`` unless
    ``scene`` is set (the tests use a bare scene).
    """

    parameterNodeClass = None
    scene = None
    _parameterNode = None
    _parameterNodeGuiTag = None

    def _scene(self):
        if self.scene is not None:
            return self.scene
        import slicer

        return slicer.mrmlScene

    def loadPanel(self, uiFile: str):
        """Load ``Resources/<uiFile>`` into the panel as ``self.ui``, show a too-old-Slicer warning, and follow
        scene close; returns the loaded widget."""
        import slicer

        from . import dependencies

        uiWidget = slicer.util.loadUI(self.resourcePath(uiFile))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(self._scene())
        problem = dependencies.version_problem()
        self.ui.versionWarningLabel.setText(problem or "")
        self.ui.versionWarningLabel.setVisible(bool(problem))
        scene = self._scene()
        self.addObserver(scene, scene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(scene, scene.EndCloseEvent, self.onSceneEndClose)
        return uiWidget

    def onParameterNodeModified(self, caller=None, event=None) -> None:
        """Bring the panel up to date with the parameters (override)."""

    def stopJobs(self) -> None:
        """Cancel the panel's running jobs (override when it has any)."""

    def cleanup(self) -> None:
        self.removeObservers()
        self.stopJobs()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self._disconnectParameterNode()

    def onSceneStartClose(self, caller, event) -> None:
        self.stopJobs()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.parameterNodeClass(self.logic.getParameterNode()))
        selectDefaultInputs(self._scene(), self._parameterNode)

    def setParameterNode(self, parameterNode) -> None:
        """Bind ``parameterNode`` (a wrapper, or None) to the panel's widgets and follow its changes."""
        import vtk

        if self._parameterNode is not None:
            self._disconnectParameterNode()
        self._parameterNode = parameterNode
        if parameterNode is not None:
            self._parameterNodeGuiTag = parameterNode.connectGui(self.ui)
            self.addObserver(parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
            self.onParameterNodeModified()

    def _disconnectParameterNode(self) -> None:
        import vtk

        if self._parameterNode is None:
            return
        if self._parameterNodeGuiTag is not None:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
        if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified):
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.onParameterNodeModified)
