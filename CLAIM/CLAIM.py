"""CLAIM: scar synthesis, one-click scar segmentation and bull's-eye plots for LGE cardiac MRI.

The module is thin: the work lives in CLAIMLib (pure Python) and the node conversions and Logic in CLAIMSlicerLib.
Synthesis and segmentation run ``PythonSlicer -m CLAIMLib ...`` in a child process, so Slicer stays responsive and
Cancel kills the job.
"""
from __future__ import annotations

import logging
import os
import pathlib
from typing import Annotated, Optional, Union

import slicer
from slicer import (vtkMRMLLabelMapVolumeNode, vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode, vtkMRMLTableNode)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from CLAIMSlicerLib import dependencies, selftest
from CLAIMSlicerLib.logic import CLAIMLogic
from CLAIMSlicerLib.panel import ParameterNodePanel

SAMPLE_NAME = "CLAIMPhantom"
SAMPLE_SEED = 7


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
            "checkpoint into a new volume &lt;input&gt;_synthetic. <b>One-click segmentation</b>: a trained nnU-Net "
            "model folder gives Cavity, Myocardium, Scar and MVO segments on the input's grid. <b>Bull's-eye</b>: "
            "scar per AHA segment as a figure and a table. Synthesis and segmentation run in a separate process "
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
            slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """The CLAIM phantom in the Sample Data module: generated locally by CLAIMLib.phantom, nothing downloaded."""
    import SampleData

    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="CLAIM", sampleName=SAMPLE_NAME,
        uris=f"claim-phantom:seed={SAMPLE_SEED}",  # never fetched: the custom loader below generates the case
        fileNames=f"{SAMPLE_NAME}.nrrd", nodeNames=SAMPLE_NAME,
        thumbnailFileName=os.path.join(os.path.dirname(__file__), "Resources", "Icons", "CLAIM.png"),
        customDownloader=loadPhantomSample)


def loadPhantomSample(source=None):
    """SampleData's loader: the phantom case (LGE volume and labels segmentation) into the scene."""
    if dependencies.missing("core"):
        from CLAIMSlicerLib.widgets import ensureDependencies

        if not ensureDependencies("core"):
            return []
    volume, segmentation, _ = CLAIMLogic().addPhantomCase(seed=SAMPLE_SEED)
    slicer.util.setSliceViewerLayers(background=volume, fit=True)
    return [volume, segmentation]


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
    sampler: Annotated[str, Choice(["ddim", "repaint"])] = "ddim"
    steps: Annotated[int, WithinRange(1, 50)] = 50
    brightness: Annotated[float, WithinRange(0.0, 10.0)] = 0.0  # 0: a histogram drawn from the training scars
    synthesisSeed: Annotated[int, WithinRange(0, 999999)] = 0
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    # segmentation
    segmentationVolume: Optional[vtkMRMLScalarVolumeNode]
    modelFolder: pathlib.Path
    # bull's-eye
    bullseyeScar: Optional[Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]]
    rvPoints: Optional[vtkMRMLMarkupsFiducialNode]
    outputTable: Optional[vtkMRMLTableNode]


def pathText(path) -> str:
    """"" for an unset path parameter (pathlib.Path() is ".")."""
    text = str(path) if path is not None else ""
    return "" if text in ("", ".") else text


class CLAIMWidget(ParameterNodePanel, ScriptedLoadableModuleWidget, VTKObservationMixin):
    parameterNodeClass = CLAIMParameterNode

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        import ctk

        from CLAIMSlicerLib.widgets import JobController

        self.loadPanel("UI/CLAIM.ui")
        self.ui.checkpointPathLineEdit.filters = ctk.ctkPathLineEdit.Files | ctk.ctkPathLineEdit.Dirs
        self.ui.checkpointPathLineEdit.nameFilters = ["Checkpoints (*.pt)", "All files (*)"]
        self.ui.modelFolderPathLineEdit.filters = ctk.ctkPathLineEdit.Dirs

        self.logic = CLAIMLogic()
        self.synthesisJobs = JobController(self.ui.synthesizeButton, self.ui.synthesisProgressBar,
                                           self.ui.synthesisStatusLabel)
        self.segmentationJobs = JobController(self.ui.segmentButton, self.ui.segmentationProgressBar,
                                              self.ui.segmentationStatusLabel)

        self.ui.loadPhantomButton.clicked.connect(self.onLoadPhantom)
        self.ui.infoButton.clicked.connect(self.onInfo)
        self.ui.synthesizeButton.clicked.connect(self.onSynthesize)
        self.ui.segmentButton.clicked.connect(self.onSegment)
        self.ui.bullseyeButton.clicked.connect(self.onBullseye)

        self.initializeParameterNode()

    def stopJobs(self):
        for jobs in (getattr(self, "synthesisJobs", None), getattr(self, "segmentationJobs", None)):
            if jobs is not None:
                jobs.cancel()

    def initializeParameterNode(self):
        from CLAIMSlicerLib.widgets import rememberedPath

        super().initializeParameterNode()
        p = self._parameterNode
        if not pathText(p.checkpoint) and rememberedPath("diffusionCheckpoint"):
            p.checkpoint = pathlib.Path(rememberedPath("diffusionCheckpoint"))
        if not pathText(p.modelFolder) and rememberedPath("nnUNetModelFolder"):
            p.modelFolder = pathlib.Path(rememberedPath("nnUNetModelFolder"))

    def onParameterNodeModified(self, caller=None, event=None):
        self.updateButtons()

    def updateButtons(self, caller=None, event=None):
        p = self._parameterNode
        if p is None:
            return
        case = bool(p.inputVolume and p.inputLabels)
        self.ui.infoButton.enabled = case
        self.ui.synthesizeButton.enabled = self.synthesisJobs.running or (
            case and bool(p.scarMask) and bool(pathText(p.checkpoint)))
        self.ui.segmentButton.enabled = self.segmentationJobs.running or (
            bool(p.segmentationVolume or p.inputVolume) and bool(pathText(p.modelFolder)))
        self.ui.bullseyeButton.enabled = case

    # ------------------------------------------------------------------------------------------------ case
    def onLoadPhantom(self):
        with slicer.util.tryWithErrorDisplay("Cannot generate the phantom case.", waitCursor=True):
            if not self.ensureDependencies("core"):
                return
            volume, segmentation, _ = self.logic.addPhantomCase(seed=self._parameterNode.phantomSeed)
            self._parameterNode.inputVolume, self._parameterNode.inputLabels = volume, segmentation
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            self.onInfo()

    def onInfo(self):
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Cannot read the case.", waitCursor=True):
            if not self.ensureDependencies("core"):
                return
            self.ui.infoTextEdit.setPlainText(self.logic.infoText(p.inputVolume, p.inputLabels,
                                                                  p.labelScheme or None))

    # ------------------------------------------------------------------------------------------------ jobs
    def onSynthesize(self):
        if self.synthesisJobs.running:
            self.synthesisJobs.cancel()
            return
        from CLAIMSlicerLib.widgets import rememberPath

        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Cannot start the synthesis.", waitCursor=True):
            if not self.ensureDependencies("synthesis"):
                return
            rememberPath("diffusionCheckpoint", pathText(p.checkpoint))
            job = self.logic.synthesizeCommand(p.inputVolume, p.inputLabels, p.scarMask, pathText(p.checkpoint),
                                               p.sampler, p.steps, p.synthesisSeed, p.brightness or None, p.device,
                                               p.labelScheme or None)
            self.synthesisJobs.start(job, onSuccess=self.onSynthesized, onFailure=self.onJobFailed)
        self.updateButtons()

    def onSynthesized(self, node):
        slicer.util.setSliceViewerLayers(background=node)
        if not self._parameterNode.segmentationVolume:
            self._parameterNode.segmentationVolume = node
        self.updateButtons()

    def onSegment(self):
        if self.segmentationJobs.running:
            self.segmentationJobs.cancel()
            return
        from CLAIMSlicerLib.widgets import rememberPath

        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Cannot start the segmentation.", waitCursor=True):
            if not self.ensureDependencies("segmentation"):
                return
            rememberPath("nnUNetModelFolder", pathText(p.modelFolder))
            job = self.logic.segmentCommand(p.segmentationVolume or p.inputVolume, pathText(p.modelFolder), p.device)
            self.segmentationJobs.start(job, onSuccess=self.onSegmented, onFailure=self.onJobFailed)
        self.updateButtons()

    def onSegmented(self, node):
        if not self._parameterNode.bullseyeScar:
            self._parameterNode.bullseyeScar = node
        self.updateButtons()

    def onJobFailed(self, message):
        self.updateButtons()
        slicer.util.errorDisplay(message)

    # ------------------------------------------------------------------------------------------------ bull's-eye
    def onBullseye(self):
        from CLAIMSlicerLib.widgets import showImage

        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Cannot compute the bull's-eye.", waitCursor=True):
            if not self.ensureDependencies("core"):
                return
            table, png = self.logic.bullseye(p.inputVolume, p.inputLabels, p.bullseyeScar, rvPointsNode=p.rvPoints,
                                             scheme=p.labelScheme or None, tableNode=p.outputTable)
            p.outputTable = table
            showImage(self.ui.bullseyeImageLabel, png)
            from CLAIMSlicerLib.mrml import get_record

            totals = get_record(table)["totals"]
            self.ui.bullseyeStatusLabel.setText(
                f"Scar {totals['scar_ml']:.2f} mL of {totals['myocardium_ml']:.1f} mL myocardium "
                f"({totals['scar_percent']:.1f}%), MVO {totals['mvo_ml']:.2f} mL; table '{table.GetName()}'.")
            selection = slicer.app.applicationLogic().GetSelectionNode()
            selection.SetActiveTableID(table.GetID())
            slicer.app.applicationLogic().PropagateTableSelection()


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
        selftest.runAll(self, (self.test_PhantomRoundTrip, self.test_BullseyeTable, self.test_SampleData,
                               self.test_PanelBullseye, self.test_PanelSynthesisAndSegmentation))

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

    def test_SampleData(self):
        """The phantom is in Sample Data and loads without a download."""
        selftest.requireSlicerApplication(self)
        import SampleData

        registerSampleData()
        source = SampleData.SampleDataLogic().sourceForSampleName(SAMPLE_NAME)
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

