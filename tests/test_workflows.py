"""The workflows layer: one function per user operation, and the properties the edges rely on."""
import numpy as np
import pytest

from CLAIMLib.errors import InputError


def test_synthesis_reads_the_image_once_and_keeps_it_bit_exact(tiny_run, tmp_path, monkeypatch, run_claim):
    """``claim synthesize`` reads each input file once (the Case keeps the image as read, in its own dtype) and
    writes every voxel outside the mask bit for bit, in that dtype."""
    import SimpleITK as sitk

    import CLAIMLib.io as cio
    from CLAIMLib.geometry import Geometry
    from CLAIMLib.io import read_volume, write_volume
    from CLAIMLib.phantom import case_rng, generate_case

    phantom = generate_case(case_rng(5, 0), "Phantom_N001", pathological=False)
    g = phantom.geometry
    raw = np.round(phantom.image).astype(np.int16)  # a scanner's int16, not the float32 algorithms use
    write_volume(tmp_path / "image.nrrd", raw, g, np.int16)
    write_volume(tmp_path / "labels.nrrd", phantom.labels, g, np.uint8)
    code, _, err = run_claim("smile", "--labels", tmp_path / "labels.nrrd", "--out", tmp_path / "mask.nrrd",
                             "--segments", "4,10", "--volume-ml", "5", "--seed", "1")
    assert code == 0, err
    reads = []
    real = cio.sitk.ReadImage
    monkeypatch.setattr(cio.sitk, "ReadImage", lambda path, *a, **k: reads.append(str(path)) or real(path, *a, **k))
    code, _, err = run_claim("synthesize", "--image", tmp_path / "image.nrrd", "--labels", tmp_path / "labels.nrrd",
                             "--mask", tmp_path / "mask.nrrd", "--model", tiny_run[0], "--out", tmp_path / "syn.nrrd",
                             "--steps", "3", "--device", "cpu")
    assert code == 0, err
    assert reads.count(str(tmp_path / "image.nrrd")) == 1, reads
    assert reads.count(str(tmp_path / "labels.nrrd")) == 1, reads
    out = sitk.ReadImage(str(tmp_path / "syn.nrrd"))
    assert out.GetPixelID() == sitk.sitkInt16
    syn = sitk.GetArrayFromImage(out)
    mask = read_volume(tmp_path / "mask.nrrd")[0] >= 3
    assert np.array_equal(syn[~mask], raw[~mask])
    assert (syn[mask] != raw[mask]).any()
    assert isinstance(g, Geometry)


def test_case_keeps_the_image_dtype_and_gives_a_float_view():
    from CLAIMLib.labels import case_from_arrays
    from conftest import oblique_geometry, ring_labels

    g = oblique_geometry()
    image = np.arange(np.prod(g.shape), dtype=np.int16).reshape(g.shape)
    case = case_from_arrays("c", image, ring_labels(g.shape), g)
    assert case.image is image and case.image.dtype == np.int16
    assert case.float_image.dtype == np.float32 and np.array_equal(case.float_image, image)
    assert case.float_image is case.float_image  # computed once
    other = case.with_image(image[::-1].copy())
    assert np.array_equal(other.float_image, image[::-1]) and other.masks is case.masks


def test_smile_masks_draw_the_same_masks_whatever_the_count(phantom_cohort):
    from CLAIMLib.labels import case_from_arrays
    from CLAIMLib.smile import SmileSpec
    from CLAIMLib.workflows.masks import CLI_NAMES, smile_masks, smile_spec

    _, cases = phantom_cohort

    p = cases[0]
    case = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
    one = smile_masks(case, SmileSpec(volume_ml=6.0), count=1, seed=4)
    three = smile_masks(case, SmileSpec(volume_ml=6.0), count=3, seed=4)
    assert np.array_equal(one[0].scar, three[0].scar) and not np.array_equal(three[0].scar, three[1].scar)
    assert np.array_equal(three[1].labels >= 3, three[1].scar)
    assert three[0].record["seed"] == 4 and three[0].record["case_id"] == p.case_id
    with pytest.raises(InputError, match="--transmurality"):
        smile_spec(transmurality="sideways")
    with pytest.raises(InputError, match="my-volume"):
        smile_spec(volume_ml=-2.0, names={**CLI_NAMES, "volume": "my-volume"})


def test_comparison_panels_for_one_or_several_predictions():
    from CLAIMLib.bullseye import comparison_panels

    def table(scale):
        return {"segments": [{"segment": s, "scar_ml": scale * s} for s in range(1, 18)]}

    one = comparison_panels(table(1.0), table(2.0))
    assert [p["title"] for p in one] == ["ground truth", "prediction", "prediction - truth"]
    assert one[2]["values"][17] == pytest.approx(17.0) and one[0]["vmax"] == pytest.approx(34.0)
    many = comparison_panels(table(1.0), {"A": table(2.0), "B": table(0.5)})
    assert [p and p["title"] for p in many] == ["ground truth", "A", "B", None, "A - truth", "B - truth"]
    assert many[5]["values"][2] == pytest.approx(-1.0) and many[4]["vmax"] == pytest.approx(17.0)


def test_the_edges_import_workflows_and_orchestrate_nothing():
    """The orchestration (AHA -> SMILE subject, quantify -> bull's-eye, truth-vs-prediction tables) lives in
    workflows/ only; the CLI commands and the Slicer Logic call it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "CLAIM"
    edges = list((root / "CLAIMLib" / "commands").glob("*.py")) + list((root / "CLAIMSlicerLib").glob("*.py"))
    for path in edges:
        text = path.read_text()
        for core_call in ("aha_segments(", "prepare_subject(", "quantify(", "scar_panels(", "comparison_panels(",
                          "generate_template(", "synthesize(bundle"):
            assert core_call not in text, f"{path.name} calls {core_call} itself"
    for name in ("commands/cases.py", "commands/models.py"):
        assert "..workflows" in (root / "CLAIMLib" / name).read_text()
    assert "CLAIMLib.workflows" in (root / "CLAIMSlicerLib" / "logic.py").read_text()
    workflows = "".join(p.read_text() for p in (root / "CLAIMLib" / "workflows").glob("*.py"))
    assert "case_subject(case, aha)" in workflows and "comparison_panels(" in workflows


def test_an_empty_prediction_is_an_answer_not_an_error(phantom_cohort):
    """A model that finds no myocardium (the demo's one-minute nnU-Net on a clinical-contrast phantom) gives a
    prediction with Dice 0 and an empty bull's-eye row, not a crash."""
    from types import SimpleNamespace

    from CLAIMLib.labels import EMIDEC, case_from_arrays
    from CLAIMLib.workflows.evaluation import evaluate_pairs
    from CLAIMLib.workflows.segmentation import segment_image
    from CLAIMLib.workflows.tables import comparison_tables

    _, cases = phantom_cohort
    p = next(c for c in cases if c.truth["pathological"])
    truth = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
    blind = SimpleNamespace(predict=lambda image, geometry: np.zeros(geometry.shape, np.uint8),
                            model=SimpleNamespace(label_scheme=lambda: EMIDEC))
    result = segment_image(blind, p.image, p.geometry, p.case_id)
    assert not result.case.myocardium.any()
    m = evaluate_pairs([(truth, result.case)])["per_case"][0]
    assert m["myocardium"]["dice"] == 0.0 and m["scar"]["dice"] == 0.0
    truth_tables, pred_tables = comparison_tables([(truth, result.case)])
    assert pred_tables[0]["totals"]["scar_ml"] == 0 < truth_tables[0]["totals"]["scar_ml"]
    with pytest.raises(InputError, match="myocardium is empty"):  # as input labels, an empty map is still refused
        case_from_arrays("x", None, np.zeros(p.geometry.shape, np.uint8), p.geometry)


def test_evaluate_scores_an_empty_prediction(phantom_cohort, run_claim, tmp_path):
    from CLAIMLib.io import write_volume

    root, cases = phantom_cohort
    p = cases[0]
    write_volume(tmp_path / f"{p.case_id}.nii.gz", np.zeros(p.geometry.shape, np.uint8), p.geometry)
    code, out, err = run_claim("evaluate", "--pred", tmp_path, "--gt", root / p.case_id)
    assert code == 0, err
    assert "myocardium  Dice 0.000" in out
