"""What the module panels do (CLAIMSlicerLib/handlers.py), in CI: each panel's handlers on the widgets of its real
.ui (PySide6 through tests/qt_shim.py, off screen), with real job controllers on a fake runner, real MRML nodes
(slicer-core) and a fake Logic that records its calls. For each panel: a run (the Logic called with the panel's
inputs, the outputs where they belong), progress, cancel, and an error shown as one message."""
from __future__ import annotations

import importlib
import inspect
import pathlib
import types

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("this 'slicer' module has no MRML classes", allow_module_level=True)

from CLAIMLib.errors import InputError  # noqa: E402
from panel_fakes import FakeCLAIMLogic, FakeRunner, FakeServices, FakeSMILELogic, load_ui  # noqa: E402


@pytest.fixture(scope="module")
def qt_env():
    """(qt shim, CLAIMSlicerLib.widgets, CLAIMSlicerLib.bullseye_picker, QApplication) under the shim."""
    import qt_shim

    shim = qt_shim.shimmed("CLAIMSlicerLib.widgets", reloaded=("CLAIMSlicerLib.bullseye_picker",))
    qt, widgets, app = next(shim)
    picker = importlib.import_module("CLAIMSlicerLib.bullseye_picker")
    yield types.SimpleNamespace(qt=qt, widgets=widgets, picker=picker, app=app)
    next(shim, None)


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _signature(method) -> list:
    return [n for n in inspect.signature(method).parameters if n != "self"]


@pytest.mark.parametrize("fake, real, names", [
    (FakeCLAIMLogic, "CLAIMLogic", ("addPhantomCase", "infoText", "synthesizeCommand", "segmentCommand",
                                    "bullseye", "quantifyScar", "installedModels")),
    (FakeSMILELogic, "SMILEMaskEditorLogic", ("availableSegments", "generateMask", "exportAHA", "infoText"))])
def test_the_fake_logic_has_the_real_logic_s_signatures(fake, real, names):
    """The fakes stand for the real Logic: the parameters the handlers pass exist there, in the same places."""
    from CLAIMSlicerLib import logic

    for name in names:
        ours, theirs = _signature(getattr(fake, name)), _signature(getattr(getattr(logic, real), name))
        assert theirs[:len(ours)] == ours, (name, theirs)


# ---------------------------------------------------------------------------------------------------- CLAIM
class ClaimPanel:
    """The CLAIM panel's handlers on its .ui, as CLAIMWidget.setup builds them, with fakes around."""

    def __init__(self, env, scene, folder):
        from CLAIMSlicerLib.handlers import CLAIMPanelHandlers

        self.root, self.ui = load_ui(env.qt, "CLAIM")
        self.fake = FakeServices(showImage=env.widgets.showImage)
        self.logic = FakeCLAIMLogic(scene, folder, self.fake)
        self.synthesisRunner, self.segmentationRunner = FakeRunner(), FakeRunner()
        ui = self.ui
        self.synthesisJobs = env.widgets.JobController(ui.synthesizeButton, ui.synthesisProgressBar,
                                                       ui.synthesisStatusLabel, runner=self.synthesisRunner)
        self.segmentationJobs = env.widgets.JobController(ui.segmentButton, ui.segmentationProgressBar,
                                                          ui.segmentationStatusLabel, runner=self.segmentationRunner)
        self.p = types.SimpleNamespace(
            inputVolume=None, inputLabels=None, labelScheme="", phantomSeed=0, scarMask=None,
            checkpoint=pathlib.Path(), sampler="ddim", steps=50, brightness=0.0, synthesisSeed=0, device="auto",
            segmentationVolume=None, modelFolder=pathlib.Path(), installedModel="", bullseyeScar=None, rvPoints=None,
            outputTable=None,
            scarMethod="fwhm", scarSD=3.0, scarMinSizeMl=0.05, scarGrayZone=False, scarEndocardialOnly=False,
            remoteSegments="", remoteRegion=None, scarOutput=None, scarTable=None)
        self.picker = env.picker.BullseyePicker()
        self.handlers = CLAIMPanelHandlers(self.logic, ui, lambda: self.p, self.synthesisJobs, self.segmentationJobs,
                                           self.fake.services(), self.picker)
        self.picker.addSelectionCallback(self.handlers.onRemotePickerChanged)
        ui.synthesizeButton.clicked.connect(self.handlers.onSynthesize)  # as the module file connects them
        ui.segmentButton.clicked.connect(self.handlers.onSegment)
        ui.installedModelComboBox.currentIndexChanged.connect(self.handlers.onInstalledModelChanged)

    def case(self, scene, folder):
        p = self.p
        p.inputVolume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "lge")
        p.inputLabels = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "labels")
        p.scarMask = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "mask")
        p.checkpoint = folder / "checkpoint.pt"
        p.modelFolder = folder / "model"
        self.handlers.updateButtons()
        return p


@pytest.fixture
def claim(qt_env, scene, tmp_path):
    panel = ClaimPanel(qt_env, scene, tmp_path)
    yield panel
    panel.handlers.stopJobs()
    panel.root.deleteLater()
    qt_env.app.processEvents()


def test_claim_buttons_follow_the_inputs(claim, scene, tmp_path):
    ui = claim.ui
    claim.handlers.updateButtons()
    assert not any(b.isEnabled() for b in (ui.infoButton, ui.synthesizeButton, ui.segmentButton, ui.bullseyeButton))
    p = claim.case(scene, tmp_path)
    assert all(b.isEnabled() for b in (ui.infoButton, ui.synthesizeButton, ui.segmentButton, ui.bullseyeButton))
    p.checkpoint, p.modelFolder = pathlib.Path(), pathlib.Path()  # unset paths read "."
    claim.handlers.updateButtons()
    assert ui.infoButton.isEnabled() and not ui.synthesizeButton.isEnabled() and not ui.segmentButton.isEnabled()


def test_claim_load_phantom_fills_the_case_and_shows_its_info(claim):
    claim.p.phantomSeed, claim.p.labelScheme = 12, "emidec"
    claim.handlers.onLoadPhantom()
    assert claim.logic.called("addPhantomCase") == [((), {"seed": 12})]
    p = claim.p
    assert p.inputVolume.GetName() == "phantom12" and p.inputLabels.GetName() == "phantom12_labels"
    assert claim.fake.layers == [{"background": p.inputVolume, "fit": True}]
    assert claim.logic.called("infoText") == [((p.inputVolume, p.inputLabels, "emidec"), {})]
    assert claim.ui.infoTextEdit.toPlainText() == "phantom12 with phantom12_labels (emidec labels)"
    assert claim.fake.errors == [] and set(claim.fake.asked) == {"core"}
    assert all(claim.logic.busyDuringCalls)  # under the wait cursor


def test_claim_synthesis_runs_shows_progress_and_lands(claim, scene, tmp_path):
    p = claim.case(scene, tmp_path)
    p.sampler, p.steps, p.synthesisSeed, p.device = "repaint", 5, 3, "cpu"
    progress = []
    claim.synthesisJobs.progressed.connect(lambda fraction, stage: progress.append((fraction, stage)))
    ui = claim.ui
    applyText = ui.synthesizeButton.text()
    ui.synthesizeButton.click()
    assert claim.logic.called("synthesizeCommand") == [
        ((p.inputVolume, p.inputLabels, p.scarMask, str(tmp_path / "checkpoint.pt"), "repaint", 5, 3, None, "cpu",
          None), {})]  # brightness 0 and an empty scheme mean "not given"
    assert claim.fake.paths == {"diffusionCheckpoint": str(tmp_path / "checkpoint.pt")}
    assert claim.fake.asked == ["synthesis"]
    assert claim.synthesisJobs.running and claim.synthesisRunner.argv == ["claim", "synthesis"]
    assert ui.synthesizeButton.text() == "Cancel" and ui.synthesizeButton.isEnabled()
    assert not ui.synthesisProgressBar.isHidden() and ui.synthesisProgressBar.maximum() == 0  # busy

    claim.synthesisRunner.progress(0.4, "sampling")
    claim.synthesisJobs.poll()
    assert (ui.synthesisProgressBar.maximum(), ui.synthesisProgressBar.value()) == (100, 40)
    assert ui.synthesisStatusLabel.text() == "synthesis: sampling (40%)" and progress == [(0.4, "sampling")]

    claim.synthesisRunner.finish(0)
    claim.synthesisJobs.poll()
    synthetic = scene.GetFirstNodeByName("lge_synthetic")
    assert synthetic is not None and claim.synthesisJobs.result is synthetic
    assert p.segmentationVolume is synthetic and claim.fake.layers[-1] == {"background": synthetic}
    assert ui.synthesizeButton.text() == applyText and ui.synthesizeButton.isEnabled()
    assert ui.synthesisStatusLabel.text() == "synthesis: done" and ui.synthesisProgressBar.isHidden()
    assert claim.fake.errors == []


def test_claim_segmentation_runs_and_feeds_the_bullseye(claim, scene, tmp_path):
    p = claim.case(scene, tmp_path)
    other = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "other")
    p.segmentationVolume, p.device = other, "cuda"
    claim.ui.segmentButton.click()
    assert claim.logic.called("segmentCommand") == [((other, str(tmp_path / "model"), "cuda"), {})]
    assert claim.fake.paths == {"nnUNetModelFolder": str(tmp_path / "model")}
    assert claim.ui.segmentButton.text() == "Cancel"
    # nnU-Net training's progress lines carry epoch, loss, pseudo-Dice and ETA: the status line shows them
    claim.segmentationRunner.progress(0.5, "training nnU-Net", epoch=3, loss=0.42, pseudo_dice=0.61, eta_s=12.5)
    claim.segmentationJobs.poll()
    assert claim.ui.segmentationStatusLabel.text() == ("segmentation: training nnU-Net (50%, epoch 3, loss 0.42, "
                                                       "pseudo-Dice 0.61, ETA 12 s)")
    claim.segmentationRunner.progress(1.0, "predicting")
    claim.segmentationRunner.finish(0)
    claim.segmentationJobs.poll()
    assert p.bullseyeScar is scene.GetFirstNodeByName("other_segmentation")
    assert claim.ui.segmentationStatusLabel.text() == "segmentation: done"


def test_claim_segments_with_an_installed_model_picked_in_the_box(claim, scene, tmp_path):
    """The installed-model box lists the models home's segmenters after the folder entry; picking one segments
    with its name (the folder field is then off and not remembered); the folder entry goes back to the folder."""
    p = claim.case(scene, tmp_path)
    claim.logic.installed = ("emidec-2d", "phantoms")
    claim.handlers.refreshInstalledModels()
    box = claim.ui.installedModelComboBox
    assert [box.itemText(i) for i in range(box.count())] == ["(the model folder below)", "emidec-2d", "phantoms"]
    assert claim.logic.called("installedModels") == [(("segmenter",), {})] and box.currentIndex() == 0
    box.setCurrentIndex(2)
    assert p.installedModel == "phantoms" and not claim.ui.modelFolderPathLineEdit.isEnabled()
    claim.ui.segmentButton.click()
    assert claim.logic.called("segmentCommand")[-1][0][1] == "phantoms" and claim.fake.paths == {}
    claim.segmentationJobs.cancel()
    claim.logic.installed = ("emidec-2d",)  # uninstalled meanwhile: back to the folder
    claim.handlers.refreshInstalledModels()
    assert p.installedModel == "" and box.currentIndex() == 0 and claim.ui.modelFolderPathLineEdit.isEnabled()
    claim.ui.segmentButton.click()
    assert claim.logic.called("segmentCommand")[-1][0][1] == str(tmp_path / "model")


@pytest.mark.parametrize("which", ["synthesis", "segmentation"])
def test_claim_clicking_a_running_job_s_button_cancels_it(claim, scene, tmp_path, which):
    p = claim.case(scene, tmp_path)
    button = claim.ui.synthesizeButton if which == "synthesis" else claim.ui.segmentButton
    jobs = claim.synthesisJobs if which == "synthesis" else claim.segmentationJobs
    runner = claim.synthesisRunner if which == "synthesis" else claim.segmentationRunner
    applyText = button.text()
    ended = []
    jobs.finished.connect(lambda result, error: ended.append((result, error)))
    button.click()
    runner.progress(0.2, "sampling")
    jobs.poll()
    nodes = scene.GetNumberOfNodes()
    workdir = jobs.job.workdir
    button.click()  # "Cancel"
    assert runner.cancels == 1 and not jobs.running and ended == [(None, None)]
    assert button.text() == applyText and button.isEnabled()
    assert jobs.statusLabel.text() == f"{which}: cancelled"
    assert scene.GetNumberOfNodes() == nodes and not workdir.exists()  # nothing entered the scene
    assert p.segmentationVolume is None and p.bullseyeScar is None and claim.fake.errors == []
    assert len(claim.logic.calls) == 1  # the cancel click started nothing
    button.click()  # and the button starts a new job again
    assert jobs.running and len(claim.logic.calls) == 2


def test_claim_bullseye_lands_in_the_panel(claim, scene, tmp_path):
    p = claim.case(scene, tmp_path)
    p.bullseyeScar = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "nnunet")
    p.rvPoints = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "rv")
    p.labelScheme = "myops"
    claim.handlers.onBullseye()
    assert claim.logic.called("bullseye") == [
        ((p.inputVolume, p.inputLabels, p.bullseyeScar), {"rvPointsNode": p.rvPoints, "scheme": "myops",
                                                          "tableNode": None})]
    table = p.outputTable
    assert table is not None and table.IsA("vtkMRMLTableNode") and claim.fake.tables == [table]
    assert not claim.ui.bullseyeImageLabel.pixmap().isNull()
    assert claim.ui.bullseyeStatusLabel.text() == (
        "Scar 2.50 mL of 101.2 mL myocardium (2.5%), MVO 0.25 mL; table 'scar_per_segment'.")
    claim.handlers.onBullseye()  # again: into the same table
    assert claim.logic.called("bullseye")[1][1]["tableNode"] is table and p.outputTable is table


def test_claim_scar_quantification_lands_in_the_panel(claim, scene, tmp_path):
    ui, p = claim.ui, claim.case(scene, tmp_path)
    assert ui.quantifyScarButton.isEnabled() and not ui.scarSDSpinBox.isEnabled()
    claim.picker.toggleSegment(3)  # remote segments picked on the bull's-eye reach the parameters
    claim.picker.toggleSegment(4)
    assert p.remoteSegments == "3,4"
    claim.handlers.updateButtons()
    assert ui.remoteSegmentsLabel.text() == "Remote: segments 3, 4"
    p.scarMethod, p.scarSD, p.scarGrayZone = "nsd", 2.5, True
    claim.handlers.updateButtons()
    assert ui.scarSDSpinBox.isEnabled()
    claim.handlers.onQuantifyScar()
    assert claim.logic.called("quantifyScar") == [
        ((p.inputVolume, p.inputLabels, "nsd:2.5", [3, 4], None, True, 0.05, False),
         {"rvPointsNode": None, "scheme": None, "outputSegmentationNode": None, "tableNode": None})]
    assert p.scarOutput.IsA("vtkMRMLSegmentationNode") and p.scarTable.IsA("vtkMRMLTableNode")
    assert claim.fake.tables == [p.scarTable] and not ui.scarImageLabel.pixmap().isNull()
    assert ui.scarStatusLabel.text() == (
        "nsd:2.5: scar 12.50 mL (12.5% of 100.0 mL myocardium), MVO 0.50 mL, gray zone 3.25 mL; remote AHA segment 3 "
        "(automatic: lowest median); table 'lge_scar_per_segment'.")
    claim.handlers.onQuantifyScar()  # again: into the same nodes
    assert claim.logic.called("quantifyScar")[1][1]["outputSegmentationNode"] is p.scarOutput
    p.remoteSegments = ""  # the parameters drive the picker too
    claim.handlers.updateButtons()
    assert claim.picker.selectedSegments() == [] and ui.remoteSegmentsLabel.text() == "Automatic remote"
    claim.logic.raises["quantifyScar"] = InputError("--remote-segments", "segment 17 holds no myocardium")
    claim.handlers.onQuantifyScar()
    assert claim.fake.errors == [("Cannot quantify the scar.\n\n--remote-segments: segment 17 holds no myocardium",
                                  None)]


@pytest.mark.parametrize("error, details", [(InputError("mask.nrrd", "holds no scar   voxel"), False),
                                            (RuntimeError("CUDA out\nof memory"), True)])
def test_claim_a_failing_logic_shows_one_message(claim, scene, tmp_path, error, details):
    p = claim.case(scene, tmp_path)
    claim.logic.raises["synthesizeCommand"] = error
    applyText = claim.ui.synthesizeButton.text()
    claim.ui.synthesizeButton.click()
    assert len(claim.fake.errors) == 1
    message, detail = claim.fake.errors[0]
    assert message == "Cannot start the synthesis.\n\n" + " ".join(str(error).split())
    assert bool(detail) == details and (not details or "Traceback" in detail)
    assert not claim.synthesisJobs.running and claim.ui.synthesizeButton.text() == applyText
    assert claim.ui.synthesizeButton.isEnabled() and not claim.fake.busyNow  # the cursor is back
    claim.logic.raises = {"bullseye": error, "infoText": error}
    claim.handlers.onBullseye()
    claim.handlers.onInfo()
    assert [m.split("\n")[0] for m, _ in claim.fake.errors[1:]] == ["Cannot compute the bull's-eye.",
                                                                    "Cannot read the case."]
    assert p.outputTable is None and claim.ui.bullseyeImageLabel.pixmap().isNull()


def test_claim_a_failed_job_shows_its_one_line_error(claim, scene, tmp_path):
    p = claim.case(scene, tmp_path)
    claim.ui.synthesizeButton.click()
    claim.synthesisRunner.finish(2, "claim: error: mask.nrrd: holds no scar voxel")
    claim.synthesisJobs.poll()
    assert claim.fake.errors == [("claim: error: mask.nrrd: holds no scar voxel", None)]
    assert claim.ui.synthesisStatusLabel.text() == "claim: error: mask.nrrd: holds no scar voxel"
    assert p.segmentationVolume is None and not claim.synthesisJobs.running


def test_claim_declined_packages_call_no_logic(claim, scene, tmp_path):
    claim.case(scene, tmp_path)
    claim.fake.install = False
    for handler in (claim.handlers.onLoadPhantom, claim.handlers.onInfo, claim.handlers.onSynthesize,
                    claim.handlers.onSegment, claim.handlers.onBullseye):
        handler()
    assert claim.fake.asked == ["core", "core", "synthesis", "segmentation", "core"]
    assert claim.logic.calls == [] and claim.fake.errors == [] and not claim.synthesisJobs.running


def test_claim_remembered_paths_fill_only_empty_parameters(claim, tmp_path):
    claim.fake.paths = {"diffusionCheckpoint": str(tmp_path / "last.pt"), "nnUNetModelFolder": str(tmp_path / "m")}
    claim.p.modelFolder = tmp_path / "chosen"
    claim.handlers.restoreRememberedPaths()
    assert claim.p.checkpoint == tmp_path / "last.pt" and claim.p.modelFolder == tmp_path / "chosen"


def test_claim_stop_jobs_cancels_both(claim, scene, tmp_path):
    claim.case(scene, tmp_path)
    claim.ui.synthesizeButton.click()
    claim.ui.segmentButton.click()
    claim.handlers.stopJobs()
    assert (claim.synthesisRunner.cancels, claim.segmentationRunner.cancels) == (1, 1)
    assert not claim.synthesisJobs.running and not claim.segmentationJobs.running


# ---------------------------------------------------------------------------------------------------- SMILE
class SmilePanel:
    """The SMILE Mask Editor panel's handlers on its .ui and a real bull's-eye picker, with fakes around."""

    def __init__(self, env, scene, folder):
        from CLAIMSlicerLib.handlers import SMILEPanelHandlers

        self.root, self.ui = load_ui(env.qt, "SMILEMaskEditor")
        self.fake = FakeServices()
        self.logic = FakeSMILELogic(scene, folder, self.fake)
        self.picker = env.picker.BullseyePicker()
        self.p = types.SimpleNamespace(
            inputVolume=None, inputLabels=None, labelScheme="", rvPoints=None, segments="", randomCount=3,
            volumeMl=10.0, pattern="subendocardial", extent=0.5, mvo=False, seed=0, mode="direct",
            outputSegmentation=None, outputAHA=None, priorsPath="")
        self.handlers = SMILEPanelHandlers(self.logic, self.ui, lambda: self.p, self.picker, self.fake.services())
        self.picker.addSelectionCallback(self.handlers.onPickerChanged)

    def case(self, scene):
        self.p.inputVolume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "lge")
        self.p.inputLabels = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "labels")
        return self.p


@pytest.fixture
def smile(qt_env, scene, tmp_path):
    panel = SmilePanel(qt_env, scene, tmp_path)
    yield panel
    panel.picker.deleteLater()
    panel.root.deleteLater()
    qt_env.app.processEvents()


def test_smile_picker_parameters_and_buttons_in_step(smile, scene):
    ui, p = smile.ui, smile.p
    smile.handlers.update()
    assert ui.selectedSegmentsLabel.text() == "No segment selected (click the bull's-eye)"
    assert not ui.generateButton.isEnabled() and "at least one AHA segment" in ui.generateButton.toolTip()
    smile.picker.toggleSegment(10)
    smile.picker.toggleSegment(4)  # a click on the picker reaches the parameters
    assert p.segments == "4,10"
    smile.case(scene)
    smile.handlers.update()
    assert ui.selectedSegmentsLabel.text() == "Segments 4, 10"
    assert ui.generateButton.isEnabled() and ui.newSeedButton.isEnabled()
    assert ui.generateButton.toolTip() == "Grow the scar mask"
    p.segments = "17, 1"  # the parameters reach the picker, without writing back
    smile.handlers.update()
    assert smile.picker.selectedSegments() == [1, 17] and p.segments == "17, 1"


def test_smile_generate_runs_and_lands(smile, scene):
    p = smile.case(scene)
    p.segments, p.volumeMl, p.pattern, p.extent, p.mvo, p.seed = "4,10", 4.0, "midwall", 0.6, True, 11
    p.outputAHA = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "aha")
    p.rvPoints = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "rv")
    smile.handlers.onGenerate()
    assert smile.logic.called("generateMask") == [
        ((p.inputVolume, p.inputLabels, [4, 10], 4.0, "midwall:0.6", True, 11, "direct"),
         {"outputSegmentationNode": None, "rvPointsNode": p.rvPoints, "scheme": None, "priors": None})]
    assert smile.logic.called("exportAHA") == [((p.inputVolume, p.inputLabels, p.rvPoints, None, "direct",
                                                 p.outputAHA), {})]
    node = p.outputSegmentation
    assert node is not None and node.GetName() == "scar_mask"
    assert smile.fake.layers == [{"background": p.inputVolume}]
    assert smile.ui.statusLabel.text() == (
        "Scar 3.60 mL (target 4.00) in segments 4, 10, midwall 0.6, MVO 0.50 mL, seed 11, direct mode, 12 ms. "
        "Segments 10 could not hold their share: lowered to 90% of capacity.")
    assert smile.ui.ahaStatusLabel.text() == "Septum from rv_insertion, confidence 0.93. Warning: few RV points"
    assert smile.logic.busyDuringCalls == [True, True]  # the wait cursor is the panel's progress
    assert smile.fake.errors == []

    p.pattern = "transmural"
    smile.handlers.onNewSeed()  # the next seed, into the same segmentation
    args, kw = smile.logic.called("generateMask")[1]
    assert p.seed == 12 and args[4:7] == ("transmural", True, 12) and kw["outputSegmentationNode"] is node
    assert p.outputSegmentation is node


def test_smile_wavefront_and_priors(smile, scene, tmp_path):
    ui, p = smile.ui, smile.case(scene)
    p.pattern = "wavefront"
    smile.handlers.update()
    assert not ui.generateButton.isEnabled() and not ui.extentSliderWidget.isEnabled()
    p.priorsPath = str(tmp_path / "priors.json")  # priors: no segment needed, the volume is drawn
    smile.handlers.update()
    assert ui.generateButton.isEnabled() and not ui.volumeSpinBox.isEnabled()
    smile.handlers.onGenerate()
    args, kw = smile.logic.called("generateMask")[0]
    assert args[2:5] == ([], None, "wavefront") and kw["priors"] == p.priorsPath
    p.priorsPath, p.segments = "", "7,8"
    smile.handlers.update()
    assert ui.volumeSpinBox.isEnabled()
    smile.handlers.onGenerate()
    args, kw = smile.logic.called("generateMask")[1]
    assert args[2:5] == ([7, 8], 10.0, "wavefront") and kw["priors"] is None


def test_smile_random_adjacent_picks_among_the_available_segments(smile, scene):
    p = smile.case(scene)
    p.randomCount, p.seed, p.labelScheme = 3, 5, "emidec"
    smile.handlers.onRandomAdjacent()
    assert smile.logic.called("availableSegments") == [((p.inputVolume, p.inputLabels, None, "emidec"), {})]
    chosen = smile.picker.selectedSegments()
    assert len(chosen) == 3 and set(chosen) <= set(smile.logic.available)
    assert p.segments == ",".join(map(str, chosen))
    smile.picker.clearSelection()
    smile.handlers.onRandomAdjacent()
    assert smile.picker.selectedSegments() == chosen  # drawn with the panel's seed


@pytest.mark.parametrize("error, details", [(InputError("labels", "no myocardium"), False),
                                            (ValueError("bad extent"), True)])
def test_smile_a_failing_logic_shows_one_message(smile, scene, error, details):
    p = smile.case(scene)
    p.segments = "4"
    smile.ui.statusLabel.setText("before")
    smile.logic.raises = {"generateMask": error}
    smile.handlers.onGenerate()
    assert len(smile.fake.errors) == 1
    message, detail = smile.fake.errors[0]
    assert message == f"Cannot generate the scar mask.\n\n{error}" and bool(detail) == details
    assert p.outputSegmentation is None and smile.ui.statusLabel.text() == "before" and not smile.fake.busyNow

    smile.picker.setSelectedSegments([4])
    smile.logic.raises = {"availableSegments": error}
    smile.handlers.onRandomAdjacent()  # no random pick over all segments after a failure
    assert [m.split("\n")[0] for m, _ in smile.fake.errors] == ["Cannot generate the scar mask.",
                                                                 "Cannot compute the AHA segments."]
    assert smile.picker.selectedSegments() == [4]


def test_smile_declined_packages_call_no_logic(smile, scene):
    smile.case(scene)
    smile.picker.setSelectedSegments([4])
    smile.fake.install = False
    smile.handlers.onGenerate()
    smile.handlers.onRandomAdjacent()
    assert smile.logic.calls == [] and smile.fake.errors == [] and smile.picker.selectedSegments() == [4]
