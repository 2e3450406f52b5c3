"""SMILEMaskEditor: pick AHA segments on a bull's-eye and grow a clinically guided scar mask (SMILE).

The module is thin: the work lives in CLAIMLib (pure Python); the node conversions and the Logic, what the panel's
buttons do (``CLAIMSlicerLib.handlers.SMILEPanelHandlers``) and the bull's-eye picker in CLAIMSlicerLib, both
installed with the CLAIM module of this extension. This file wires the panel: its parameter node, its .ui, the
picker, and its buttons to the handlers.
"""
from __future__ import annotations

import logging
from typing import Annotated, Optional, Union

import slicer
from slicer import (vtkMRMLLabelMapVolumeNode, vtkMRMLMarkupsFiducialNode, vtkMRMLScalarVolumeNode,
                    vtkMRMLSegmentationNode)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleTest,
                                           ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from CLAIMSlicerLib import dependencies, selftest
from CLAIMSlicerLib.handlers import SMILEPanelHandlers, parseSegments
from CLAIMSlicerLib.logic import SMILEMaskEditorLogic
from CLAIMSlicerLib.panel import ParameterNodePanel

PATTERNS = ["wavefront", "subendocardial", "transmural", "midwall", "epicardial"]


class SMILEMaskEditor(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "SMILE Mask Editor"
        self.parent.categories = ["Cardiac"]
        self.parent.dependencies = ["CLAIM"]
        self.parent.contributors = ["CLAIM developers"]
        self.parent.helpText = (
            "Scar masks guided by clinical knowledge (SMILE). Select an LGE volume and its labels (the myocardium, "
            "as a segmentation or labelmap), click adjacent AHA segments on the bull's-eye (or a coronary "
            "territory), set the volume, the transmurality and the seed, and Generate: a segmentation with Scar "
            "and MVO segments, ready for the CLAIM module's synthesis. The AHA segments are computed once per "
            "input and reused; generating again replaces the mask in the same segmentation. "
            f"Needs 3D Slicer {dependencies.MINIMUM_SLICER[0]}.{dependencies.MINIMUM_SLICER[1]} or later; "
            "the Python packages are installed on first use, after asking.")
        self.parent.acknowledgementText = "Based on SMILE from CLAIM (Ramzan et al., 2025)."


@parameterNodeWrapper
class SMILEMaskEditorParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    inputLabels: Union[vtkMRMLSegmentationNode, vtkMRMLLabelMapVolumeNode]
    labelScheme: str = ""
    rvPoints: Optional[vtkMRMLMarkupsFiducialNode]
    segments: str = ""  # the picker's selection, e.g. "4,10" (the picker is bound by hand, not by the .ui)
    randomCount: Annotated[int, WithinRange(1, 6)] = 3
    volumeMl: Annotated[float, WithinRange(0.5, 150.0)] = 10.0
    pattern: Annotated[str, Choice(PATTERNS)] = "wavefront"
    extent: Annotated[float, WithinRange(0.1, 1.0)] = 0.5
    mvo: bool = False
    seed: Annotated[int, WithinRange(0, 999999)] = 0
    mode: Annotated[str, Choice(["direct", "template"])] = "direct"
    priorsPath: str = ""  # claim smile-priors JSON: size, depth, lesions (and segments when none picked)
    outputSegmentation: Optional[vtkMRMLSegmentationNode]
    outputAHA: Optional[vtkMRMLLabelMapVolumeNode]


class SMILEMaskEditorWidget(ParameterNodePanel, ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: the .ui bound to ``SMILEMaskEditorParameterNode``, the bull's-eye picker, and the buttons
    connected to ``SMILEPanelHandlers``.

    ``logic`` and ``services`` (``CLAIMSlicerLib.services.PanelServices``) may be handed in; by default a
    ``SMILEMaskEditorLogic`` and Slicer's services.
    """

    parameterNodeClass = SMILEMaskEditorParameterNode

    def __init__(self, parent=None, logic=None, services=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic, self.services = logic, services
        self.handlers = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from CLAIMSlicerLib.bullseye_picker import BullseyePicker
        from CLAIMSlicerLib.services import slicerServices

        self.loadPanel("UI/SMILEMaskEditor.ui")
        self.picker = BullseyePicker()
        self.ui.bullseyeFrame.layout().addWidget(self.picker)

        if self.logic is None:
            self.logic = SMILEMaskEditorLogic()
        self.handlers = handlers = SMILEPanelHandlers(self.logic, self.ui, lambda: self._parameterNode,
                                                      self.picker, self.services or slicerServices())
        self.picker.addSelectionCallback(handlers.onPickerChanged)

        self.ui.ladButton.clicked.connect(lambda: self.picker.selectTerritory("LAD"))
        self.ui.rcaButton.clicked.connect(lambda: self.picker.selectTerritory("RCA"))
        self.ui.lcxButton.clicked.connect(lambda: self.picker.selectTerritory("LCX"))
        self.ui.randomButton.clicked.connect(handlers.onRandomAdjacent)
        self.ui.clearButton.clicked.connect(self.picker.clearSelection)
        self.ui.generateButton.clicked.connect(handlers.onGenerate)
        self.ui.newSeedButton.clicked.connect(handlers.onNewSeed)

        self.initializeParameterNode()

    def onParameterNodeModified(self, caller=None, event=None):
        if self.handlers is not None:
            self.handlers.update()


# ---------------------------------------------------------------------------------------------------- tests
class SMILEMaskEditorTest(ScriptedLoadableModuleTest):
    """Logic tests run anywhere (also under pytest with slicer-core); widget tests need the Slicer application."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        selftest.runAll(self, (self.test_InputsFromLabelmap, self.test_GenerateAndRegenerate,
                               self.test_WavefrontFromPriors, self.test_WidgetEndToEnd))

    def _logic(self):
        if dependencies.missing("core") and selftest.inSlicerApplication():
            dependencies.ensure("core")
        return SMILEMaskEditorLogic()

    def test_InputsFromLabelmap(self):
        """A phantom's label map node (EMIDEC values) is read as a case on the volume's grid."""
        self.delayDisplay("Starting the SMILEMaskEditor input test")
        import numpy as np

        logic = self._logic()
        volume, _, phantom = logic.addPhantomCase(seed=3)
        labelmap = logic.addVolumeNode(phantom.labels, phantom.geometry, "labels", labelmap=True)
        case = logic.caseFromNodes(volume, labelmap)
        self.assertEqual(case.scheme.name, "EMIDEC")
        self.assertTrue(np.array_equal(case.mask("myocardium"), phantom.labels >= 2))
        logging.info(logic.infoText(volume, labelmap))
        self.delayDisplay("SMILEMaskEditor input test passed")

    def test_GenerateAndRegenerate(self):
        """Generate a mask in segments 4 and 10, then again with another seed into the same node."""
        import numpy as np

        from CLAIMSlicerLib import mrml

        logic = self._logic()
        volume, labels, _ = logic.addPhantomCase(seed=5)
        node = logic.generateMask(volume, labels, [4, 10], 5.0, "subendocardial:0.6", True, seed=1)
        first = mrml.segment_masks(node, volume)
        self.assertEqual(sorted(first), ["MVO", "Scar"])
        self.assertTrue(first["Scar"].any())
        again = logic.generateMask(volume, labels, [4, 10], 5.0, "subendocardial:0.6", True, seed=2,
                                   outputSegmentationNode=node)
        self.assertIs(again, node)
        second = mrml.segment_masks(node, volume)
        self.assertFalse(np.array_equal(first["Scar"], second["Scar"]))
        self.assertLess(logic.lastRecord["seconds"]["mask"], 5.0)

    def test_WavefrontFromPriors(self):
        """The default mask (one wavefront lesion) drawn from priors learned on phantom scars: one 3D piece."""
        import tempfile
        from pathlib import Path

        import numpy as np
        from scipy import ndimage

        from CLAIMLib.io import write_json
        from CLAIMLib.phantom import generate_cohort
        from CLAIMLib.workflows.masks import learn_smile_priors
        from CLAIMSlicerLib import mrml

        logic = self._logic()
        volume, labels, _ = logic.addPhantomCase(seed=6)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "priors.json"
            reference = [p.to_case() for p in generate_cohort(4, seed=8, normal_fraction=0.0)]
            write_json(path, learn_smile_priors(reference).to_dict())
            node = logic.generateMask(volume, labels, seed=3, priors=str(path))
        masks = mrml.segment_masks(node, volume)
        scar = masks["Scar"] | masks["MVO"]
        self.assertEqual(ndimage.label(scar, np.ones((3, 3, 3), bool))[1], 1)
        self.assertEqual(logic.lastRecord["pattern"], "wavefront")
        self.assertEqual(logic.lastRecord["volume_source"], "learned priors")

    def test_WidgetEndToEnd(self):
        """The panel: load the sample phantom, click segments on the picker, generate, regenerate with a new seed."""
        selftest.requireSlicerApplication(self)
        import numpy as np

        from CLAIMSlicerLib import mrml

        self.delayDisplay("SMILE Mask Editor panel test")
        volume, labels = selftest.loadSamplePhantom()
        slicer.util.selectModule("SMILEMaskEditor")
        widget = slicer.util.getModuleWidget("SMILEMaskEditor")
        p = widget._parameterNode
        p.inputVolume, p.inputLabels, p.outputSegmentation = volume, labels, None
        p.volumeMl, p.pattern, p.extent, p.mvo, p.seed = 4.0, "subendocardial", 0.6, True, 11
        picker = widget.picker
        picker.resize(220, 220)
        picker.clearSelection()
        for s in (4, 10):  # click the segments' centres through the picker's own hit testing
            from CLAIMLib.bullseye import segment_centre

            px, py = picker.plotToWidget(*segment_centre(s))
            self.assertEqual(picker.segmentAt(px, py), s)
            picker.toggleSegment(picker.segmentAt(px, py))
        self.assertEqual(p.segments, "4,10")
        self.assertTrue(widget.ui.generateButton.enabled)
        widget.ui.generateButton.click()
        node = p.outputSegmentation
        self.assertIsNotNone(node)
        first = mrml.segment_masks(node, volume)
        self.assertTrue(first["Scar"].any())
        widget.ui.newSeedButton.click()
        self.assertIs(p.outputSegmentation, node)
        self.assertEqual(p.seed, 12)
        second = mrml.segment_masks(node, volume)
        self.assertFalse(np.array_equal(first["Scar"], second["Scar"]))
        picker.selectTerritory("LAD")
        self.assertEqual(parseSegments(p.segments), [1, 2, 7, 8, 13, 14, 17])
        self.assertIn("Scar", widget.ui.statusLabel.text)
        self.delayDisplay("SMILE Mask Editor panel test passed")

