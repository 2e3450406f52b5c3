"""Segmentation metrics against values computed by hand, with every empty-mask case."""
import numpy as np
import pytest

from CLAIMLib.segmentation.metrics import aggregate, binary_metrics, case_metrics, confusion, hd95


def test_hand_computed_values():
    truth = np.zeros((1, 4, 5), bool)
    pred = np.zeros_like(truth)
    truth[0, 1:3, 1:4] = True  # 6 voxels
    pred[0, 1:3, 2:5] = True  # 6 voxels, 4 shared
    assert confusion(pred, truth) == (4, 2, 2, 12)
    m = binary_metrics(pred, truth, voxel_ml=0.5)
    assert m["dice"] == pytest.approx(8 / 12)
    assert m["precision"] == pytest.approx(4 / 6)
    assert m["sensitivity"] == pytest.approx(4 / 6)
    assert m["specificity"] == pytest.approx(12 / 14)
    assert m["volume_error_ml"] == 0.0
    pred[0, 0, 0] = True
    assert binary_metrics(pred, truth, voxel_ml=0.5)["volume_error_ml"] == 0.5


def test_empty_cases():
    z = np.zeros((2, 3, 3), bool)
    t = z.copy()
    t[0, 1, 1] = True
    both = binary_metrics(z, z)
    assert (both["dice"], both["precision"], both["sensitivity"], both["specificity"], both["hd95_mm"]) == (1, 1, 1, 1, 0)
    no_pred = binary_metrics(z, t)
    assert (no_pred["dice"], no_pred["precision"], no_pred["sensitivity"], no_pred["specificity"]) == (0, 0, 0, 1)
    assert np.isnan(no_pred["hd95_mm"])
    no_truth = binary_metrics(t, z)
    assert (no_truth["dice"], no_truth["precision"], no_truth["sensitivity"]) == (0, 0, 1)
    assert no_truth["specificity"] == pytest.approx(17 / 18) and np.isnan(no_truth["hd95_mm"])


def test_hd95_in_mm():
    a = np.zeros((1, 1, 20), bool)
    b = np.zeros_like(a)
    a[0, 0, 2] = True
    b[0, 0, 5] = True
    assert hd95(a, b, (10.0, 1.0, 2.0)) == pytest.approx(6.0)  # 3 voxels x 2 mm
    assert hd95(a, a, (1, 1, 1)) == 0.0


def test_case_metrics_and_aggregate():
    from CLAIMLib.labels import case_from_arrays
    from conftest import oblique_geometry, ring_labels

    g = oblique_geometry()
    truth = case_from_arrays("t", None, ring_labels(g.shape), g)
    same = case_metrics(truth, truth)
    assert all(v["dice"] == 1.0 for v in same.values()) and set(same) == {"cavity", "myocardium", "scar", "infarct", "mvo"}
    lab = ring_labels(g.shape, mvo=False)
    other = case_from_arrays("p", None, lab, g)
    m = case_metrics(other, truth)
    assert m["myocardium"]["dice"] == 1.0 and m["mvo"]["dice"] == 0.0 and m["scar"]["dice"] == 1.0
    agg = aggregate([same, m])
    assert agg["mvo"]["dice"]["mean"] == 0.5 and agg["mvo"]["hd95_mm"]["n"] == 1
