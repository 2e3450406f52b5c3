"""Qt building blocks shared by the CLAIM and SMILEMaskEditor module panels (Slicer only)."""
from __future__ import annotations

import qt
import slicer

from . import dependencies


def nodeSelector(nodeTypes, toolTip, noneEnabled=True):
    selector = slicer.qMRMLNodeComboBox()
    selector.nodeTypes = nodeTypes
    selector.selectNodeUponCreation = True
    selector.addEnabled = False
    selector.removeEnabled = False
    selector.noneEnabled = noneEnabled
    selector.showHidden = False
    selector.setMRMLScene(slicer.mrmlScene)
    selector.toolTip = toolTip
    return selector


class CaseInputs:
    """Rows for the LGE volume, its labels and the label scheme, plus a dependency installer button."""

    def __init__(self, form: qt.QFormLayout, onChange):
        self.onChange = onChange
        self.installButton = qt.QPushButton("Install Python dependencies")
        self.installButton.toolTip = "pip-installs the packages CLAIMLib needs into Slicer's Python"
        form.addRow(self.installButton)
        self.volumeSelector = nodeSelector(["vtkMRMLScalarVolumeNode"], "LGE volume")
        form.addRow("LGE volume:", self.volumeSelector)
        self.labelSelector = nodeSelector(["vtkMRMLSegmentationNode", "vtkMRMLLabelMapVolumeNode"],
                                          "labels holding the myocardium (segmentation or labelmap)")
        form.addRow("Labels:", self.labelSelector)
        self.schemeEdit = qt.QLineEdit()
        self.schemeEdit.placeholderText = "auto (EMIDEC / MyoPS / named segments) or e.g. cavity=1,myocardium=2+3+4"
        form.addRow("Label scheme:", self.schemeEdit)
        self.installButton.connect("clicked(bool)", self.onInstall)
        self.volumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda *_: onChange())
        self.labelSelector.connect("currentNodeChanged(vtkMRMLNode*)", lambda *_: onChange())

    def dependenciesReady(self) -> bool:
        missing = dependencies.missing()
        self.installButton.visible = bool(missing)
        return not missing

    def nodesSelected(self) -> bool:
        return bool(self.volumeSelector.currentNode()) and bool(self.labelSelector.currentNode())

    def scheme(self):
        return self.schemeEdit.text.strip() or None

    def nodes(self):
        return self.volumeSelector.currentNode(), self.labelSelector.currentNode()

    def setNodes(self, volume, labels):
        self.volumeSelector.setCurrentNode(volume)
        self.labelSelector.setCurrentNode(labels)

    def onInstall(self):
        with slicer.util.tryWithErrorDisplay("Installing CLAIM's Python dependencies failed.", waitCursor=True):
            dependencies.install(dependencies.missing())
        self.onChange()
