"""The modules' Logic against a real MRML scene (slicer-core, no GUI): geometry survives every round trip, SMILE
masks, synthesis, segmentation and bull's-eye tables come out as nodes on the input's grid, and the panels' job
controller runs real child processes under PySide6."""
import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("this 'slicer' module has no MRML classes", allow_module_level=True)

import vtk  # noqa: E402

from CLAIMLib.errors import InputError  # noqa: E402
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMSlicerLib import dependencies, mrml  # noqa: E402
from CLAIMSlicerLib.jobs import CommandJob  # noqa: E402
from CLAIMSlicerLib.logic import CLAIMLogic, SMILEMaskEditorLogic  # noqa: E402
from conftest import gone_soon, oblique_geometry, ring_labels  # noqa: E402


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _case():
    g = oblique_geometry()
    lab = ring_labels(g.shape)
    img = np.random.default_rng(0).normal(100, 10, g.shape).astype(np.float32)
    return case_from_arrays("c", img, lab, g)


def _segment_names(node):
    s = node.GetSegmentation()
    return [s.GetNthSegment(i).GetName() for i in range(s.GetNumberOfSegments())]


# ---------------------------------------------------------------------------------------------------- conversions
def test_volume_node_geometry_is_ras(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    node = logic.addVolumeNode(case.image, case.geometry, "lge")
    # Slicer stores RAS: x and y of the LPS origin change sign, z does not
    assert np.allclose(node.GetOrigin(), np.array(case.geometry.origin) * [-1, -1, 1])
    assert np.allclose(node.GetSpacing(), case.geometry.spacing)
    assert np.array_equal(slicer.util.arrayFromVolume(node), case.image)
    back = mrml.geometry_from_volume_node(node)
    assert back.differences(case.geometry) == []
    assert np.allclose(back.direction, case.geometry.direction, atol=1e-12)


def test_segmentation_round_trip_keeps_geometry_and_masks(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    seg = logic.addSegmentationNode(case, "labels", volume)
    assert _segment_names(seg) == ["LV cavity", "Myocardium", "Infarct", "MVO"]
    back = logic.caseFromNodes(volume, seg)
    assert back.geometry.differences(case.geometry) == []
    for structure in ("cavity", "myocardium", "scar", "mvo"):
        assert np.array_equal(back.mask(structure), case.mask(structure)), structure
    assert np.array_equal(back.image, case.image)
    assert "mvo" in logic.infoText(volume, seg)


def test_labelmap_node_and_scheme(scene):
    case = _case()
    logic = SMILEMaskEditorLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    labelmap = logic.addVolumeNode(case.labels().astype(np.float64), case.geometry, "lab", labelmap=True)
    back = logic.caseFromNodes(volume, labelmap)
    assert back.scheme.name == "EMIDEC" and np.array_equal(back.mask("scar"), case.mask("scar"))
    custom = logic.caseFromNodes(volume, labelmap, scheme="cavity=1,myocardium=2+3+4,scar=3+4")
    assert "mvo" not in custom.masks and np.array_equal(custom.mask("scar"), case.mask("scar"))


def test_labelmap_on_another_grid_is_refused(scene):
    from dataclasses import replace

    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    moved = replace(case.geometry, origin=(0.0, 0.0, 0.0))
    labelmap = logic.addVolumeNode(case.labels(), moved, "lab", labelmap=True)
    with pytest.raises(InputError, match="not on one grid"):
        logic.caseFromNodes(volume, labelmap)


def test_parent_transform_is_applied(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 10.0)  # 10 mm toward R, i.e. -10 in LPS x
    transform.SetMatrixTransformToParent(m)
    volume.SetAndObserveTransformNodeID(transform.GetID())
    g = mrml.geometry_from_volume_node(volume)
    assert np.allclose(np.array(g.origin) - case.geometry.origin, [-10.0, 0, 0])


def test_phantom_into_the_scene(scene):
    logic = CLAIMLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=2)
    case = logic.caseFromNodes(volume, seg)
    assert case.geometry.differences(phantom.geometry) == []
    assert np.array_equal(case.mask("myocardium"), phantom.labels >= 2)
    assert phantom.truth["slice_order"] in logic.infoText(volume, seg)


def test_scar_masks_from_labelmaps_and_segmentations(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    binary = logic.addVolumeNode(case.mask("scar").astype(np.uint8), case.geometry, "bin", labelmap=True)
    scar, mvo = mrml.scar_from_node(binary, volume)
    assert np.array_equal(scar, case.mask("scar")) and not mvo.any()
    emidec = logic.addVolumeNode(case.labels(), case.geometry, "emidec", labelmap=True)
    scar, mvo = mrml.scar_from_node(emidec, volume)
    assert np.array_equal(scar, case.mask("scar")) and np.array_equal(mvo, case.mask("mvo"))
    seg = logic.addSegmentationNode(case, "labels", volume)  # Infarct (without MVO) + MVO segments
    scar, mvo = mrml.scar_from_node(seg, volume)
    assert np.array_equal(scar, case.mask("scar")) and np.array_equal(mvo, case.mask("mvo"))


def test_rv_points_from_markups_are_lps(scene):
    node = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "rv")
    node.AddControlPoint(vtk.vtkVector3d(10.0, -20.0, 30.0), "RV inferior")
    node.AddControlPoint(vtk.vtkVector3d(1.0, 2.0, 3.0), "F-2")
    points = mrml.rv_points_from_markups(node)
    assert [k for k, _ in points] == ["inferior", "insertion"]
    assert np.allclose(points[0][1], [-10.0, 20.0, 30.0]) and np.allclose(points[1][1], [-1.0, -2.0, 3.0])
    node.AddControlPoint(vtk.vtkVector3d(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="one or two"):
        mrml.rv_points_from_markups(node)


# ---------------------------------------------------------------------------------------------------- AHA, SMILE
def _claimlib_subject(phantom, rv_points=None, method="direct"):
    """CLAIMLib's own AHA and SMILE subject for a phantom, computed without any MRML node."""
    from CLAIMLib.aha import aha_segments
    from CLAIMLib.smile import prepare_subject

    case = case_from_arrays("x", phantom.image, phantom.labels, phantom.geometry)
    result = aha_segments(case.myocardium, case.masks.get("cavity"), case.geometry, rv_points=rv_points or [],
                          image=case.image, method=method)
    return result, prepare_subject(case.myocardium, case.masks.get("cavity"), case.geometry, result)


def test_aha_is_cached_per_input_content_and_exported(scene):
    logic = SMILEMaskEditorLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    first = logic.computeAHA(volume, seg)
    assert logic.computeAHA(volume, seg) is first  # same nodes, same content: the cached result
    expected, _ = _claimlib_subject(phantom)
    assert np.array_equal(first.aha.labels, expected.labels)
    assert first.availableSegments() == sorted(set(np.unique(expected.labels).tolist()) - {0})
    # editing the labels (a segment's content) invalidates the cache
    mask = np.zeros(phantom.labels.shape, bool)
    mask[0, 0, 0] = True
    mrml.set_segment(seg, "rv", mask, volume, segment_id="RV")
    assert logic.computeAHA(volume, seg) is not first
    aha = logic.exportAHA(volume, seg)
    assert aha.IsA("vtkMRMLLabelMapVolumeNode") and aha.GetName() == f"{volume.GetName()}_AHA"
    assert np.array_equal(slicer.util.arrayFromVolume(aha), logic.computeAHA(volume, seg).aha.labels)
    assert mrml.geometry_from_volume_node(aha).differences(mrml.geometry_from_volume_node(volume)) == []
    colours = scene.GetNodeByID(aha.GetDisplayNode().GetColorNodeID())
    assert colours.GetNumberOfColors() == 18 and "apex" in colours.GetColorName(17)


def test_rv_insertion_points_orient_the_segments(scene):
    logic = SMILEMaskEditorLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    points = phantom.truth["rv_insertion_points"]  # LPS
    markups = scene.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "RV insertion")
    for kind in ("anterior", "inferior"):
        ras = np.array(points[kind]) * [-1, -1, 1]  # as Slicer shows them
        markups.AddControlPoint(vtk.vtkVector3d(*ras), kind)
    context = logic.computeAHA(volume, seg, rvPointsNode=markups)
    assert context.aha.orientation.source == "rv-points"
    expected, _ = _claimlib_subject(phantom, [(k, np.array(points[k], float)) for k in ("anterior", "inferior")])
    assert np.array_equal(context.aha.labels, expected.labels)
    truth = phantom.truth["septum_direction"]
    assert float(np.dot(context.aha.orientation.septum, truth)) > 0.95


def test_smile_mask_is_claimlib_s_and_regenerates_in_place(scene):
    from CLAIMLib.smile import SmileSpec, generate

    logic = SMILEMaskEditorLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    kwargs = dict(segments=[4, 10], volumeMl=5.0, transmurality="subendocardial:0.6", mvo=True)
    node = logic.generateMask(volume, seg, seed=3, **kwargs)
    assert _segment_names(node) == ["Scar", "MVO"] and node.GetName() == f"{volume.GetName()}_SMILE"
    context = logic.computeAHA(volume, seg)
    ref = volume.GetID()
    assert node.GetNodeReferenceID(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()) == ref
    masks = mrml.segment_masks(node, volume)  # exported back onto the volume's grid
    _, subject = _claimlib_subject(phantom)
    for seed in (3, 4):
        expected = generate(np.random.default_rng(seed), subject, SmileSpec(segments=(4, 10), volume_ml=5.0,
                                                                             transmurality="subendocardial:0.6",
                                                                             mvo=True))
        if seed == 4:  # regenerate with a new seed into the same node
            assert logic.generateMask(volume, seg, seed=4, outputSegmentationNode=node, **kwargs) is node
            assert logic.computeAHA(volume, seg) is context  # the AHA and the subject come from the cache
            assert _segment_names(node) == ["Scar", "MVO"]
            new = mrml.segment_masks(node, volume)
            assert not np.array_equal(new["Scar"], masks["Scar"])
            masks = new
        assert expected.scar.any() and expected.mvo.any()
        assert np.array_equal(masks["Scar"] | masks["MVO"], expected.scar), seed
        assert np.array_equal(masks["MVO"], expected.mvo), seed
        assert not (masks["Scar"] & masks["MVO"]).any()
    record = mrml.get_record(node)
    assert record["seed"] == 4 and record["segments"] == [4, 10] and record == logic.lastRecord
    scar = node.GetSegmentation().GetSegment("Scar")
    mvo = node.GetSegmentation().GetSegment("MVO")
    tag = vtk.reference("")
    assert scar.GetTag(scar.GetTerminologyEntryTagName(), tag) and "SCT^55641003^Infarct" in str(tag)
    assert sum(mvo.GetColor()) < sum(scar.GetColor())  # MVO dark, scar bright
    with pytest.raises(InputError, match="input labels"):
        logic.generateMask(volume, seg, seed=1, outputSegmentationNode=seg, **kwargs)
    with pytest.raises(InputError, match="transmurality"):
        logic.generateMask(volume, seg, segments=[4], transmurality="sideways")


def test_smile_wavefront_with_priors_is_claimlib_s(scene, tmp_path):
    """The default (wavefront) mask drawn from a priors file: the panel's mask is the library's, seed for seed."""
    from CLAIMLib.io import write_json
    from CLAIMLib.smile import SmileSpec, generate
    from CLAIMLib.smile_priors import load
    from CLAIMLib.workflows.masks import learn_smile_priors

    logic = SMILEMaskEditorLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    reference = [c for c in _reference_cases() if c.mask("scar").any()]
    write_json(tmp_path / "priors.json", learn_smile_priors(reference).to_dict())
    node = logic.generateMask(volume, seg, seed=5, priors=str(tmp_path / "priors.json"))
    _, subject = _claimlib_subject(phantom)
    expected = generate(np.random.default_rng(5), subject, SmileSpec(priors=load(tmp_path / "priors.json")))
    masks = mrml.segment_masks(node, volume)
    assert expected.scar.any() and np.array_equal(masks["Scar"] | masks["MVO"], expected.scar)
    assert logic.lastRecord["pattern"] == "wavefront" and logic.lastRecord["volume_source"] == "learned priors"
    with pytest.raises(InputError, match="priors"):
        logic.generateMask(volume, seg, priors=str(tmp_path / "missing.json"))


def _reference_cases():
    from CLAIMLib.labels import case_from_arrays
    from CLAIMLib.phantom import generate_cohort

    return [case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
            for p in generate_cohort(4, seed=8, normal_fraction=0.0)]


def test_smile_template_mode_is_claimlib_s(scene):
    from CLAIMLib.smile import SmileSpec
    from CLAIMLib.smile_template import generate_template

    logic = SMILEMaskEditorLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    node = logic.generateMask(volume, seg, [3, 4], 4.0, "transmural", False, seed=9, mode="template")
    masks = mrml.segment_masks(node, volume)
    result, subject = _claimlib_subject(phantom, method="template")
    expected = generate_template(np.random.default_rng(9), subject, result.registration,
                                 SmileSpec(segments=(3, 4), volume_ml=4.0, transmurality="transmural"))
    assert np.array_equal(masks["Scar"], expected.scar) and not masks["MVO"].any()
    assert logic.lastRecord["mode"] == "template"


# ---------------------------------------------------------------------------------------------------- bull's-eye
def test_bullseye_table_has_17_rows_and_a_png(scene, tmp_path):
    from CLAIMLib.quantify import COLUMNS, quantify

    logic = CLAIMLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    mask = SMILEMaskEditorLogic(scene).generateMask(volume, seg, [4, 10], 5.0, "transmural", True, seed=2)
    table, png = logic.bullseye(volume, seg, mask, pngPath=tmp_path / "be.png")
    assert table.IsA("vtkMRMLTableNode") and table.GetNumberOfRows() == 17
    assert [table.GetColumnName(i) for i in range(table.GetNumberOfColumns())] == list(COLUMNS)
    assert Path(png) == tmp_path / "be.png" and Path(png).stat().st_size > 5000
    context = logic.computeAHA(volume, seg)
    scar, mvo = mrml.scar_from_node(mask, volume)
    expected = quantify(context.aha.labels, context.case.myocardium, scar, context.case.geometry, mvo=mvo,
                        cavity=context.case.masks.get("cavity"))
    for r, row in enumerate(expected["segments"]):
        assert int(table.GetCellText(r, 0)) == row["segment"] and table.GetCellText(r, 1) == row["name"]
        for c, column in enumerate(COLUMNS[4:], start=4):
            assert float(table.GetCellText(r, c)) == pytest.approx(row[column], rel=1e-5, abs=1e-9), column
    assert table.GetColumnUnitLabel("scar_ml") == "mL"
    totals = mrml.get_record(table)["totals"]
    assert totals["scar_ml"] == pytest.approx(float(scar.sum()) * context.case.geometry.voxel_volume_ml)
    # again into the same table, with the labels' own scar and a default PNG path
    again, png2 = logic.bullseye(volume, seg, tableNode=table)
    assert again is table and table.GetNumberOfRows() == 17 and Path(png2).is_file()
    assert mrml.get_record(table)["totals"]["scar_ml"] == pytest.approx(phantom.truth["volumes_ml"]["scar"], rel=1e-3)


# ---------------------------------------------------------------------------------------------------- scar
def test_quantify_scar_is_claim_scar_s_and_refills_its_nodes(scene, tmp_path):
    """The Logic's scar quantification equals the workflow's on the same case; outputs refill in place."""
    from CLAIMLib.workflows.scar import quantify_scar

    logic = CLAIMLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4)
    node, table, png = logic.quantifyScar(volume, seg, "nsd:3", grayZone=True, pngPath=tmp_path / "scar.png")
    context = logic.computeAHA(volume, seg)
    expected = quantify_scar(context.case, "nsd:3", gray_zone="", aha=context.aha)
    masks = mrml.segment_masks(node, volume)
    assert _segment_names(node) == ["Scar", "MVO", "Gray zone"]
    assert np.array_equal(masks["Scar"], expected.scar & ~expected.mvo) and masks["Scar"].any()
    assert np.array_equal(masks["MVO"], expected.mvo) and np.array_equal(masks["Gray zone"], expected.gray_zone)
    assert table.GetNumberOfRows() == 17 and Path(png).stat().st_size > 5000
    record = mrml.get_record(node)
    assert record["method"] == "nsd:3" and record["remote"] == expected.record["remote"]
    assert record["totals"] == pytest.approx(expected.record["totals"])
    # remote segments, then a remote ROI box; again into the same nodes
    again, table2, _ = logic.quantifyScar(volume, seg, "fwhm", remoteSegments=[1, 2], outputSegmentationNode=node,
                                          tableNode=table)
    assert again is node and table2 is table and mrml.get_record(node)["remote"]["segments"] == [1, 2]
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "remote box")
    g = context.case.geometry
    inside = np.argwhere(context.case.myocardium & (context.aha.labels == 3))
    ras = g.index_to_physical(inside) * [-1, -1, 1]
    roi.SetCenter(*((ras.min(0) + ras.max(0)) / 2))
    roi.SetSize(*(ras.max(0) - ras.min(0) + 1.0))
    box = mrml.mask_from_node(roi, volume)
    assert box[tuple(inside.T)].all() and box.sum() < box.size
    logic.quantifyScar(volume, seg, "nsd:3", remoteNode=roi, outputSegmentationNode=node)
    assert mrml.get_record(node)["remote"]["source"] == "mask"
    with pytest.raises(InputError, match="not both"):
        logic.quantifyScar(volume, seg, remoteSegments=[3], remoteNode=roi)
    with pytest.raises(InputError, match="is the input labels"):
        logic.quantifyScar(volume, seg, outputSegmentationNode=seg)


# ---------------------------------------------------------------------------------------------------- synthesis
@pytest.fixture(scope="module")
def synthesis_case(tiny_run):
    scene = slicer.vtkMRMLScene()
    logic = CLAIMLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=4, pathological=False)
    mask = SMILEMaskEditorLogic(scene).generateMask(volume, seg, [4, 10], 5.0, "subendocardial:0.7", True, seed=5)
    return scene, logic, volume, seg, mask, tiny_run[0] / "checkpoint.pt"


def test_synthesis_in_process_changes_only_the_mask(synthesis_case):
    scene, logic, volume, seg, mask, checkpoint = synthesis_case
    before = slicer.util.arrayFromVolume(volume).copy()
    t = time.perf_counter()
    out = logic.synthesize(volume, seg, mask, checkpoint, steps=5, seed=1, device="cpu")
    print(f"in-process synthesis: {time.perf_counter() - t:.1f} s")
    assert out.GetName() == f"{volume.GetName()}_synthetic" and out is not volume
    assert np.array_equal(slicer.util.arrayFromVolume(volume), before)  # the input is untouched
    image = slicer.util.arrayFromVolume(out)
    assert image.dtype == before.dtype
    assert mrml.geometry_from_volume_node(out).differences(mrml.geometry_from_volume_node(volume)) == []
    scar, _ = mrml.scar_from_node(mask, volume)
    assert np.array_equal(image[~scar], before[~scar])  # bit for bit outside the mask
    changed = image != before
    assert changed.any() and not (changed & ~scar).any()
    assert image[scar].mean() > before[scar].mean()  # scar is bright on LGE
    record = mrml.get_record(out)
    assert record["slices"] >= 1 and record["sampler"] == "dpm"


def test_synthesis_command_runs_the_cli_and_matches(synthesis_case):
    """The command route (``python -m CLAIMLib synthesize`` through CLAIMLib.runner) gives the in-process result."""
    scene, logic, volume, seg, mask, checkpoint = synthesis_case
    nodes = scene.GetNumberOfNodes()
    job = logic.synthesizeCommand(volume, seg, mask, checkpoint, steps=5, seed=1, device="cpu")
    argv, outputs, finish = job  # unpacks as (argv, outputs, finish)
    assert argv[1:4] == ["-m", "CLAIMLib", "synthesize"] and scene.GetNumberOfNodes() == nodes
    events = []
    t = time.perf_counter()
    out = job.run(timeout=600, on_event=events.append)
    print(f"synthesis through the CLI: {time.perf_counter() - t:.1f} s")
    assert not job.workdir.exists()  # temporary files removed
    assert events[-1]["type"] == "finished" and events[-1]["returncode"] == 0
    expected = logic.synthesize(volume, seg, mask, checkpoint, steps=5, seed=1, device="cpu")
    assert np.array_equal(slicer.util.arrayFromVolume(out), slicer.util.arrayFromVolume(expected))
    assert mrml.get_record(out)["network_calls"] == mrml.get_record(expected)["network_calls"]


def test_synthesis_command_cancelled_leaves_the_scene(synthesis_case):
    from CLAIMLib.runner import ProcessRunner

    scene, logic, volume, seg, mask, checkpoint = synthesis_case
    nodes = scene.GetNumberOfNodes()
    job = logic.synthesizeCommand(volume, seg, mask, checkpoint, steps=50, seed=1, device="cpu")
    runner = ProcessRunner(grace=0.5)
    job.start(runner)
    time.sleep(0.5)
    runner.cancel()
    end = runner.poll()[-1]
    job.cleanup()
    assert end["cancelled"] and not runner.running
    assert scene.GetNumberOfNodes() == nodes and not job.workdir.exists()


def test_synthesis_refuses_bad_masks(synthesis_case, tmp_path):
    scene, logic, volume, seg, mask, checkpoint = synthesis_case
    empty = mrml.add_volume_like(scene, volume, np.zeros(slicer.util.arrayFromVolume(volume).shape, np.uint8),
                                 "empty", "vtkMRMLLabelMapVolumeNode")
    with pytest.raises(InputError, match="no scar voxel"):
        logic.synthesizeCommand(volume, seg, empty, checkpoint)
    context = logic.computeAHA(volume, seg)
    outside = mrml.add_volume_like(scene, volume, (~context.case.myocardium).astype(np.uint8), "outside",
                                   "vtkMRMLLabelMapVolumeNode")
    with pytest.raises(InputError, match="outside the myocardium"):
        logic.synthesize(volume, seg, outside, checkpoint)
    with pytest.raises(InputError, match="--steps"):
        logic.synthesizeCommand(volume, seg, mask, checkpoint, steps=80)
    with pytest.raises(InputError, match="no such checkpoint"):
        logic.synthesizeCommand(volume, seg, mask, tmp_path / "missing.pt")


# ---------------------------------------------------------------------------------------------------- segmentation
def test_segmentation_in_process_and_command_on_the_input_grid(trained_seg):
    model, _ = trained_seg
    scene = slicer.vtkMRMLScene()
    logic = CLAIMLogic(scene)
    volume, _, phantom = logic.addPhantomCase(seed=8)
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = vtk.vtkMatrix4x4()
    m.SetElement(1, 3, -7.5)
    transform.SetMatrixTransformToParent(m)
    volume.SetAndObserveTransformNodeID(transform.GetID())  # results follow the input, transform included
    t = time.perf_counter()
    node = logic.segment(volume, model, device="cpu")
    print(f"in-process segmentation: {time.perf_counter() - t:.1f} s")
    # names as the model's dataset.json gives them, with standard (SNOMED CT) terminology for each structure
    assert _segment_names(node) == ["cavity", "myocardium", "scar", "mvo"]
    for name, code in (("cavity", "SCT^87878005^Left ventricle"), ("myocardium", "SCT^74281007^Myocardium"),
                       ("scar", "SCT^55641003^Infarct"), ("mvo", "99CLAIM^MVO^Microvascular obstruction")):
        segment = node.GetSegmentation().GetSegment(node.GetSegmentation().GetSegmentIdBySegmentName(name))
        entry = vtk.reference("")
        assert segment.GetTag(segment.GetTerminologyEntryTagName(), entry) and code in str(entry), (name, entry)
    assert node.GetName() == f"{volume.GetName()}_segmentation"
    assert node.GetTransformNodeID() == transform.GetID()
    geometry = mrml.geometry_from_volume_node(volume)
    predictor = logic._predictor(model, "cpu")  # CLAIMLib's Predictor, loaded once by the Logic
    assert type(predictor).__module__ == "CLAIMLib.segmentation.nnunet"
    expected = predictor.predict(slicer.util.arrayFromVolume(volume), geometry)
    masks = mrml.segment_masks(node, volume)
    for value, name in enumerate(("cavity", "myocardium", "scar", "mvo"), start=1):
        assert masks[name].shape == phantom.labels.shape
        assert np.array_equal(masks[name], expected == value), name
    assert (expected == 2).any()
    case = logic.caseFromNodes(volume, node)  # the result reads back as labels (e.g. for the bull's-eye)
    assert np.array_equal(case.myocardium, expected >= 2)

    job = logic.segmentCommand(volume, model, device="cpu")
    t = time.perf_counter()
    out = job.run(timeout=600)
    print(f"segmentation through the CLI: {time.perf_counter() - t:.1f} s")
    assert out is not node and _segment_names(out) == ["cavity", "myocardium", "scar", "mvo"]
    again = mrml.segment_masks(out, volume)
    for name in masks:
        assert np.array_equal(again[name], masks[name]), name
    with pytest.raises(InputError, match="not a trained nnU-Net model"):
        logic.segmentCommand(volume, model.parent)


# ---------------------------------------------------------------------------------------------------- job controller
@pytest.fixture(scope="module")
def qt_widgets():
    """(qt shim, CLAIMSlicerLib.widgets, QApplication) with the PySide6 shim as ``qt`` for this module only."""
    import qt_shim

    yield from qt_shim.shimmed("CLAIMSlicerLib.widgets", reloaded=("CLAIMSlicerLib.bullseye_picker",))


def _script_job(tmp_path, script, result="done"):
    """A CommandJob running a Python snippet; finish() records that it ran."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    out = work / "out.txt"
    finished = []

    def finish():
        finished.append(out.read_text())
        return result

    job = CommandJob([sys.executable, "-c", script.replace("OUT", repr(str(out)))], [out], finish, work, "test job")
    return job, finished


def _controller(qt, widgets):
    button, bar, status = qt.QPushButton("Synthesize"), qt.QProgressBar(), qt.QLabel()
    return widgets.JobController(button, bar, status, interval_ms=20), button, bar, status


def _wait(app, controller, timeout=60):
    deadline = time.monotonic() + timeout
    while controller.running and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    assert not controller.running


def test_job_controller_shows_progress_and_finishes(qt_widgets, tmp_path):
    qt, widgets, app = qt_widgets
    controller, button, bar, status = _controller(qt, widgets)
    script = ("import json, time\n"
              "for i in range(1, 5):\n"
              "    print(json.dumps({'progress': i / 4, 'stage': 'sampling'}), flush=True); time.sleep(0.15)\n"
              "open(OUT, 'w').write('ok')\n")
    job, finished = _script_job(tmp_path, script, result="node")
    results, values = [], []
    assert controller.start(job, onSuccess=results.append)
    assert button.text() == "Cancel" and not bar.isHidden()
    assert (bar.minimum(), bar.maximum()) == (0, 0)  # busy until the first progress line
    deadline = time.monotonic() + 30
    while controller.running and time.monotonic() < deadline:
        app.processEvents()
        if bar.maximum() == 100:
            values.append(bar.value())
        time.sleep(0.01)
    assert results == ["node"] and finished == ["ok"] and controller.error is None
    assert values and max(values) >= 75 and values == sorted(values)  # real progress, increasing
    assert button.text() == "Synthesize" and status.text() == "test job: done" and bar.isHidden()
    assert not job.workdir.exists()


def test_job_controller_reports_the_one_line_error(qt_widgets, tmp_path):
    qt, widgets, app = qt_widgets
    controller, button, bar, status = _controller(qt, widgets)
    script = ("import sys\n"
              "print('Traceback (most recent call last):', file=sys.stderr)\n"
              "print('claim: error: image.nrrd: holds no scar voxel', file=sys.stderr)\n"
              "sys.exit(2)\n")
    job, finished = _script_job(tmp_path, script)
    failures = []
    controller.start(job, onFailure=failures.append)
    _wait(app, controller)
    assert failures == ["claim: error: image.nrrd: holds no scar voxel"] == [controller.error]
    assert status.text() == controller.error and not finished and button.text() == "Synthesize"
    assert not job.workdir.exists()


def test_job_controller_cancel_kills_the_process_tree(qt_widgets, tmp_path):
    qt, widgets, app = qt_widgets
    controller, button, bar, status = _controller(qt, widgets)
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time\n"
              "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
              f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
              "print('{\"progress\": 0.1, \"stage\": \"sampling\"}', flush=True)\n"
              "open(OUT, 'w').write('partial')\n"
              "time.sleep(60)\n")
    job, finished = _script_job(tmp_path, script)
    controller.start(job)
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    time.sleep(0.2)
    controller.cancel()
    assert not controller.running and not finished and controller.error is None
    assert status.text() == "test job: cancelled" and button.text() == "Synthesize"
    assert not job.workdir.exists()
    if not gone_soon(int(pid_file.read_text()), 10):
        pytest.fail("the grandchild process survived the cancel")


def test_job_controller_reports_a_job_that_cannot_start(qt_widgets, tmp_path):
    qt, widgets, app = qt_widgets
    controller, button, bar, status = _controller(qt, widgets)
    work = tmp_path / "w"
    work.mkdir()
    job = CommandJob([str(tmp_path / "no-such-program")], [], lambda: None, work, "test job")
    failures = []
    assert not controller.start(job, onFailure=failures.append)
    assert failures and "cannot start" in failures[0] and not controller.running and not work.exists()


# ---------------------------------------------------------------------------------------------------- dependencies
def test_dependency_groups_and_the_constraints_file(tmp_path):
    assert dependencies.missing("core") == []  # this environment has CLAIMLib's dependencies
    assert {"torch>=2.2", "nnunetv2>=2.5"} <= set(dependencies.GROUPS["segmentation"].values())
    assert {"torch>=2.2", "monai>=1.4", "diffusers>=0.30"} <= set(dependencies.GROUPS["synthesis"].values())
    path = dependencies.constraints_file(tmp_path)
    lines = Path(path).read_text().split()
    assert any(line.startswith("numpy==") for line in lines) and any(line.startswith("SimpleITK==") for line in lines)
    assert dependencies.version_problem() is None  # no slicer.app here; Python is recent enough


def test_dependencies_install_keeps_slicer_packages(monkeypatch):
    """Old Slicer (pip_install with a constraints file) and Slicer 5.12+ (pip_ensure with skip_packages)."""
    calls = []

    def pip_install(args):
        calls.append(("pip_install", list(args), Path(args[1]).read_text()))

    monkeypatch.setattr(slicer.util, "pip_install", pip_install, raising=False)
    monkeypatch.delattr(slicer, "packaging", raising=False)
    dependencies.install(["monai>=1.4"])
    name, args, constraints = calls[0]
    assert args[0] == "-c" and args[2:] == ["monai>=1.4"] and "numpy==" in constraints
    assert not Path(args[1]).exists()  # the constraints file is removed afterwards

    packaging = type(sys)("slicer.packaging")
    packaging.pip_ensure = lambda reqs, **kw: calls.append(("pip_ensure", [str(r) for r in reqs], kw))
    monkeypatch.setattr(slicer, "packaging", packaging, raising=False)
    dependencies.install(["nnunetv2>=2.5"])
    name, reqs, kw = calls[1]
    assert name == "pip_ensure" and reqs == ["nnunetv2>=2.5"]
    assert {"numpy", "SimpleITK", "torch"} <= set(kw["skip_packages"]) and kw["prompt_install"] is False

    current = {"numpy": "2.0.0"}  # a protected package that pip changed anyway is an error
    monkeypatch.setattr(dependencies, "installed_versions", lambda names=None: dict(current))
    packaging.pip_ensure = lambda reqs, **kw: current.update(numpy="2.1.0")
    with pytest.raises(RuntimeError, match="numpy 2.0.0 -> 2.1.0"):
        dependencies.install(["monai>=1.4"])


def test_dependencies_ask_before_installing(monkeypatch):
    monkeypatch.setattr(dependencies, "missing", lambda group="core": ["monai>=1.4"])
    installed, asked = [], []
    monkeypatch.setattr(dependencies, "install", installed.append)
    assert dependencies.ensure("synthesis", confirm=lambda text: asked.append(text) or False) is False
    assert not installed and "monai>=1.4" in asked[0] and "numpy" in asked[0]


def test_record_is_json_on_the_node(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
    mrml.set_record(node, {"a": np.float32(1.5), "b": np.arange(3)})
    assert mrml.get_record(node) == {"a": 1.5, "b": [0, 1, 2]}
    assert json.loads(node.GetAttribute(mrml.RECORD_ATTRIBUTE))["a"] == 1.5
