"""CLAIM: scar synthesis, one-click scar segmentation and bull's-eye plots for LGE cardiac MRI.

The module is thin: the work lives in CLAIMLib (pure Python); the node conversions and the Logic, what the panel's
buttons do (``CLAIMSlicerLib.handlers.CLAIMPanelHandlers``) and the sample data in CLAIMSlicerLib. This file wires
the panel: its parameter node, its .ui, and its buttons to the handlers. Synthesis and segmentation run
``PythonSlicer -m CLAIMLib ...`` in a child process, so Slicer stays responsive and Cancel kills the job.
"""
from __future__ import annotations

import logging
import os
import pathlib
from typing import Annotated, Optional, Union

import slicer
from slicer import (vtkMRMLLabelMapVolumeNode, vtkMRMLMarkupsFiducialNode, vtkMRMLMarkupsROINode,
                    vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from CLAIMSlicerLib import dependencies, sampledata, selftest
from CLAIMSlicerLib.handlers import CLAIMPanelHandlers
from CLAIMSlicerLib.logic import CLAIMLogic
from CLAIMSlicerLib.panel import ParameterNodePanel


class CLAIM(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CLAIM"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = []
        self.parent.contributors = ["CLAIM developers"]
        self.parent.helpText = (
            "Clinically guided myocardial scar synthesis and segmentation on LGE cardiac MRI. "
            "<b>Case</b>: select an LGE volume and its labels (a segmentation or labelmap: EMIDEC, MyoPS or named "
            "segments), or load the phantom case (also in Sample Data, 'CLAIMPhantom'). "
            "<b>Synthesis</b>: paint scar under a scar mask (e.g. from the SMILE Mask Editor) with a diffusion "
            "checkpoint into a new volume &lt;input&gt;_synthetic. <b>One-click segmentation</b>: an installed model "
            "(<code>claim models install</code>) or a trained nnU-Net model folder gives one segment per label of the "
            "model on the input's grid, named as its dataset.json names them, with SNOMED CT terminology. "
            "<b>Bull's-eye</b>: "
            "scar per AHA segment as a figure and a table. <b>Quantify scar</b>: no model needed: scar, MVO and gray "
            "zone by FWHM, n-SD or Otsu thresholds relative to remote myocardium (picked on the bull's-eye, or "
            "automatic), with the per-segment table and bull's-eye (the same as <code>claim scar</code>). Synthesis and segmentation run in a separate process "
            "(click the button again to cancel). "
            f"Needs 3D Slicer {dependencies.MINIMUM_SLICER[0]}.{dependencies.MINIMUM_SLICER[1]} or later and, for "
            "synthesis and segmentation, the PyTorch extension; the Python packages are installed on first use, "
            "after asking. <b>Joint training</b> (CLAIM(J)) runs headless: <code>Slicer --no-splash "
            "--no-main-window --python-script &lt;this module's folder&gt;/Resources/train_joint.py -- --config "
            "FILE.toml</code> (the same as <code>claim train-joint --config FILE.toml</code>; exit status 0 done, 2 bad "
            "input, 1 failure).")
        self.parent.acknowledgementText = (
            "Based on CLAIM (Ramzan et al., 2025) and LeFusion (Zhang et al., ICLR 2025). "
            "EMIDEC data: Lalande et al., Data 2020.")
        if getattr(slicer, "app", None) is not None:
            slicer.app.connect("startupCompleted()", sampledata.registerSampleData)


@parameterNodeWrapper
class CLAIMParameterNode:
    # case
    inputVolume: vtkMRMLScalarVolumeNode
    inputLabels: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    labelScheme: str = ""
    phantomSeed: Annotated[int, WithinRange(0, 99999)] = 0
    # synthesis
    scarMask: Optional[Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]]
    checkpoint: pathlib.Path
    sampler: Annotated[str, Choice(["dpm", "ddim", "repaint"])] = "dpm"
    steps: Annotated[int, WithinRange(0, 50)] = 0  # 0: the sampler's default (dpm 5, ddim 50)
    brightness: Annotated[float, WithinRange(0.0, 10.0)] = 0.0  # 0: a histogram drawn from the training scars
    synthesisSeed: Annotated[int, WithinRange(0, 999999)] = 0
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    # segmentation
    segmentationVolume: Optional[vtkMRMLScalarVolumeNode]
    modelFolder: pathlib.Path
    installedModel: str = ""  # an installed segmenter's name (claim models install); "" uses modelFolder
    # bull's-eye
    bullseyeScar: Optional[Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]]
    rvPoints: Optional[vtkMRMLMarkupsFiducialNode]
    outputTable: Optional[vtkMRMLTableNode]
    # scar quantification
    scarMethod: Annotated[str, Choice(["fwhm", "nsd", "otsu"])] = "fwhm"
    scarSD: Annotated[float, WithinRange(2.0, 6.0)] = 3.0
    scarMinSizeMl: Annotated[float, WithinRange(0.0, 10.0)] = 0.05
    scarGrayZone: bool = False
    scarEndocardialOnly: bool = False
    remoteSegments: str = ""  # the remote picker's selection, e.g. "3,4" (bound by hand, not by the .ui)
    remoteRegion: Optional[Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode, vtkMRMLMarkupsROINode]]
    scarOutput: Optional[vtkMRMLSegmentationNode]
    scarTable: Optional[vtkMRMLTableNode]


class CLAIMWidget(ParameterNodePanel, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: the .ui bound to ``CLAIMParameterNode``, its buttons connected to ``CLAIMPanelHandlers``.

    ``logic`` and ``services`` (``CLAIMSlicerLib.services.PanelServices``) may be handed in; by default a
    ``CLAIMLogic`` and Slicer's services.
    """

    parameterNodeClass = CLAIMParameterNode

    def __init__(self, parent=None, logic=None, services=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic, self.services = logic, services
        self.handlers = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        import ctk

        from CLAIMSlicerLib.bullseye_picker import BullseyePicker
        from CLAIMSlicerLib.services import slicerServices
        from CLAIMSlicerLib.widgets import JobController

        self.loadPanel("UI/CLAIM.ui")
        self.ui.checkpointPathLineEdit.filters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Dirs
        self.ui.checkpointPathLineEdit.nameFilters = ["Checkpoints (*.pt)", "All files (*)"]
        self.ui.modelFolderPathLineEdit.filters = ctk.ctkPathLineEdit.Dirs

        if self.logic is None:
            self.logic = CLAIMLogic()
        self.synthesisJobs = JobController(self.ui.synthesizeButton, self.ui.synthesisProgressBar,
                                           self.ui.synthesisStatusLabel)
        self.segmentationJobs = JobController(self.ui.segmentButton, self.ui.segmentationProgressBar,
                                              self.ui.segmentationStatusLabel)
        self.remotePicker = BullseyePicker()
        self.ui.remoteBullseyeFrame.layout().addWidget(self.remotePicker)
        self.handlers = handlers = CLAIMPanelHandlers(self.logic, self.ui, lambda: self._parameterNode,
                                                      self.synthesisJobs, self.segmentationJobs,
                                                      self.services or slicerServices(), self.remotePicker)
        self.remotePicker.addSelectionCallback(handlers.onRemotePickerChanged)

        self.ui.loadPhantomButton.clicked.connect(handlers.onLoadPhantom)
        self.ui.infoButton.clicked.connect(handlers.onInfo)
        self.ui.synthesizeButton.clicked.connect(handlers.onSynthesize)
        self.ui.segmentButton.clicked.connect(handlers.onSegment)
        self.ui.bullseyeButton.clicked.connect(handlers.onBullseye)
        self.ui.quantifyScarButton.clicked.connect(handlers.onQuantifyScar)
        self.ui.remoteClearButton.clicked.connect(self.remotePicker.clearSelection)
        self.ui.installedModelComboBox.currentIndexChanged.connect(handlers.onInstalledModelChanged)

        self.initializeParameterNode()

    def stopJobs(self):
        if self.handlers is not None:
            self.handlers.stopJobs()

    def initializeParameterNode(self):
        super().initializeParameterNode()
        self.handlers.restoreRememberedPaths()
        self.handlers.refreshInstalledModels()

    def onParameterNodeModified(self, caller=None, event=None):
        if self.handlers is not None:
            self.handlers.updateButtons()


# ---------------------------------------------------------------------------------------------------- tests
class CLAIMTest(ScriptedLoadableModuleTest):
    """Logic tests run anywhere (also under pytest with slicer-core); panel tests need the Slicer application.

    The panel tests train tiny models first (a diffusion model of 60 steps and nnU-Net's 3-epoch trainer on
    phantoms, a few minutes on a CPU) unless ``CLAIM_TEST_DIFFUSION_MODEL`` / ``CLAIM_TEST_NNUNET_MODEL`` name
    trained ones.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        selftest.runAll(self, (self.test_PhantomRoundTrip, self.test_BullseyeTable, self.test_QuantifyScar,
                               self.test_SampleData, self.test_PanelBullseye, self.test_PanelSynthesisAndSegmentation))

    def _logic(self):
        if dependencies.missing("core") and selftest.inSlicerApplication():
            dependencies.ensure("core")
        return CLAIMLogic()

    def test_PhantomRoundTrip(self):
        """A phantom case goes into the scene and comes back with its grid and masks intact."""
        self.delayDisplay("Starting the CLAIM round-trip test")
        import numpy as np

        logic = self._logic()
        volume, segmentation, phantom = logic.addPhantomCase(seed=7)
        case = logic.caseFromNodes(volume, segmentation)
        self.assertEqual(case.geometry.differences(phantom.geometry), [])
        self.assertTrue(np.array_equal(case.mask("myocardium"), phantom.labels >= 2))
        self.assertTrue(np.array_equal(case.mask("scar"), phantom.labels >= 3))
        text = logic.infoText(volume, segmentation)
        self.assertIn(phantom.truth["slice_order"], text)
        logging.info(text)
        self.delayDisplay("CLAIM round-trip test passed")

    def test_BullseyeTable(self):
        """The phantom's own scar, per AHA segment: a table node of 17 rows and a PNG."""
        logic = self._logic()
        volume, segmentation, phantom = logic.addPhantomCase(seed=7)
        table, png = logic.bullseye(volume, segmentation)
        self.assertEqual(table.GetNumberOfRows(), 17)
        self.assertTrue(os.path.getsize(png) > 5000)
        from CLAIMSlicerLib.mrml import get_record

        scar_ml = float((phantom.labels >= 3).sum()) * phantom.geometry.voxel_volume_ml
        self.assertAlmostEqual(get_record(table)["totals"]["scar_ml"], scar_ml, places=6)

    def test_QuantifyScar(self):
        """Threshold scar on the phantom (no model): Scar, MVO and Gray zone segments as claim scar finds them,
        and 17 rows."""
        import numpy as np

        from CLAIMSlicerLib.mrml import get_record, segment_masks

        logic = self._logic()
        volume, segmentation, phantom = logic.addPhantomCase(seed=7)
        node, table, png = logic.quantifyScar(volume, segmentation, "nsd:3", grayZone=True)
        self.assertEqual(table.GetNumberOfRows(), 17)
        self.assertTrue(os.path.getsize(png) > 5000)
        masks = segment_masks(node, volume)
        self.assertEqual(sorted(masks), ["Gray zone", "MVO", "Scar"])
        from CLAIMLib.workflows.scar import quantify_scar

        context = logic.computeAHA(volume, segmentation)
        expected = quantify_scar(context.case, "nsd:3", gray_zone="", aha=context.aha)  # what claim scar finds
        self.assertTrue(np.array_equal(masks["Scar"] | masks["MVO"], expected.scar))
        self.assertTrue(np.any(expected.scar & (phantom.labels >= 3)))
        self.assertEqual(get_record(node)["method"], "nsd:3")

    def test_SampleData(self):
        """The phantom is in Sample Data and loads without a download."""
        selftest.requireSlicerApplication(self)
        import SampleData

        sampledata.registerSampleData()
        source = SampleData.SampleDataLogic().sourceForSampleName(sampledata.SAMPLE_NAME)
        self.assertIsNotNone(source)
        nodes = source.customDownloader(source)
        self.assertEqual(sorted(n.GetClassName() for n in nodes),
                         ["vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode"])

    def _panel(self):
        volume, labels = selftest.loadSamplePhantom()
        slicer.util.selectModule("CLAIM")
        widget = slicer.util.getModuleWidget("CLAIM")
        p = widget._parameterNode
        p.inputVolume, p.inputLabels = volume, labels
        return widget, p, volume, labels

    def test_PanelBullseye(self):
        """The panel's bull's-eye: a pixmap in the panel and a 17-row table."""
        selftest.requireSlicerApplication(self)
        widget, p, volume, labels = self._panel()
        p.outputTable = None
        widget.ui.bullseyeButton.click()
        self.assertIsNotNone(p.outputTable)
        self.assertEqual(p.outputTable.GetNumberOfRows(), 17)
        self.assertFalse(widget.ui.bullseyeImageLabel.pixmap.isNull())

    def test_PanelSynthesisAndSegmentation(self):
        """The panel's jobs with tiny models: synthesis (and a cancelled one), then segmentation."""
        selftest.requireSlicerApplication(self)
        missing = dependencies.missing("synthesis") + dependencies.missing("segmentation")
        if missing:
            self.skipTest(f"torch, monai and nnU-Net are not installed ({', '.join(sorted(set(missing)))})")
        import numpy as np

        from CLAIMSlicerLib import mrml
        from CLAIMSlicerLib.logic import SMILEMaskEditorLogic

        widget, p, volume, labels = self._panel()
        mask = SMILEMaskEditorLogic().generateMask(volume, labels, [4, 10], 4.0, "subendocardial:0.6", False, seed=3)
        p.scarMask, p.steps, p.device = mask, 5, "cpu"
        p.checkpoint = pathlib.Path(selftest.tinyDiffusionModel())
        before = slicer.mrmlScene.GetNumberOfNodes()

        widget.ui.synthesizeButton.click()  # start, then cancel: the scene stays as it was
        self.assertTrue(widget.synthesisJobs.running)
        self.assertEqual(widget.ui.synthesizeButton.text, "Cancel")
        widget.ui.synthesizeButton.click()
        self.assertFalse(widget.synthesisJobs.running)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), before)

        widget.ui.synthesizeButton.click()
        selftest.waitFor(widget.synthesisJobs)
        self.assertIsNone(widget.synthesisJobs.error, widget.synthesisJobs.error)
        synthetic = widget.synthesisJobs.result
        self.assertEqual(synthetic.GetName(), f"{volume.GetName()}_synthetic")
        scar, _ = mrml.scar_from_node(mask, volume)
        a, b = slicer.util.arrayFromVolume(volume), slicer.util.arrayFromVolume(synthetic)
        self.assertTrue(np.array_equal(a[~scar], b[~scar]))
        self.assertFalse(np.array_equal(a[scar], b[scar]))

        p.segmentationVolume, p.modelFolder = synthetic, pathlib.Path(selftest.tinyNNUNetModel())
        widget.ui.segmentButton.click()
        selftest.waitFor(widget.segmentationJobs, timeout=900)
        self.assertIsNone(widget.segmentationJobs.error, widget.segmentationJobs.error)
        seg = widget.segmentationJobs.result
        names = sorted(mrml.segment_masks(seg, synthetic))
        self.assertEqual(names, ["Cavity", "MVO", "Myocardium", "Scar"])

