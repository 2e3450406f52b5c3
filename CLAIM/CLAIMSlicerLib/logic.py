"""Logic of the CLAIM and SMILEMaskEditor modules: MRML nodes in, CLAIMLib calls, MRML nodes out.

The classes work without a GUI and take the scene to work on, so they run in Slicer (``slicer.mrmlScene``),
headless, and in the tests against a ``vtkMRMLScene`` from slicer-core. Every computation is a CLAIMLib call; this
module only converts nodes (``mrml``) and prepares child-process jobs (``jobs``).

Public API (all node arguments are MRML nodes of ``scene``):

- ``CaseNodeLogic`` (both modules): ``caseFromNodes``, ``computeAHA`` (cached per input nodes and their content),
  ``addPhantomCase``, ``infoText``;
- ``SMILEMaskEditorLogic``: ``generateMask`` (SMILE scar mask into a segmentation node with Scar and MVO segments,
  replaced in place when regenerated), ``exportAHA`` (AHA-17 labelmap), ``availableSegments``;
- ``CLAIMLogic``: ``synthesize`` / ``synthesizeCommand`` (scar painted by the diffusion model into a new volume
  ``<input>_synthetic``), ``segment`` / ``segmentCommand`` (nnU-Net: Cavity, Myocardium, Scar, MVO segments on the
  input's grid), ``bullseye`` (per-segment table node and bull's-eye PNG), ``quantifyScar`` (classic thresholds:
  Scar, MVO and Gray zone segments, the per-segment table and bull's-eye, as ``claim scar``). ``*Command`` methods return a
  ``jobs.CommandJob`` that runs ``PythonSlicer -m CLAIMLib ...`` in a child process; the others run in-process.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import slicer

from CLAIMLib.errors import InputError
from CLAIMLib.info import case_info, format_info
from CLAIMLib.labels import Case, check_scar_mask, parse_scheme

from . import mrml
from .jobs import CommandJob, claim_argv, temporary_folder

# Only numpy and SimpleITK (both shipped with Slicer) are imported at load time, so the modules load before the
# dependencies are installed; capabilities needing scipy, scikit-image, matplotlib or torch import them on use.

try:  # inside Slicer
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic
except ImportError:  # slicer-core (tests): no scripted-module framework
    class ScriptedLoadableModuleLogic:  # type: ignore[no-redef]
        def __init__(self, parent=None):
            pass


@dataclass
class AHAContext:
    """A subject's case, AHA-17 labels and (prepared on first use) SMILE subject, for one set of input nodes."""

    case: Case
    aha: object  # CLAIMLib.aha.AHAResult
    seconds: float
    _subject: object = field(default=None, repr=False)

    @property
    def subject(self):
        """``CLAIMLib.smile.Subject`` (wall depth and chords), prepared once."""
        if self._subject is None:
            from CLAIMLib.smile import case_subject

            self._subject = case_subject(self.case, self.aha)
        return self._subject

    def availableSegments(self) -> list[int]:
        """AHA segments that hold myocardium in this subject (a stack may stop short of the apex)."""
        present = set(np.unique(self.aha.labels).tolist())
        return [s for s in range(1, 18) if s in present]


class CaseNodeLogic(ScriptedLoadableModuleLogic):
    """Conversions shared by both modules, and the AHA-17 labels of the current inputs (cached)."""

    AHA_CACHE_SIZE = 4

    def __init__(self, scene=None):
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene
        self._ahaCache: dict = {}

    def caseFromNodes(self, volumeNode, labelNode, scheme: str | None = None) -> Case:
        """Case from an LGE volume node and a labelmap or segmentation node (scheme text: emidec, myops, mapping)."""
        if volumeNode is None or labelNode is None:
            raise InputError("inputs", "select an LGE volume and its labels")
        return mrml.case_from_nodes(volumeNode, labelNode, parse_scheme(scheme) if scheme else None)

    def computeAHA(self, volumeNode, labelNode, rvPointsNode=None, scheme: str | None = None,
                   method: str = "direct") -> AHAContext:
        """AHA-17 labels of the subject (``CLAIMLib.aha.aha_segments``), cached per input nodes and their content.

        The septum comes, as in ``claim aha``, from an RV segment or label when there is one, else the RV insertion
        points of ``rvPointsNode`` (a markups point list, RAS as Slicer shows it), else the LGE image.
        ``method``: "direct" or "template" (paper-faithful registration, needed by SMILE's template mode).
        """
        key = (mrml.content_stamp(volumeNode), mrml.content_stamp(labelNode), mrml.content_stamp(rvPointsNode),
               scheme or "", method)
        cached = self._ahaCache.get(key)
        if cached is not None:
            return cached
        from CLAIMLib.workflows.aha import case_aha

        t = time.perf_counter()
        case = self.caseFromNodes(volumeNode, labelNode, scheme)
        points = mrml.rv_points_from_markups(rvPointsNode)
        result = case_aha(case, method=method, rv_points=points,
                          points_source=rvPointsNode.GetName() if points else None, labels_source=labelNode.GetName())
        context = AHAContext(case, result, time.perf_counter() - t)
        while len(self._ahaCache) >= self.AHA_CACHE_SIZE:
            self._ahaCache.pop(next(iter(self._ahaCache)))
        self._ahaCache[key] = context
        return context

    def addVolumeNode(self, array, geometry, name: str, labelmap: bool = False):
        cls = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        return mrml.add_volume_node(self.scene, array, geometry, name, cls)

    def addSegmentationNode(self, case: Case, name: str, referenceVolumeNode=None):
        return mrml.add_segmentation_from_case(self.scene, case, name, referenceVolumeNode)

    def addPhantomCase(self, seed: int = 0, pathological: bool = True):
        """Generate a phantom case into the scene: (LGE volume node, segmentation node, phantom case)."""
        from CLAIMLib.labels import case_from_arrays
        from CLAIMLib.phantom import case_rng, generate_case

        case_id = f"Phantom_{'P' if pathological else 'N'}{seed:03d}"
        phantom = generate_case(case_rng(seed, 0), case_id, pathological)
        volume = self.addVolumeNode(phantom.image, phantom.geometry, case_id)
        case = case_from_arrays(case_id, phantom.image, phantom.labels, phantom.geometry)
        segmentation = self.addSegmentationNode(case, f"{case_id}_labels", volume)
        return volume, segmentation, phantom

    def infoText(self, volumeNode, labelNode, scheme: str | None = None) -> str:
        return format_info(case_info(self.caseFromNodes(volumeNode, labelNode, scheme)))


# ---------------------------------------------------------------------------------------------------- SMILE
def _aha_colour_table(scene):
    """The AHA-17 colour table (created once per scene): basal warm, mid green-blue, apical purple, apex grey."""
    name = "CLAIM AHA-17"
    found = scene.GetFirstNodeByName(name)
    if found is not None and found.IsA("vtkMRMLColorTableNode"):
        return found
    import colorsys

    from CLAIMLib.aha import SEGMENT_NAMES

    node = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
    node.SetTypeToUser()
    node.SetNumberOfColors(18)
    node.SetColor(0, "background", 0.0, 0.0, 0.0, 0.0)
    for s in range(1, 18):
        ring, start, n = (0, 1, 6) if s <= 6 else (1, 7, 6) if s <= 12 else (2, 13, 4) if s <= 16 else (3, 17, 1)
        hue = (0.02, 0.38, 0.72, 0.0)[ring] + 0.11 * (s - start) / max(n - 1, 1)
        r, g, b = colorsys.hsv_to_rgb(hue % 1.0, 0.0 if ring == 3 else 0.65, 0.85)
        node.SetColor(s, f"{s} {SEGMENT_NAMES[s]}", r, g, b, 1.0)
    return node


class SMILEMaskEditorLogic(CaseNodeLogic):
    """AHA segments and SMILE scar masks from the Slicer scene."""

    # how the panel calls the SMILE options, for error messages
    SMILE_OPTION_NAMES = {"segments": "segments", "territory": "territory", "volume": "volume",
                          "transmurality": "transmurality", "max_segments": "segments", "priors": "priors file",
                          "volume_fraction": "volume fraction", "lesions": "lesions"}

    def __init__(self, scene=None):
        CaseNodeLogic.__init__(self, scene)
        self.lastRecord: dict | None = None

    def availableSegments(self, volumeNode, labelNode, rvPointsNode=None, scheme: str | None = None) -> list[int]:
        return self.computeAHA(volumeNode, labelNode, rvPointsNode, scheme).availableSegments()

    def generateMask(self, volumeNode, labelNode, segments=None, volumeMl=None, transmurality: str | None = None,
                     mvo: bool = False, seed: int = 0, mode: str = "direct", outputSegmentationNode=None,
                     rvPointsNode=None, scheme: str | None = None, territory: str | None = None, priors=None):
        """A SMILE scar mask (``CLAIMLib.smile.generate``, or ``generate_template`` in template mode) as a
        segmentation node with a "Scar" segment (scar without MVO) and an "MVO" segment (empty without MVO).

        ``segments``: AHA numbers (1-17), or None to draw adjacent ones (``territory``: LAD, RCA, LCX or random);
        ``volumeMl``: total mL, {segment: mL}, or None to draw one; ``transmurality``: "wavefront" (default: one
        infarct-like lesion), or e.g. "subendocardial:0.5", "transmural", "midwall", "epicardial:0.4"; ``priors``:
        a ``claim smile-priors`` file (or ``SmilePriors``) to draw from; ``seed``: the numpy Generator's seed, so
        that a seed gives the
        mask ``claim smile --seed`` gives. With ``outputSegmentationNode`` its Scar and MVO segments are replaced
        (regenerating keeps the node); otherwise a new node ``<volume>_SMILE`` is made. The SMILE record is kept in
        ``self.lastRecord`` and on the node (``mrml.get_record``).
        """
        from CLAIMLib.workflows.masks import check_mode, smile_masks, smile_spec

        if outputSegmentationNode is not None and outputSegmentationNode is labelNode:
            raise InputError(labelNode.GetName(), "is the input labels: choose another output segmentation")
        check_mode(mode, "mode")
        spec = smile_spec(segments=segments or None, territory=territory, volume_ml=volumeMl,
                          transmurality=transmurality, mvo=mvo, priors=priors, names=self.SMILE_OPTION_NAMES)
        t = time.perf_counter()
        context = self.computeAHA(volumeNode, labelNode, rvPointsNode, scheme, mode)
        subject = context.subject
        t_subject = time.perf_counter() - t
        t = time.perf_counter()
        mask = smile_masks(context.case, spec, seed=int(seed), mode=mode, aha=context.aha, subject=subject,
                           source=labelNode.GetName())[0]
        t_mask = time.perf_counter() - t
        node = mrml.structure_segmentation(self.scene, volumeNode, {"scar": mask.scar & ~mask.mvo, "mvo": mask.mvo},
                                           f"{volumeNode.GetName()}_SMILE", node=outputSegmentationNode)
        record = {"volume": volumeNode.GetName(), "labels": labelNode.GetName(), **mask.record,
                  "seconds": {"inputs_aha_subject": round(t_subject, 4), "mask": round(t_mask, 4)}}
        mrml.set_record(node, record)
        self.lastRecord = record
        return node

    def exportAHA(self, volumeNode, labelNode, rvPointsNode=None, scheme: str | None = None, method: str = "direct",
                  outputLabelmapNode=None):
        """The AHA-17 labels as a labelmap node on the volume's grid (new, or ``outputLabelmapNode`` refilled),
        shown with an AHA colour table."""
        context = self.computeAHA(volumeNode, labelNode, rvPointsNode, scheme, method)
        labels = context.aha.labels.astype(np.uint8)
        if outputLabelmapNode is None:
            node = mrml.add_volume_like(self.scene, volumeNode, labels, f"{volumeNode.GetName()}_AHA",
                                        "vtkMRMLLabelMapVolumeNode")
        else:
            node = outputLabelmapNode
            mrml.copy_grid(volumeNode, node, labels)
            if node.GetDisplayNode() is None:
                node.CreateDefaultDisplayNodes()
        display = node.GetDisplayNode()
        if display is not None:
            display.SetAndObserveColorNodeID(_aha_colour_table(self.scene).GetID())
        mrml.set_record(node, context.aha.to_dict())
        return node


# ---------------------------------------------------------------------------------------------------- CLAIM
def _device(device):
    return None if device in (None, "", "auto") else str(device)


class CLAIMLogic(CaseNodeLogic):
    """Synthesis, segmentation and bull's-eye logic."""

    def __init__(self, scene=None):
        CaseNodeLogic.__init__(self, scene)
        self._generators: dict = {}
        self._predictors: dict = {}

    # ------------------------------------------------------------------------------------------------ synthesis
    def _synthesisInputs(self, volumeNode, labelNode, maskNode, scheme):
        """(case, scar, MVO), checked as ``claim synthesize`` checks them. The case's image is the volume's array
        as the node holds it (its own dtype), so everything outside the mask stays bit-exact."""
        if maskNode is None:
            raise InputError("scar mask", "select a scar mask (e.g. from the SMILE Mask Editor)")
        case = self.caseFromNodes(volumeNode, labelNode, scheme)
        scar, mvo = mrml.scar_from_node(maskNode, volumeNode)
        check_scar_mask(scar, case.myocardium, maskNode.GetName())
        return case, scar, mvo & scar

    @staticmethod
    def _synthesisOptions(sampler, steps, brightness) -> dict:
        from CLAIMLib.diffusion.sample import synthesis_options

        return synthesis_options(sampler, steps, brightness or None)

    def _generator(self, checkpoint, device):
        from CLAIMLib.diffusion.sample import load_generator, resolve_checkpoint

        path = resolve_checkpoint(checkpoint)
        key = (str(path.resolve()), path.stat().st_mtime, _device(device))
        if key not in self._generators:
            self._generators = {key: load_generator(path, _device(device))}  # one generator in memory at a time
        return self._generators[key]

    def _addSyntheticVolume(self, volumeNode, image, record):
        node = mrml.add_volume_like(self.scene, volumeNode, image, f"{volumeNode.GetName()}_synthetic")
        source = volumeNode.GetDisplayNode()
        if source is not None and node.GetDisplayNode() is not None:
            node.GetDisplayNode().SetAutoWindowLevel(False)
            node.GetDisplayNode().SetWindowLevel(source.GetWindow(), source.GetLevel())
        mrml.set_record(node, record)
        return node

    def synthesize(self, volumeNode, labelNode, maskNode, checkpoint, sampler: str = "dpm", steps: int = 0,
                   seed: int = 0, brightness: float | None = None, device: str | None = None,
                   scheme: str | None = None):
        """Paint scar texture under the mask with the diffusion model, in this process
        (``CLAIMLib.workflows.synthesis.synthesize_case``). Returns a new volume node ``<input>_synthetic`` on the
        input's grid, in its dtype; every voxel outside the mask keeps its value and the input node is untouched."""
        from CLAIMLib.workflows.synthesis import synthesize_case

        case, scar, mvo = self._synthesisInputs(volumeNode, labelNode, maskNode, scheme)
        options = self._synthesisOptions(sampler, steps, brightness)
        syn = synthesize_case(self._generator(checkpoint, device), case, scar, mvo, seed=int(seed), **options)
        return self._addSyntheticVolume(volumeNode, syn.image, {"model": str(checkpoint), "mask": maskNode.GetName(),
                                                                **syn.record})

    def synthesizeCommand(self, volumeNode, labelNode, maskNode, checkpoint, sampler: str = "dpm", steps: int = 0,
                          seed: int = 0, brightness: float | None = None, device: str | None = None,
                          scheme: str | None = None) -> CommandJob:
        """The same as ``synthesize`` as a child-process job: ``claim synthesize`` on temporary files."""
        from CLAIMLib.diffusion.sample import resolve_checkpoint
        from CLAIMLib.io import read_volume, write_volume
        from CLAIMLib.labels import EMIDEC

        case, scar, mvo = self._synthesisInputs(volumeNode, labelNode, maskNode, scheme)
        options = self._synthesisOptions(sampler, steps, brightness)  # bad options fail here, before any process
        resolve_checkpoint(checkpoint)
        work = temporary_folder("claim-synthesis-")
        try:
            g = case.geometry
            write_volume(work / "image.nrrd", case.image, g, case.image.dtype)
            write_volume(work / "labels.nrrd", case.labels(), g, np.uint8)
            write_volume(work / "mask.nrrd", EMIDEC.encode(dict(case.masks, scar=scar, mvo=mvo), g.shape), g, np.uint8)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        out = work / "synthetic.nrrd"
        argv = claim_argv("synthesize", "--image", work / "image.nrrd", "--labels", work / "labels.nrrd",
                          "--mask", work / "mask.nrrd", "--model", Path(checkpoint), "--out", out,
                          "--sampler", sampler, "--steps", int(options["steps"]), "--seed", int(seed),
                          *(["--brightness", float(brightness)] if brightness else []),
                          *(["--device", _device(device)] if _device(device) else []))
        mask_name, dtype = maskNode.GetName(), case.image.dtype

        def finish():
            import json

            image, geometry = read_volume(out)
            self._checkGrid(volumeNode, image, geometry, out)
            record = json.loads((work / "synthetic.json").read_text())
            record.update({"model": str(checkpoint), "mask": mask_name})
            for k in ("image", "labels"):
                record.pop(k, None)
            return self._addSyntheticVolume(volumeNode, image.astype(dtype, copy=False), record)

        return CommandJob(argv, [out, work / "synthetic_labels.nrrd", work / "synthetic.json"], finish, work,
                          "synthesis")

    @staticmethod
    def _checkGrid(volumeNode, array, geometry, source):
        diffs = geometry.differences(mrml.geometry_from_volume_node(volumeNode))
        if diffs or tuple(array.shape) != tuple(geometry.shape):
            raise InputError(source, f"is not on {volumeNode.GetName()}'s grid: {'; '.join(diffs) or 'shape'}")

    # ------------------------------------------------------------------------------------------------ segmentation
    def installedModels(self, kind: str = "segmenter") -> list:
        """Names of the installed models of a kind (``claim models install``; the models home, ``$CLAIM_HOME``)."""
        from CLAIMLib.model_home import installed

        return [r["name"] for r in installed() if r["kind"] == kind]

    def _predictor(self, modelDir, device):
        from CLAIMLib.segmentation.nnunet import Predictor

        key = (str(Path(modelDir).resolve()), _device(device))
        if key not in self._predictors:
            self._predictors = {key: Predictor(modelDir, device=_device(device))}  # one model in memory at a time
        return self._predictors[key]

    def _addSegmentationResult(self, volumeNode, labels, model, record, outputSegmentationNode=None):
        """The model's labels as segments named and coloured from the model's own label names (``ModelFolder``)."""
        labels = np.asarray(labels)
        node = mrml.labelled_segmentation(self.scene, volumeNode, labels, model.segment_styles(),
                                          f"{volumeNode.GetName()}_segmentation", node=outputSegmentationNode)
        vox = mrml.geometry_from_volume_node(volumeNode).voxel_volume_ml
        record = {**record, "volumes_ml": {name: round(float(np.count_nonzero(labels == value)) * vox, 4)
                                           for name, value, _ in model.segments()}}
        mrml.set_record(node, record)
        return node

    def segment(self, volumeNode, modelDir, device: str | None = None, outputSegmentationNode=None):
        """nnU-Net segmentation in this process (``CLAIMLib.workflows.segmentation.segment_image``, the model loaded
        once per folder): a segmentation node with one segment per label of the model (Cavity, Myocardium, Scar
        and MVO for CLAIM's models) on the input's grid."""
        from CLAIMLib.workflows.segmentation import segment_image

        if volumeNode is None:
            raise InputError("input", "select an LGE volume")
        predictor = self._predictor(modelDir, device)
        result = segment_image(predictor, mrml.array_from_volume_node(volumeNode),
                               mrml.geometry_from_volume_node(volumeNode), volumeNode.GetName())
        return self._addSegmentationResult(volumeNode, result.labels, predictor.model,
                                           {"model": str(modelDir), "volume": volumeNode.GetName()},
                                           outputSegmentationNode)

    def segmentCommand(self, volumeNode, modelDir, device: str | None = None) -> CommandJob:
        """The same as ``segment`` as a child-process job: ``claim segment`` on a temporary file."""
        from CLAIMLib.io import read_volume, write_volume
        from CLAIMLib.segmentation.model_folder import ModelFolder

        if volumeNode is None:
            raise InputError("input", "select an LGE volume")
        model = ModelFolder(modelDir)
        raw = mrml.array_from_volume_node(volumeNode)
        work = temporary_folder("claim-segmentation-")
        try:
            write_volume(work / "image.nrrd", raw, mrml.geometry_from_volume_node(volumeNode), raw.dtype)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        out = work / "segmentation.nrrd"
        argv = claim_argv("segment", "--image", work / "image.nrrd", "--model", model.path, "--out", out,
                          *(["--device", _device(device)] if _device(device) else []))

        def finish():
            labels, geometry = read_volume(out)
            self._checkGrid(volumeNode, labels, geometry, out)
            return self._addSegmentationResult(volumeNode, labels.astype(np.uint8), model,
                                               {"model": str(model.path), "volume": volumeNode.GetName()})

        return CommandJob(argv, [out], finish, work, "segmentation")

    # ------------------------------------------------------------------------------------------------ bull's-eye
    TABLE_TITLES = {"segment": "Segment", "name": "Name", "level": "Level", "territory": "Territory",
                    "myocardium_ml": "Myocardium", "scar_ml": "Scar", "scar_percent": "Scar %",
                    "transmurality_mean": "Transmurality (mean)", "transmurality_max": "Transmurality (max)",
                    "mvo_ml": "MVO", "gray_zone_ml": "Gray zone"}
    TABLE_UNITS = {"myocardium_ml": "mL", "scar_ml": "mL", "scar_percent": "%", "transmurality_mean": "fraction",
                   "transmurality_max": "fraction", "mvo_ml": "mL", "gray_zone_ml": "mL"}

    def bullseye(self, volumeNode, labelNode, scarNode=None, pngPath=None, rvPointsNode=None,
                 scheme: str | None = None, tableNode=None):
        """Scar per AHA segment (``CLAIMLib.workflows.tables.case_bullseye``) as a table node with 17 rows, and the
        bull's-eye figure (scar mL, % of segment, mean transmurality) as a PNG.

        The scar comes from ``scarNode`` (a segmentation with Scar/MVO segments, e.g. a SMILE mask or an nnU-Net
        result, or a labelmap), or from the labels themselves. Returns (table node, PNG path); the totals are
        on the table node (``mrml.get_record``).
        """
        from CLAIMLib.quantify import COLUMNS
        from CLAIMLib.workflows.tables import case_bullseye

        context = self.computeAHA(volumeNode, labelNode, rvPointsNode, scheme)
        scar = mvo = None
        if scarNode is not None:
            scar, mvo = mrml.scar_from_node(scarNode, volumeNode)
        name = scarNode.GetName() if scarNode is not None else labelNode.GetName()
        png = Path(pngPath) if pngPath else temporary_folder("claim-bullseye-") / f"{volumeNode.GetName()}_bullseye.png"
        table = case_bullseye(context.case, context.aha.labels, png, scar, mvo, name=name)
        node = mrml.table_node_from_rows(self.scene, table["segments"], COLUMNS, f"{name}_scar_per_segment",
                                         node=tableNode, titles=self.TABLE_TITLES, units=self.TABLE_UNITS)
        mrml.set_record(node, {"totals": table["totals"], "png": str(png), "scar": name,
                               "orientation": context.aha.orientation.to_dict()})
        return node, str(png)

    # ------------------------------------------------------------------------------------------------ scar
    def quantifyScar(self, volumeNode, labelNode, method: str = "fwhm", remoteSegments=None, remoteNode=None,
                     grayZone: bool = False, minSizeMl: float | None = None, endocardialOnly: bool = False,
                     rvPointsNode=None, scheme: str | None = None, outputSegmentationNode=None, tableNode=None,
                     pngPath=None):
        """Classic scar quantification (``CLAIMLib.workflows.scar.quantify_scar``, as ``claim scar``): thresholds
        relative to remote myocardium on the LGE volume, within the labels' whole myocardium.

        ``method``: "fwhm", "otsu" or "nsd:N"; ``remoteSegments``: AHA numbers, or ``remoteNode`` (a segmentation,
        labelmap or markups ROI), else the automatic remote. Returns (segmentation node with Scar, MVO and Gray
        zone segments, per-segment table node, bull's-eye PNG path); the record is on both nodes."""
        from CLAIMLib.quantify import COLUMNS
        from CLAIMLib.workflows.scar import quantify_scar, write_scar_outputs

        if outputSegmentationNode is not None and outputSegmentationNode is labelNode:
            raise InputError(labelNode.GetName(), "is the input labels: choose another output segmentation")
        if remoteNode is not None and remoteSegments:
            raise InputError("remote", f"pick AHA segments or the region {remoteNode.GetName()}, not both")
        context = self.computeAHA(volumeNode, labelNode, rvPointsNode, scheme)
        remote = mrml.mask_from_node(remoteNode, volumeNode) if remoteNode is not None else None
        result = quantify_scar(context.case, method, remote_segments=list(remoteSegments or []) or None,
                               remote_mask=remote, gray_zone="" if grayZone else None, min_size_ml=minSizeMl,
                               endocardial_only=endocardialOnly, aha=context.aha, source=labelNode.GetName())
        name = volumeNode.GetName()
        png = Path(pngPath) if pngPath else temporary_folder("claim-scar-") / f"{name}_scar_bullseye.png"
        write_scar_outputs(result, bullseye=png)
        empty = np.zeros(result.labels.shape, bool)
        masks = {"scar": result.scar & ~result.mvo, "mvo": result.mvo,
                 "gray_zone": result.gray_zone if result.gray_zone is not None else empty}
        node = mrml.structure_segmentation(self.scene, volumeNode, masks, f"{name}_scar", node=outputSegmentationNode)
        record = {"volume": name, "labels": labelNode.GetName(),
                  "remote_node": remoteNode.GetName() if remoteNode is not None else None, **result.record}
        mrml.set_record(node, record)
        table = mrml.table_node_from_rows(self.scene, result.table["segments"], COLUMNS, f"{name}_scar_per_segment",
                                          node=tableNode, titles=self.TABLE_TITLES, units=self.TABLE_UNITS)
        mrml.set_record(table, {"totals": result.record["totals"], "png": str(png), "scar": node.GetName(),
                                "method": result.record["method"], "remote": result.record["remote"],
                                "orientation": result.record["orientation"]})
        return node, table, str(png)
