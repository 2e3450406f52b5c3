"""What the CLAIM and SMILE Mask Editor panels do: inputs -> a Logic call -> outputs, jobs, progress, errors.

One class per module panel, ``CLAIMPanelHandlers`` and ``SMILEPanelHandlers``. Everything comes in through the
constructor, as SlicerNNUNet hands its logic to its widget: the Logic (``logic.CLAIMLogic`` /
``logic.SMILEMaskEditorLogic`` or a stand-in), the panel's widgets ``ui`` (named as in its .ui), the panel's
current parameter node (a callable: the panel rebinds it on scene close), the job controllers
(``widgets.JobController``: their ``finished`` signal updates the buttons), the bull's-eye picker, and the
Slicer-only services (``services.PanelServices``). The module files build these and connect their buttons to the
methods here; the tests drive the same methods with a fake Logic under PySide6.

Widgets are touched through methods that PythonQt and PySide6 share (``setEnabled``, ``setText``, ...). A handler
never lets an exception into Qt: it shows one message through ``services.errorDisplay`` (``showingErrors``).
Imports neither ``qt`` nor ``ctk``, and ``slicer`` only through ``mrml`` (what slicer-core offers).
"""
from __future__ import annotations

import logging
import pathlib
import traceback
from contextlib import contextmanager

from CLAIMLib.errors import InputError

from . import mrml
from .jobs import oneLine

CHECKPOINT_KEY = "diffusionCheckpoint"  # remembered paths (services.rememberedPath)
MODEL_FOLDER_KEY = "nnUNetModelFolder"
FOLDER_ENTRY = "(the model folder below)"  # the installed-model box's first entry


def pathText(path) -> str:
    """"" for an unset path parameter (pathlib.Path() is ".")."""
    text = str(path) if path is not None else ""
    return "" if text in ("", ".") else text


def segmentsText(segments) -> str:
    return ",".join(str(s) for s in sorted(segments))


def parseSegments(text: str) -> list[int]:
    return sorted({int(v) for v in (text or "").replace(" ", "").split(",") if v})


def showSelection(handlers, picker, segments) -> None:
    """Show ``segments`` on a bull's-eye picker without echoing the change back to the parameters (the handlers'
    picker callback skips it while ``handlers._updatingPicker`` is set)."""
    if segments != picker.selectedSegments():
        handlers._updatingPicker = True
        try:
            picker.setSelectedSegments(segments)
        finally:
            handlers._updatingPicker = False


@contextmanager
def showingErrors(services, message: str):
    """The body of a handler under the wait cursor. An exception ends it and shows ``message`` with its one-line
    cause (with the traceback as details unless it is an ``InputError``, which names its source); it is logged
    and goes no further."""
    try:
        with services.busy():
            yield
    except InputError as e:
        services.errorDisplay(f"{message}\n\n{oneLine(e)}", None)
    except Exception as e:
        logging.exception(message)
        services.errorDisplay(f"{message}\n\n{oneLine(e)}", traceback.format_exc())


def bullseyeSummary(totals: dict, tableName: str) -> str:
    return (f"Scar {totals['scar_ml']:.2f} mL of {totals['myocardium_ml']:.1f} mL myocardium "
            f"({totals['scar_percent']:.1f}%), MVO {totals['mvo_ml']:.2f} mL; table '{tableName}'.")


def scarSummary(record: dict, tableName: str) -> str:
    t = record["totals"]
    text = (f"{record['method']}: scar {t['scar_ml']:.2f} mL ({t['scar_percent']:.1f}% of {t['myocardium_ml']:.1f} mL "
            f"myocardium), MVO {t['mvo_ml']:.2f} mL")
    if record.get("gray_zone"):
        text += f", gray zone {t['gray_zone_ml']:.2f} mL"
    return text + f"; remote {record['remote']['description']}; table '{tableName}'."


class CLAIMPanelHandlers:
    """The CLAIM panel: the phantom case, case info, synthesis and segmentation jobs (the Apply button of a running
    job cancels it), the bull's-eye, and scar quantification with remote segments picked on a bull's-eye."""

    def __init__(self, logic, ui, parameters, synthesisJobs, segmentationJobs, services, remotePicker=None):
        self.logic, self.ui, self.services = logic, ui, services
        self.remotePicker = remotePicker
        self._updatingPicker = False
        self._parameters = parameters
        self.synthesisJobs, self.segmentationJobs = synthesisJobs, segmentationJobs
        for jobs in (synthesisJobs, segmentationJobs):
            jobs.finished.connect(self._jobEnded)

    @property
    def parameters(self):
        """The panel's parameter node (wrapper) now, or None."""
        return self._parameters()

    # ------------------------------------------------------------------------------------------------ state
    def updateButtons(self) -> None:
        p = self.parameters
        if p is None:
            return
        case = bool(p.inputVolume and p.inputLabels)
        self.ui.infoButton.setEnabled(case)
        self.ui.synthesizeButton.setEnabled(self.synthesisJobs.running or (
            case and bool(p.scarMask) and bool(pathText(p.checkpoint))))
        self.ui.segmentButton.setEnabled(self.segmentationJobs.running or (
            bool(p.segmentationVolume or p.inputVolume) and bool(self.segmentationModel())))
        self.ui.modelFolderPathLineEdit.setEnabled(not p.installedModel)
        self.ui.bullseyeButton.setEnabled(case)
        self.ui.quantifyScarButton.setEnabled(case)
        self.ui.scarSDSpinBox.setEnabled(p.scarMethod == "nsd")
        self._updateRemote()

    def _updateRemote(self) -> None:
        """The remote picker and its label from the parameters."""
        segments = parseSegments(self.parameters.remoteSegments)
        if self.remotePicker is not None:
            showSelection(self, self.remotePicker, segments)
        self.ui.remoteSegmentsLabel.setText(f"Remote: segments {', '.join(map(str, segments))}" if segments else
                                            "Automatic remote")

    def onRemotePickerChanged(self, selected) -> None:
        p = self.parameters
        if p is not None and not self._updatingPicker:
            p.remoteSegments = segmentsText(selected)

    def restoreRememberedPaths(self) -> None:
        """Empty checkpoint and model-folder parameters get the paths used last time."""
        p = self.parameters
        for name, key in (("checkpoint", CHECKPOINT_KEY), ("modelFolder", MODEL_FOLDER_KEY)):
            remembered = self.services.rememberedPath(key)
            if remembered and not pathText(getattr(p, name)):
                setattr(p, name, pathlib.Path(remembered))

    def segmentationModel(self) -> str:
        """The model to segment with: the installed model picked in the box, else the model folder's path."""
        p = self.parameters
        return p.installedModel or pathText(p.modelFolder)

    def refreshInstalledModels(self) -> None:
        """Fill the installed-model box with the segmenters of the models home (``claim models install``), keeping
        the parameter's pick when it is still installed."""
        p = self.parameters
        try:
            names = self.logic.installedModels("segmenter")
        except Exception:  # an unreadable models home leaves only the folder entry
            logging.exception("cannot list the installed models")
            names = []
        box = self.ui.installedModelComboBox
        box.blockSignals(True)
        try:
            box.clear()
            box.addItems([FOLDER_ENTRY] + list(names))
            if p is not None and p.installedModel not in names:
                p.installedModel = ""
            box.setCurrentIndex(1 + list(names).index(p.installedModel) if p is not None and p.installedModel
                                else 0)
        finally:
            box.blockSignals(False)
        self.updateButtons()

    def onInstalledModelChanged(self, index) -> None:
        p = self.parameters
        if p is not None:
            text = self.ui.installedModelComboBox.itemText(int(index)) if int(index) > 0 else ""
            p.installedModel = text
            self.updateButtons()

    def stopJobs(self) -> None:
        for jobs in (self.synthesisJobs, self.segmentationJobs):
            jobs.cancel()

    def _jobEnded(self, result, error) -> None:
        self.updateButtons()

    # ------------------------------------------------------------------------------------------------ case
    def onLoadPhantom(self) -> None:
        p = self.parameters
        with showingErrors(self.services, "Cannot generate the phantom case."):
            if not self.services.ensureDependencies("core"):
                return
            volume, segmentation, _ = self.logic.addPhantomCase(seed=p.phantomSeed)
            p.inputVolume, p.inputLabels = volume, segmentation
            self.services.setSliceViewerLayers(background=volume, fit=True)
            self.onInfo()

    def onInfo(self) -> None:
        p = self.parameters
        with showingErrors(self.services, "Cannot read the case."):
            if not self.services.ensureDependencies("core"):
                return
            self.ui.infoTextEdit.setPlainText(self.logic.infoText(p.inputVolume, p.inputLabels,
                                                                  p.labelScheme or None))

    # ------------------------------------------------------------------------------------------------ jobs
    def onSynthesize(self) -> None:
        if self.synthesisJobs.running:
            self.synthesisJobs.cancel()
            return
        p = self.parameters
        with showingErrors(self.services, "Cannot start the synthesis."):
            if not self.services.ensureDependencies("synthesis"):
                return
            checkpoint = pathText(p.checkpoint)
            self.services.rememberPath(CHECKPOINT_KEY, checkpoint)
            job = self.logic.synthesizeCommand(p.inputVolume, p.inputLabels, p.scarMask, checkpoint, p.sampler,
                                               p.steps, p.synthesisSeed, p.brightness or None, p.device,
                                               p.labelScheme or None)
            self.synthesisJobs.start(job, onSuccess=self.onSynthesized, onFailure=self.onJobFailed)
        self.updateButtons()

    def onSynthesized(self, node) -> None:
        self.services.setSliceViewerLayers(background=node)
        p = self.parameters
        if p is not None and not p.segmentationVolume:
            p.segmentationVolume = node
        self.updateButtons()

    def onSegment(self) -> None:
        if self.segmentationJobs.running:
            self.segmentationJobs.cancel()
            return
        p = self.parameters
        with showingErrors(self.services, "Cannot start the segmentation."):
            if not self.services.ensureDependencies("segmentation"):
                return
            model = self.segmentationModel()
            if not p.installedModel:
                self.services.rememberPath(MODEL_FOLDER_KEY, model)
            job = self.logic.segmentCommand(p.segmentationVolume or p.inputVolume, model, p.device)
            self.segmentationJobs.start(job, onSuccess=self.onSegmented, onFailure=self.onJobFailed)
        self.updateButtons()

    def onSegmented(self, node) -> None:
        p = self.parameters
        if p is not None and not p.bullseyeScar:
            p.bullseyeScar = node
        self.updateButtons()

    def onJobFailed(self, message: str) -> None:
        self.updateButtons()
        self.services.errorDisplay(message, None)

    # ------------------------------------------------------------------------------------------------ bull's-eye
    def onBullseye(self) -> None:
        p = self.parameters
        with showingErrors(self.services, "Cannot compute the bull's-eye."):
            if not self.services.ensureDependencies("core"):
                return
            table, png = self.logic.bullseye(p.inputVolume, p.inputLabels, p.bullseyeScar, rvPointsNode=p.rvPoints,
                                             scheme=p.labelScheme or None, tableNode=p.outputTable)
            p.outputTable = table
            self.services.showImage(self.ui.bullseyeImageLabel, png)
            self.ui.bullseyeStatusLabel.setText(bullseyeSummary(mrml.get_record(table)["totals"], table.GetName()))
            self.services.showTable(table)


    # ------------------------------------------------------------------------------------------------ scar
    def scarMethod(self) -> str:
        p = self.parameters
        return f"nsd:{p.scarSD:g}" if p.scarMethod == "nsd" else p.scarMethod

    def onQuantifyScar(self) -> None:
        p = self.parameters
        with showingErrors(self.services, "Cannot quantify the scar."):
            if not self.services.ensureDependencies("core"):
                return
            node, table, png = self.logic.quantifyScar(
                p.inputVolume, p.inputLabels, self.scarMethod(), parseSegments(p.remoteSegments), p.remoteRegion,
                p.scarGrayZone, p.scarMinSizeMl, p.scarEndocardialOnly, rvPointsNode=p.rvPoints,
                scheme=p.labelScheme or None, outputSegmentationNode=p.scarOutput, tableNode=p.scarTable)
            p.scarOutput, p.scarTable = node, table
            self.services.showImage(self.ui.scarImageLabel, png)
            self.ui.scarStatusLabel.setText(scarSummary(mrml.get_record(node), table.GetName()))
            self.services.showTable(table)


class SMILEPanelHandlers:
    """The SMILE Mask Editor panel: the picker and the parameters kept in step, random adjacent segments, and
    generating the scar mask (again with the next seed)."""

    def __init__(self, logic, ui, parameters, picker, services):
        self.logic, self.ui, self.picker, self.services = logic, ui, picker, services
        self._parameters = parameters
        self._updatingPicker = False

    @property
    def parameters(self):
        """The panel's parameter node (wrapper) now, or None."""
        return self._parameters()

    # ------------------------------------------------------------------------------------------------ state
    def update(self) -> None:
        """The picker, the selection text and the buttons from the parameters."""
        p = self.parameters
        if p is None:
            return
        segments = parseSegments(p.segments)
        showSelection(self, self.picker, segments)
        self.ui.selectedSegmentsLabel.setText(
            f"Segments {', '.join(map(str, segments))}" if segments else "No segment selected (click the bull's-eye)")
        ready = bool(p.inputVolume and p.inputLabels and (segments or p.priorsPath))
        self.ui.generateButton.setEnabled(ready)
        self.ui.newSeedButton.setEnabled(ready)
        self.ui.generateButton.setToolTip("Grow the scar mask" if ready else
                                          "Select an LGE volume, its labels and at least one AHA segment "
                                          "(or a priors file).")
        self.ui.extentSliderWidget.setEnabled(p.pattern not in ("wavefront", "transmural"))
        self.ui.volumeSpinBox.setEnabled(not p.priorsPath)

    def onPickerChanged(self, selected) -> None:
        p = self.parameters
        if p is not None and not self._updatingPicker:
            p.segments = segmentsText(selected)

    def transmurality(self) -> str:
        p = self.parameters
        return p.pattern if p.pattern in ("transmural", "wavefront") else f"{p.pattern}:{p.extent:g}"

    # ------------------------------------------------------------------------------------------------ actions
    def onRandomAdjacent(self) -> None:
        import numpy as np

        p = self.parameters
        available = range(1, 18)
        if p.inputVolume and p.inputLabels:
            available = None
            with showingErrors(self.services, "Cannot compute the AHA segments."):
                if not self.services.ensureDependencies("core"):
                    return
                available = self.logic.availableSegments(p.inputVolume, p.inputLabels, p.rvPoints,
                                                         p.labelScheme or None)
            if available is None:  # the error was shown
                return
        self.picker.selectRandomAdjacent(np.random.default_rng(p.seed), n=p.randomCount, available=available)

    def onNewSeed(self) -> None:
        p = self.parameters
        p.seed = p.seed + 1
        self.onGenerate()

    def onGenerate(self) -> None:
        p = self.parameters
        with showingErrors(self.services, "Cannot generate the scar mask."):
            if not self.services.ensureDependencies("core"):
                return
            node = self.logic.generateMask(p.inputVolume, p.inputLabels, parseSegments(p.segments),
                                           None if p.priorsPath else p.volumeMl, self.transmurality(), p.mvo,
                                           p.seed, p.mode, outputSegmentationNode=p.outputSegmentation,
                                           rvPointsNode=p.rvPoints, scheme=p.labelScheme or None,
                                           priors=p.priorsPath or None)
            p.outputSegmentation = node
            if p.outputAHA:
                self.logic.exportAHA(p.inputVolume, p.inputLabels, p.rvPoints, p.labelScheme or None,
                                     p.mode, p.outputAHA)
            self.services.setSliceViewerLayers(background=p.inputVolume)
            self.ui.statusLabel.setText(self.summary(self.logic.lastRecord))
            self.ui.ahaStatusLabel.setText(self.orientationText(self.logic.lastRecord))

    @staticmethod
    def summary(record) -> str:
        limited = [s for s, v in record["per_segment"].items() if v["capacity_limited"]]
        text = (f"Scar {record['achieved_total_ml']:.2f} mL (target {record['target_total_ml']:.2f}) in segments "
                f"{', '.join(map(str, record['segments']))}, {record['pattern']} {record['extent']:g}, "
                f"MVO {record['mvo_ml']:.2f} mL, seed {record['seed']}, {record['mode']} mode, "
                f"{1000 * record['seconds']['mask']:.0f} ms.")
        if limited and record["pattern"] == "wavefront":
            text += " The lesion could not reach its target: its segments hold too little myocardium."
        elif limited:
            text += f" Segments {', '.join(limited)} could not hold their share: lowered to 90% of capacity."
        return text

    @staticmethod
    def orientationText(record) -> str:
        o = record["orientation"]
        text = f"Septum from {o.get('source')}, confidence {o.get('confidence', 0):.2f}."
        if o.get("warning"):
            text += f" Warning: {o['warning']}"
        return text
