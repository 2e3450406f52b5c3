"""CLAIM: scar synthesis, one-click scar segmentation and bull's-eye plots for LGE cardiac MRI.

The module is thin: the work lives in CLAIMLib (pure Python) and the node conversions in CLAIMSlicerLib.
"""
import logging

import ctk
import qt
import slicer
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)

from CLAIMSlicerLib import dependencies
from CLAIMSlicerLib.logic import CLAIMLogic


class CLAIM(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CLAIM"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = []
        self.parent.contributors = ["CLAIM developers"]
        self.parent.helpText = (
            "Clinically guided myocardial scar synthesis and segmentation on LGE cardiac MRI. "
            "Select an LGE volume and its labels (a segmentation or labelmap: EMIDEC, MyoPS or named segments) "
            "to see the case's grid, slice order and structure volumes, or load a phantom case to try it.")
        self.parent.acknowledgementText = (
            "Based on CLAIM (Ramzan et al., 2025) and LeFusion (Zhang et al., ICLR 2025). "
            "EMIDEC data: Lalande et al., Data 2020.")


class CLAIMWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from CLAIMSlicerLib.widgets import CaseInputs

        self.logic = None
        box = ctk.ctkCollapsibleButton()
        box.text = "Case"
        self.layout.addWidget(box)
        form = qt.QFormLayout(box)
        self.inputs = CaseInputs(form, self.updateButtons)
        self.infoButton = qt.QPushButton("Case info")
        form.addRow(self.infoButton)
        self.phantomButton = qt.QPushButton("Load phantom case")
        self.seedBox = qt.QSpinBox()
        self.seedBox.setRange(0, 99999)
        row = qt.QHBoxLayout()
        row.addWidget(self.phantomButton)
        row.addWidget(qt.QLabel("seed"))
        row.addWidget(self.seedBox)
        form.addRow(row)
        self.output = qt.QPlainTextEdit()
        self.output.readOnly = True
        form.addRow(self.output)
        self.layout.addStretch(1)

        self.infoButton.connect("clicked(bool)", self.onInfo)
        self.phantomButton.connect("clicked(bool)", self.onPhantom)
        self.updateButtons()

    def getLogic(self):
        if self.logic is None:
            self.logic = CLAIMLogic()
        return self.logic

    def updateButtons(self):
        ready = self.inputs.dependenciesReady()
        self.infoButton.enabled = ready and self.inputs.nodesSelected()
        self.phantomButton.enabled = ready

    def onInfo(self):
        with slicer.util.tryWithErrorDisplay("Cannot read the case.", waitCursor=True):
            self.output.setPlainText(self.getLogic().infoText(*self.inputs.nodes(), self.inputs.scheme()))

    def onPhantom(self):
        with slicer.util.tryWithErrorDisplay("Cannot generate the phantom case.", waitCursor=True):
            volume, segmentation, _ = self.getLogic().addPhantomCase(seed=self.seedBox.value)
            self.inputs.setNodes(volume, segmentation)
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            self.onInfo()


class CLAIMTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_PhantomRoundTrip()

    def test_PhantomRoundTrip(self):
        """A phantom case goes into the scene and comes back with its grid and masks intact."""
        self.delayDisplay("Starting the CLAIM round-trip test")
        if dependencies.missing():
            dependencies.install(dependencies.missing())
        import numpy as np

        logic = CLAIMLogic()
        volume, segmentation, phantom = logic.addPhantomCase(seed=7)
        case = logic.caseFromNodes(volume, segmentation)
        self.assertEqual(case.geometry.differences(phantom.geometry), [])
        self.assertTrue(np.array_equal(case.mask("myocardium"), phantom.labels >= 2))
        self.assertTrue(np.array_equal(case.mask("scar"), phantom.labels >= 3))
        text = logic.infoText(volume, segmentation)
        self.assertIn(phantom.truth["slice_order"], text)
        logging.info(text)
        self.delayDisplay("CLAIM round-trip test passed")
