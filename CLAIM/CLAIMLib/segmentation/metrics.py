"""Segmentation metrics of the CLAIM paper (Dice, precision, sensitivity, specificity), HD95 and volume error.

Counts are taken over the whole volume: TP, FP, FN, TN of one class. Conventions for empty masks:

| case | Dice | precision | sensitivity | specificity | HD95 |
|---|---|---|---|---|---|
| both empty | 1 | 1 | 1 | TN/(TN+FP) = 1 | 0 |
| prediction empty, truth not | 0 | 0 | 0 | 1 | nan (undefined) |
| truth empty, prediction not | 0 | 0 | 1 (nothing to find) | TN/(TN+FP) | nan (undefined) |

Aggregates are means and standard deviations over cases; HD95 ignores its undefined cases and says how many.

Classes: ``cavity``, ``myocardium`` (scar and MVO included), ``scar`` (infarct + MVO, as CLAIM counts it),
``infarct`` (scar without MVO: EMIDEC's label 3, as the EMIDEC challenge scores it) and ``mvo`` (EMIDEC's
no-reflow, label 4). Beside the paper's metrics, the EMIDEC challenge's (Lalande et al., MedIA 2022; its
evaluation code): Dice over the case's whole volume, all slices pooled (both empty: 1), the absolute volume
difference in mL (``volume_error_ml``), and for the lesion classes the volume difference as a share of the true
myocardium, in % (``ratio_error_pct``: |V_pred - V_true| / V_myocardium,true x 100).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

CLASSES = ("cavity", "myocardium", "scar", "infarct", "mvo")
LESIONS = ("scar", "infarct", "mvo")  # classes with a ratio to the myocardium (EMIDEC's ratio difference)
METRICS = ("dice", "precision", "sensitivity", "specificity", "hd95_mm", "volume_error_ml", "ratio_error_pct")
# The EMIDEC challenge's metrics, (class, metric) in the order its leaderboard gives them.
EMIDEC_METRICS = (("myocardium", "dice"), ("myocardium", "volume_error_ml"), ("infarct", "dice"),
                  ("infarct", "volume_error_ml"), ("infarct", "ratio_error_pct"), ("mvo", "dice"),
                  ("mvo", "volume_error_ml"), ("mvo", "ratio_error_pct"))
EMIDEC_NAMES = {"mvo": "no-reflow"}  # the challenge's name of a class, where it differs from CLAIM's


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
        "ratio_error_pct": float("nan"),
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
    }


def class_mask(case, name: str) -> np.ndarray:
    """The mask of a class of ``CLASSES``: ``infarct`` is the scar without its MVO (EMIDEC's label 3)."""
    if name == "infarct":
        return case.mask("scar") & ~case.mask("mvo")
    return case.mask(name)


def case_metrics(pred_case, truth_case) -> dict:
    """Metrics of every class present in either scheme, for two Cases on one grid. The lesion classes carry
    ``ratio_error_pct``, their volume difference over the true myocardium's volume (nan when that is empty)."""
    g = truth_case.geometry
    spacing = tuple(np.asarray(g.spacing)[::-1])
    myocardium_ml = truth_case.volume_ml("myocardium")
    out = {}
    for c in CLASSES:
        source = "scar" if c == "infarct" else c
        if source in truth_case.masks or source in pred_case.masks:
            m = binary_metrics(class_mask(pred_case, c), class_mask(truth_case, c), spacing, g.voxel_volume_ml)
            if c in LESIONS and myocardium_ml > 0:
                m["ratio_error_pct"] = 100.0 * m["volume_error_ml"] / myocardium_ml
            out[c] = m
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
