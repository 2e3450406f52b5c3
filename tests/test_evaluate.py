"""claim evaluate on flat folders of label maps (as nnU-Net's evaluation and the EMIDEC challenge script take them):
hand-checked values, the EMIDEC challenge metrics, and the cases that cannot be scored named one by one."""
import csv

import numpy as np
import pytest

from CLAIMLib.geometry import Geometry
from CLAIMLib.io import write_volume

# 2 x 2 x 5 mm voxels: 0.02 mL each
GRID = Geometry((2, 4, 10), (2.0, 2.0, 5.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
ML = 0.02


def truth_and_prediction():
    """Truth: myocardium row (10 voxels), infarct i=0-3 and MVO i=4 on the next row, cavity row (10).
    Prediction: the same myocardium and cavity, infarct i=2-6, no MVO."""
    truth = np.zeros(GRID.shape, np.uint8)
    truth[0, 0, :] = 2
    truth[0, 1, 0:4] = 3
    truth[0, 1, 4] = 4
    truth[0, 2, :] = 1
    pred = truth.copy()
    pred[0, 1, :] = 0
    pred[0, 1, 2:7] = 3
    return truth, pred


def test_flat_folders_hand_checked(tmp_path, run_claim):
    truth, pred = truth_and_prediction()
    gt, pr = tmp_path / "labelsTs", tmp_path / "pred"
    write_volume(gt / "a.nii.gz", truth, GRID)
    write_volume(pr / "a.nii.gz", pred, GRID)
    # a name with no partner on each side, and a prediction on another grid
    write_volume(gt / "b.nii.gz", truth, GRID)
    write_volume(pr / "b_typo.nii.gz", pred, GRID)
    shifted = Geometry(GRID.shape, GRID.spacing, (0.0, 0.0, 2.5), GRID.direction)
    write_volume(gt / "c.nii.gz", truth, GRID)
    write_volume(pr / "c.nii.gz", pred, shifted)
    code, out, err = run_claim("evaluate", "--pred", pr, "--gt", gt, "--csv", tmp_path / "m.csv")
    assert code == 0, err
    warnings = err.splitlines()
    assert f"claim: warning: {pr / 'b_typo.nii.gz'}: no ground truth named 'b_typo' in {gt}; not scored" in warnings
    assert f"claim: warning: {gt / 'b.nii.gz'}: no prediction named 'b' in {pr}; not scored" in warnings
    assert any(w.startswith(f"claim: warning: {pr / 'c.nii.gz'}: not on the ground truth's grid (origin")
               for w in warnings), warnings
    assert len(warnings) == 3 and "1 cases (3 not scored" in out
    rows = {r["class"]: r for r in csv.DictReader((tmp_path / "m.csv").open())}
    assert {r["case"] for r in rows.values()} == {"a"}
    f = {c: {k: float(v) for k, v in r.items() if k not in ("case", "class") and v != "nan"} for c, r in rows.items()}
    # infarct (label 3 alone): truth i=0-3, prediction i=2-6: TP 2, FP 3, FN 2
    assert f["infarct"]["dice"] == pytest.approx(4 / 9)
    assert f["infarct"]["precision"] == pytest.approx(2 / 5) and f["infarct"]["sensitivity"] == pytest.approx(2 / 4)
    # scar (infarct + MVO): truth i=0-4, prediction i=2-6: TP 3, FP 2, FN 2
    assert f["scar"]["dice"] == pytest.approx(6 / 10) and f["scar"]["precision"] == pytest.approx(3 / 5)
    # myocardium: 15 true voxels, 15 predicted, 13 shared
    assert f["myocardium"]["dice"] == pytest.approx(26 / 30) and f["myocardium"]["volume_error_ml"] == 0
    # EMIDEC: infarct 5 predicted against 4 true voxels -> 0.02 mL, over a 0.3 mL myocardium -> 6.67 %
    assert f["infarct"]["volume_error_ml"] == pytest.approx(ML)
    assert f["infarct"]["ratio_error_pct"] == pytest.approx(100 * ML / (15 * ML))
    assert f["mvo"]["dice"] == 0 and f["mvo"]["ratio_error_pct"] == pytest.approx(100 / 15)
    assert "ratio_error_pct" not in f["myocardium"] and f["cavity"]["dice"] == 1
    emidec = next(line for line in out.splitlines() if line.strip().startswith("EMIDEC"))
    assert "infarct Dice 0.444, |dV| 0.02 mL, |d ratio| 6.67 %" in emidec and "no-reflow Dice 0.000" in emidec


def test_nothing_to_score_is_an_input_error(tmp_path, run_claim):
    truth, pred = truth_and_prediction()
    write_volume(tmp_path / "gt" / "a.nii.gz", truth, GRID)
    write_volume(tmp_path / "pred" / "z.nii.gz", pred, GRID)
    code, out, err = run_claim("evaluate", "--pred", tmp_path / "pred", "--gt", tmp_path / "gt",
                               "--csv", tmp_path / "m.csv")
    assert code == 2 and len(err.splitlines()) == 1 and not (tmp_path / "m.csv").exists()
    assert err.startswith(f"claim: error: {tmp_path / 'pred'}: no prediction could be scored")
    (tmp_path / "empty").mkdir()
    code, _, err = run_claim("evaluate", "--pred", tmp_path / "empty", "--gt", tmp_path / "gt")
    assert code == 2 and err.startswith(f"claim: error: {tmp_path / 'empty'}: holds no label map")


def test_flat_predictions_against_emidec_layout(emidec, tmp_path, run_claim):
    """Real labels: the EMIDEC layout on the truth side, a flat folder of predictions; a perfect prediction of
    P100 scores 1 on every Dice and 0 on every EMIDEC difference, the other cases are named as not predicted."""
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "Case_P100.nii.gz").symlink_to(emidec / "Case_P100" / "Contours" / "Case_P100.nii.gz")
    code, out, err = run_claim("evaluate", "--pred", tmp_path / "pred", "--gt", emidec, "--csv", tmp_path / "m.csv")
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "m.csv").open()))
    assert {r["class"] for r in rows} == {"cavity", "myocardium", "scar", "infarct", "mvo"}
    assert all(float(r["dice"]) == 1 and float(r["volume_error_ml"]) == 0 for r in rows)
    assert all(float(r["ratio_error_pct"]) == 0 for r in rows if r["class"] in ("scar", "infarct", "mvo"))
    assert "no prediction named 'Case_N006'" in err
