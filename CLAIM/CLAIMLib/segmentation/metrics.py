"""Segmentation metrics of the CLAIM paper (Dice, precision, sensitivity, specificity), HD95 and volume error.

Counts are taken over the whole volume: TP, FP, FN, TN of one class. Conventions for empty masks:

| case | Dice | precision | sensitivity | specificity | HD95 |
|---|---|---|---|---|---|
| both empty | 1 | 1 | 1 | TN/(TN+FP) = 1 | 0 |
| prediction empty, truth not | 0 | 0 | 0 | 1 | nan (undefined) |
| truth empty, prediction not | 0 | 0 | 1 (nothing to find) | TN/(TN+FP) | nan (undefined) |

Aggregates are means and standard deviations over cases; HD95 ignores its undefined cases and says how many.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

CLASSES = ("cavity", "myocardium", "scar", "mvo")
METRICS = ("dice", "precision", "sensitivity", "specificity", "hd95_mm", "volume_error_ml")


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    tn = int(pred.size - tp - fp - fn)
    return tp, fp, fn, tn


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hd95(pred: np.ndarray, truth: np.ndarray, spacing_kji) -> float:
    """Symmetric 95th percentile surface distance in mm (0 when both are empty, nan when one is)."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() and not truth.any():
        return 0.0
    if not pred.any() or not truth.any():
        return float("nan")
    sp, st = _surface(pred), _surface(truth)
    d_to_truth = ndimage.distance_transform_edt(~st, sampling=spacing_kji)
    d_to_pred = ndimage.distance_transform_edt(~sp, sampling=spacing_kji)
    return float(np.percentile(np.concatenate([d_to_truth[sp], d_to_pred[st]]), 95))


def binary_metrics(pred: np.ndarray, truth: np.ndarray, spacing_kji=(1.0, 1.0, 1.0), voxel_ml: float = 0.001) -> dict:
    tp, fp, fn, tn = confusion(pred, truth)
    both_empty = tp + fp + fn == 0
    return {
        "dice": 1.0 if both_empty else 2 * tp / (2 * tp + fp + fn),
        "precision": 1.0 if both_empty else (tp / (tp + fp) if tp + fp else 0.0),
        "sensitivity": tp / (tp + fn) if tp + fn else 1.0,
        "specificity": tn / (tn + fp) if tn + fp else 1.0,
        "hd95_mm": hd95(pred, truth, spacing_kji),
        "volume_error_ml": abs(tp + fp - (tp + fn)) * voxel_ml,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def case_metrics(pred_case, truth_case) -> dict:
    """Metrics of every class present in the truth's scheme (scar = infarct + MVO), for two Cases on one grid."""
    g = truth_case.geometry
    spacing = tuple(np.asarray(g.spacing)[::-1])
    out = {}
    for c in CLASSES:
        if c in truth_case.masks or c in pred_case.masks:
            out[c] = binary_metrics(pred_case.mask(c), truth_case.mask(c), spacing, g.voxel_volume_ml)
    return out


def metric_rows(case_id: str, metrics: dict) -> list[dict]:
    """One row per class of a case's ``case_metrics``: case, class and every metric (the per-case CSVs)."""
    return [{"case": case_id, "class": c, **{k: v[k] for k in METRICS}} for c, v in metrics.items()]


def aggregate(per_case: list[dict]) -> dict:
    """Mean, standard deviation and count per class and metric (HD95: over the cases where it is defined)."""
    out = {}
    for c in CLASSES:
        rows = [m[c] for m in per_case if c in m]
        if not rows:
            continue
        out[c] = {}
        for key in METRICS:
            v = np.array([r[key] for r in rows], float)
            ok = ~np.isnan(v)
            out[c][key] = {"mean": float(v[ok].mean()) if ok.any() else float("nan"),
                           "sd": float(v[ok].std()) if ok.any() else float("nan"), "n": int(ok.sum())}
    return out
