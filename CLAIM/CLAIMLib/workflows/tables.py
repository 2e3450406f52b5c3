"""Per-segment scar tables and bull's-eye figures: one case, and ground truth against predictions."""
from __future__ import annotations

from pathlib import Path


def scar_table(case, aha_labels, scar=None, mvo=None) -> dict:
    """``quantify`` table (17 rows and totals) of a scar on a case: the case's own scar and MVO unless given."""
    from ..quantify import quantify

    if scar is None:
        scar, mvo = case.masks.get("scar"), case.masks.get("mvo")
    return quantify(aha_labels, case.myocardium, scar, case.geometry, mvo=mvo, cavity=case.masks.get("cavity"))


def scar_title(name: str, table: dict) -> str:
    t = table["totals"]
    return f"{name}: scar {t['scar_ml']:.1f} mL ({t['scar_percent']:.0f}% of LV myocardium)"


def case_bullseye(case, aha_labels, path, scar=None, mvo=None, name: str | None = None,
                  title: str | None = None) -> dict:
    """Quantify a scar on a case (``scar_table``) and draw its bull's-eyes (scar mL, % of segment, mean
    transmurality) to ``path`` (.png or .svg); returns the table. The title names ``name`` (default: the case)."""
    from ..bullseye import plot, scar_panels

    table = scar_table(case, aha_labels, scar, mvo)
    plot(scar_panels(table), Path(path), suptitle=title or scar_title(name or case.case_id, table))
    return table


def comparison_tables(pairs) -> tuple[list, list]:
    """Per-segment scar tables of (truth case, predicted case) pairs, both on the truth's AHA segments (found
    with ``case_aha`` from the truth's own labels, RV and image): (truth tables, prediction tables)."""
    from ..quantify import quantify
    from .aha import case_aha

    truths, preds = [], []
    for truth, pred in pairs:
        aha = case_aha(truth).labels
        truths.append(quantify(aha, truth.myocardium, truth.mask("scar"), truth.geometry))
        preds.append(quantify(aha, truth.myocardium, pred.mask("scar"), truth.geometry))
    return truths, preds


def comparison_bullseye(truth_tables: list, predictions, path, title: str | None = None) -> Path:
    """Mean scar volume per segment over cases: ground truth, prediction(s) and their differences.

    ``predictions``: the prediction tables of the same cases, or {name: tables} for several settings.
    """
    from ..bullseye import comparison_panels, plot
    from ..quantify import mean_table

    named = isinstance(predictions, dict)
    mean = {k: mean_table(v) for k, v in predictions.items()} if named else mean_table(predictions)
    panels = comparison_panels(mean_table(truth_tables), mean)
    n = len(truth_tables)
    return plot(panels, Path(path), ncols=len(predictions) + 1 if named else None,
                suptitle=title or f"Mean scar volume per segment over {n} case{'s' if n != 1 else ''}")
