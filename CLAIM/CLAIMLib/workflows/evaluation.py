"""Evaluate predictions against the ground truth: match label maps by case name, on either side as a flat folder
of label maps (as nnU-Net's evaluation and most challenge scripts expect) or any case layout CLAIM reads, and say
per case which could not be scored and why."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError


@dataclass
class Matched:
    """Pairs (truth case, predicted case) matched by case id, and the cases left out: (name, problem) each."""

    pairs: list = field(default_factory=list)
    unscored: list = field(default_factory=list)


def label_files(folder) -> dict:
    """{case id: label map path} of a folder: the label maps of any case layout ``io.discover_cases`` knows
    (EMIDEC, nnU-Net raw, MyoPS, pairs), or else every volume file in it, named by its file name."""
    from ..io import discover_cases, stem, volume_suffix

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "no such folder" if not folder.exists() else "is a file; expected a folder")
    try:
        found = {f.case_id: f.labels for f in discover_cases(folder) if f.labels is not None}
    except InputError:
        found = {}
    if found:
        return found
    files = {stem(p): p for p in sorted(folder.iterdir())
             if p.is_file() and volume_suffix(p) and not p.name.startswith(".")}
    if not files:
        raise InputError(folder, "holds no label map (NIfTI, NRRD, MetaImage or .seg.nrrd) and no case layout")
    return files


def match_predictions(pred_dir, gt_dir, scheme=None, truths: dict | None = None) -> Matched:
    """Predictions of ``pred_dir`` against the truth in ``gt_dir``, matched by name. A prediction without a truth,
    a truth without a prediction and a prediction on another grid are named in ``unscored``; InputError when no
    pair is left. ``truths``: a dict of truth Cases already read (filled here), shared by several prediction sets."""
    from ..io import CaseFiles, load_case, read_labels
    from ..labels import case_from_arrays

    preds, gts = label_files(pred_dir), label_files(gt_dir)
    truths = {} if truths is None else truths
    out = Matched()
    for cid in sorted(set(preds) - set(gts)):
        out.unscored.append((str(preds[cid]), f"no ground truth named '{cid}' in {gt_dir}"))
    for cid in sorted(set(gts) - set(preds)):
        out.unscored.append((str(gts[cid]), f"no prediction named '{cid}' in {pred_dir}"))
    for cid in sorted(set(preds) & set(gts)):
        truth = truths.get(cid) or truths.setdefault(cid, load_case(CaseFiles(cid, None, gts[cid]), scheme))
        array, geometry, file_scheme = read_labels(preds[cid])
        diffs = geometry.differences(truth.geometry)
        if diffs:
            out.unscored.append((str(preds[cid]), f"not on the ground truth's grid ({'; '.join(diffs)})"))
            continue
        out.pairs.append((truth, case_from_arrays(cid, None, array, geometry, file_scheme or truth.scheme,
                                                  labels_source=preds[cid], allow_empty=True)))
    if not out.pairs:
        why = f"; {out.unscored[0][0]}: {out.unscored[0][1]}" if out.unscored else ""
        raise InputError(pred_dir, f"no prediction could be scored against {gt_dir}{why}")
    return out


def evaluate_pairs(pairs) -> dict:
    """Metrics of (truth case, predicted case) pairs: per case, as CSV rows, and aggregated (all cases, and the
    pathological ones alone). Every class carries the paper's metrics and the EMIDEC challenge's
    (``segmentation.metrics``)."""
    from ..segmentation.metrics import aggregate, case_metrics, metric_rows

    per_case, rows, pathological = [], [], []
    for truth, pred in pairs:
        m = case_metrics(pred, truth)
        per_case.append(m)
        rows += metric_rows(truth.case_id, m)
        if truth.mask("scar").any():
            pathological.append(m)
    return {"per_case": per_case, "rows": rows, "all": aggregate(per_case),
            "pathological": aggregate(pathological) if pathological else {}}
