"""Classic scar quantification of a case (``scar``): remote myocardium, a threshold method, MVO and gray zone, the
per-segment table, the sensitivity band; and its outputs (label map, gray zone, JSON, CSV, bull's-eye, HTML).

Only the case's whole myocardium (and cavity, RV) is used: scar labels already in the case are ignored, so a case
with its truth's scar gives the result the same case without it gives.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


@dataclass
class ScarResult:
    """A case quantified: its EMIDEC label map (1 cavity, 2 myocardium, 3 scar, 4 MVO), gray zone (or None), the
    per-segment table, the AHA labels and the record (method, thresholds, remote region, totals, sensitivity)."""

    case_id: str
    geometry: object
    labels: np.ndarray
    gray_zone: np.ndarray | None
    table: dict
    aha: object  # aha.AHAResult
    record: dict

    @property
    def scar(self) -> np.ndarray:
        return self.labels >= 3

    @property
    def mvo(self) -> np.ndarray:
        return self.labels == 4

    def case(self):
        """The result as a Case (for ``claim evaluate`` and the metrics)."""
        from ..labels import EMIDEC, case_from_arrays

        return case_from_arrays(self.case_id, None, self.labels, self.geometry, EMIDEC, allow_empty=True)


def myocardium_only(case):
    """The case with its scar and MVO folded into the myocardium (the labels' scar is never used)."""
    masks = {k: v for k, v in case.masks.items() if k not in ("scar", "mvo")}
    return case.with_image(case.image, masks=masks)


def quantify_scar(case, method="fwhm", remote_segments=None, remote_mask=None, gray_zone=None,
                  min_size_ml: float | None = None, endocardial_only: bool = False, seed_point=None, rv_points=(),
                  aha=None, sensitivity: bool = True, source=None) -> ScarResult:
    """Threshold scar on a case's LGE image, relative to its remote myocardium (``scar`` module).

    ``method``: "fwhm", "otsu", "nsd:N" or a ``scar.Method``; ``remote_segments``: AHA numbers, or
    ``remote_mask`` (bool array), else automatic; ``gray_zone``: None, "" (the method's default levels), "LO:HI" or
    a (lo, hi) pair; ``seed_point``: an index (k, j, i) inside the enhanced region (FWHM); ``aha``: the case's
    ``aha.AHAResult`` when already computed (else from its RV, ``rv_points`` or image). ``source`` names the case in
    errors (default: its label file).
    """
    from .. import scar as core
    from ..labels import EMIDEC
    from ..quantify import quantify
    from .aha import case_aha

    t0 = time.perf_counter()
    source = source or case.sources.get("labels") or case.case_id
    if case.image is None:
        raise InputError(source, "scar quantification needs the LGE image (--image)")
    method = method if isinstance(method, core.Method) else core.parse_method(method)
    if gray_zone is not None and not isinstance(gray_zone, tuple):
        gray_zone = core.parse_gray_zone(gray_zone, method)
    min_size_ml = core.MIN_SIZE_ML if min_size_ml is None else float(min_size_ml)
    if min_size_ml < 0:
        raise InputError("--min-size-ml", f"must not be negative (got {min_size_ml:g})")
    plain = myocardium_only(case)
    if aha is None:
        aha = case_aha(plain, rv_points=rv_points, labels_source=source)
    image, myo, cavity, geometry = plain.float_image, plain.myocardium, plain.masks.get("cavity"), plain.geometry
    if remote_mask is not None and np.asarray(remote_mask).shape != myo.shape:
        raise InputError("remote mask", f"shape {np.asarray(remote_mask).shape} is not the image's {myo.shape}")
    remote = core.remote_region(image, myo, aha.labels, geometry, segments=remote_segments, mask=remote_mask,
                                source=("remote mask" if remote_mask is not None else
                                        "--remote-segments" if remote_segments else source))
    masks = core.threshold_scar(image, myo, cavity, remote, method, geometry, gray_zone, min_size_ml,
                                endocardial_only, seed_point)
    labels = EMIDEC.encode({"cavity": cavity, "myocardium": myo, "scar": masks.scar, "mvo": masks.mvo},
                           geometry.shape)
    table = quantify(aha.labels, myo, masks.scar, geometry, mvo=masks.mvo, cavity=cavity,
                     gray_zone=masks.gray_zone, long_axis=aha.axis)
    totals = dict(table["totals"])
    totals["gray_zone_percent"] = (100.0 * totals["gray_zone_ml"] / totals["myocardium_ml"]
                                   if totals["myocardium_ml"] else 0.0)
    band = core.burden_ml(image, myo, cavity, remote, geometry, min_size_ml=min_size_ml,
                          endocardial_only=endocardial_only) if sensitivity else []
    record = {"case_id": case.case_id, **masks.record, "remote": {**remote.to_dict(), "description": remote.describe()},
              "min_size_ml": min_size_ml, "endocardial_only": bool(endocardial_only),
              "totals": totals, "sensitivity": band, "orientation": aha.orientation.to_dict(),
              "seconds": round(time.perf_counter() - t0, 4)}
    return ScarResult(case.case_id, geometry, labels, masks.gray_zone, table, aha, record)


def gray_zone_path(out) -> Path:
    """Where the gray zone of a label map ``out`` is written: ``<stem>_grayzone<suffix>`` beside it."""
    from ..io import stem, volume_suffix

    out = Path(out)
    return out.with_name(f"{stem(out)}_grayzone{volume_suffix(out) or '.nii.gz'}")


def scar_figure(result: ScarResult, path) -> Path:
    """The bull's-eyes of a result: scar % of segment, mean transmurality, and gray zone or MVO (mL)."""
    from ..bullseye import plot, scar_panels

    panels = scar_panels(result.table)[1:]
    extra = "gray_zone_ml" if result.gray_zone is not None else "mvo_ml"
    absent = {r["segment"] for r in result.table["segments"] if r["myocardium_ml"] == 0}
    panels.append({"values": {r["segment"]: (np.nan if r["segment"] in absent else r[extra])
                              for r in result.table["segments"]},
                   "title": "gray zone volume" if extra == "gray_zone_ml" else "MVO volume", "unit": "mL",
                   "fmt": "{:.2f}", "vmin": 0, "cmap": "Purples" if extra == "gray_zone_ml" else "Blues"})
    t = result.record["totals"]
    return plot(panels, Path(path), suptitle=f"{result.case_id}: {result.record['method']}, scar "
                                             f"{t['scar_ml']:.1f} mL ({t['scar_percent']:.0f}% of LV myocardium)")


def write_scar_outputs(result: ScarResult, out=None, json_path=None, csv_path=None, report=None,
                       bullseye=None, record_extra: dict | None = None) -> list[Path]:
    """Write the outputs asked for (label map ``out`` and its gray zone beside it, JSON, CSV, bull's-eye PNG or
    SVG, one-page HTML report); the figure is drawn once. Every file is written atomically (``outputs``); returns
    their paths."""
    import tempfile

    from ..io import write_bytes, write_json, write_text, write_volume
    from ..quantify import to_csv
    from ..scar_report import html_report

    svg_wanted = bullseye is not None and str(bullseye).lower().endswith(".svg")
    png = svg = None
    if report is not None or bullseye is not None:
        with tempfile.TemporaryDirectory(prefix="claim-scar-") as tmp:
            png = scar_figure(result, Path(tmp) / "bullseye.png").read_bytes()
            if svg_wanted:  # drawn again as vector art
                svg = scar_figure(result, Path(tmp) / "bullseye.svg").read_bytes()
    record = {**(record_extra or {}), **result.record}
    jobs = []  # (path, writer): everything is ready before the first file is written
    if out is not None:
        jobs.append((out, lambda p: write_volume(p, result.labels, result.geometry, np.uint8)))
        if result.gray_zone is not None:
            jobs.append((gray_zone_path(out), lambda p: write_volume(p, result.gray_zone, result.geometry, np.uint8)))
    if json_path is not None:
        jobs.append((json_path, lambda p: write_json(p, {**record, "segments": result.table["segments"]})))
    if csv_path is not None:
        jobs.append((csv_path, lambda p: write_text(p, to_csv(result.table))))
    if bullseye is not None:
        jobs.append((bullseye, lambda p: write_bytes(p, svg if svg_wanted else png)))
    if report is not None:
        text = html_report(record, result.table, png)
        jobs.append((report, lambda p: write_text(p, text)))
    for path, writer in jobs:  # under the CLI, renamed into place together when the command succeeds
        writer(path)
    return [Path(path) for path, _ in jobs]
