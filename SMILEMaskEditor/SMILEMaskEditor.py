"""SMILEMaskEditor: pick AHA segments on a bull's-eye and grow a clinically guided scar mask (SMILE).

The module is thin: the work lives in CLAIMLib (pure Python) and the node conversions in CLAIMSlicerLib,
both installed with the CLAIM module of this extension.
"""
import logging

import ctk
import qt
import slicer
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)

from CLAIMSlicerLib import dependencies
from CLAIMSlicerLib.logic import SMILEMaskEditorLogic


class SMILEMaskEditor(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SMILE Mask Editor"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CLAIM"]
        self.parent.contributors = ["CLAIM developers"]
        self.parent.helpText = (
            "Scar masks guided by clinical knowledge: choose adjacent AHA segments, a volume and a transmurality, "
            "and grow a textured scar inside the myocardium. Select an LGE volume and its myocardium labels.")
        self.parent.acknowledgementText = "Based on SMILE from CLAIM (Ramzan et al., 2025)."


class SMILEMaskEditorWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from CLAIMSlicerLib.widgets import CaseInputs, nodeSelector

        self.logic = None
        box = ctk.ctkCollapsibleButton()
        box.text = "Inputs"
        self.layout.addWidget(box)
        form = qt.QFormLayout(box)
        self.inputs = CaseInputs(form, self.updateButtons)
        self.rvPointsSelector = nodeSelector(["vtkMRMLMarkupsFiducialNode"], "RV insertion point(s), optional")
        form.addRow("RV insertion points:", self.rvPointsSelector)
        self.checkButton = qt.QPushButton("Check inputs")
        form.addRow(self.checkButton)
        self.output = qt.QPlainTextEdit()
        self.output.readOnly = True
        form.addRow(self.output)
        self.layout.addStretch(1)
        self.checkButton.connect("clicked(bool)", self.onCheck)
        self.updateButtons()

    def getLogic(self):
        if self.logic is None:
            self.logic = SMILEMaskEditorLogic()
        return self.logic

    def updateButtons(self):
        self.checkButton.enabled = self.inputs.dependenciesReady() and self.inputs.nodesSelected()

    def onCheck(self):
        with slicer.util.tryWithErrorDisplay("Cannot read the inputs.", waitCursor=True):
            self.output.setPlainText(self.getLogic().infoText(*self.inputs.nodes(), self.inputs.scheme()))


class SMILEMaskEditorTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_InputsFromLabelmap()

    def test_InputsFromLabelmap(self):
        """A phantom's label map node (EMIDEC values) is read as a case on the volume's grid."""
        self.delayDisplay("Starting the SMILEMaskEditor input test")
        if dependencies.missing():
            dependencies.install(dependencies.missing())
        import numpy as np

        logic = SMILEMaskEditorLogic()
        volume, _, phantom = logic.addPhantomCase(seed=3)
        labelmap = logic.addVolumeNode(phantom.labels, phantom.geometry, "labels", labelmap=True)
        case = logic.caseFromNodes(volume, labelmap)
        self.assertEqual(case.scheme.name, "EMIDEC")
        self.assertTrue(np.array_equal(case.mask("myocardium"), phantom.labels >= 2))
        logging.info(logic.infoText(volume, labelmap))
        self.delayDisplay("SMILEMaskEditor input test passed")
