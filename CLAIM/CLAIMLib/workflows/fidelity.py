"""Synthesis fidelity (``claim evaluate-synthesis``): repaint each case's own scar and MVO and compare the result with
the real voxels (``fidelity``), beside the two fills a generator must beat; per case, pooled, a CSV and a figure.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

METHODS = ("generator", "generator_own", "remote_fill", "mean_fill")
TITLES = {"generator": "generator, bank histogram", "generator_own": "generator, own histogram",
          "remote_fill": "remote-myocardium fill", "mean_fill": "mean-brightness fill"}


def own_histogram(case, config: dict) -> np.ndarray:
    """The case's own lesion (scar and MVO) intensity histogram in the generator's [-1, 1] units."""
    from ..diffusion.data import histogram, normalisation_for

    norm = normalisation_for(case.float_image, case.myocardium, case.geometry)
    return histogram(norm.forward(case.float_image[case.mask("scar") | case.mask("mvo")]))


def training_brightness(bundle, case) -> tuple[float, float]:
    """The training scars' mean brightness over remote myocardium and their SD, in the case's own units: what the
    mean-brightness fill paints."""
    from ..diffusion.data import normalisation_for

    norm = normalisation_for(case.float_image, case.myocardium, case.geometry)
    remote = case.myocardium & ~case.mask("scar")
    level = float(norm.forward(case.float_image[remote].mean())) + float(bundle.stats.get("scar_minus_remote_norm", 0))
    sd = float(bundle.stats.get("scar_std_norm", 0.15)) * (norm.hi - norm.lo) / 2
    return float(norm.inverse(level)), sd


def _repaint(bundle, case, index: int, seed: int, options: dict) -> dict:
    """The case's scar region painted four ways (``METHODS``), as float images."""
    from ..fidelity import mean_fill, remote_fill
    from .synthesis import synthesize_case

    scar, mvo = case.mask("scar"), case.mask("mvo")
    own = {**options, "brightness": None, "histogram": own_histogram(case, bundle.config)}
    rng = np.random.default_rng([seed, index])
    mean, sd = training_brightness(bundle, case)
    return {"generator": synthesize_case(bundle, case, scar, mvo, seed=seed, **options).image,
            "generator_own": synthesize_case(bundle, case, scar, mvo, seed=seed, **own).image,
            "remote_fill": remote_fill(rng, case.float_image, case.myocardium, scar),
            "mean_fill": mean_fill(rng, case.float_image, scar, mean, sd)}


def _panel(case, images: dict, remote) -> dict:
    """The slice with the most scar, for the figure."""
    scar = case.mask("scar")
    k = int(np.argmax(scar.reshape(scar.shape[0], -1).sum(axis=1)))
    return {"case_id": case.case_id, "real": case.float_image[k], "scar": scar[k], "myocardium": case.myocardium[k],
            "images": {m: np.asarray(im, np.float64)[k] for m, im in images.items()}, "remote": remote}


def evaluate_synthesis(bundle, cases, seed: int = 0, max_figure_cases: int = 4, **options) -> dict:
    """Fidelity of the generator ``bundle`` on cases with real scars: per case and method (``METHODS``) the
    ``fidelity.compare`` metrics, pooled medians per method, the cases skipped (no scar) and the figure's panels.
    ``options``: ``diffusion.sample.synthesis_options`` (sampler, steps, brightness ...)."""
    from ..fidelity import METRICS, MIN_VOXELS, compare, pooled, scar_statistics, units
    from ..progress import track

    rows, panels, skipped = [], [], []
    for index, case in enumerate(track(list(cases), stage="evaluating synthesis")):
        scar, mvo, cavity = case.mask("scar"), case.mask("mvo"), case.mask("cavity")
        if case.image is None or np.count_nonzero(scar & ~mvo) < MIN_VOXELS:
            skipped.append(case.case_id)
            continue
        remote = units(case.float_image, case.myocardium, scar)
        real = scar_statistics(case.float_image, scar, mvo, cavity, remote)
        images = _repaint(bundle, case, index, seed, options)
        for method, image in images.items():
            got = compare(real, scar_statistics(image, scar, mvo, cavity, remote))
            rows.append({"case_id": case.case_id, "method": method, "real_scar_cnr": real["scar_cnr"],
                         "real_texture": real["texture"], **got})
        if len(panels) < max_figure_cases:
            panels.append(_panel(case, images, remote))
    if not rows:
        raise InputError("--cases", "holds no case with an image and a scar to repaint")
    pool = {m: pooled([r for r in rows if r["method"] == m]) for m in METHODS}
    beats = {key: all(pool["generator_own"][key] is not None and pool[b][key] is not None
                      and pool["generator_own"][key] < pool[b][key] for b in ("remote_fill", "mean_fill"))
             for key in METRICS if key != "mvo_cnr_error"}
    return {"cases": rows, "pooled": pool, "own_histogram_beats_both_fills": beats, "skipped": skipped,
            "synthesis": {k: v for k, v in options.items() if k in ("sampler", "steps", "brightness")},
            "seed": seed, "panels": panels}


def format_fidelity(result: dict) -> str:
    """The pooled table (median |error| over cases) as text."""
    from ..fidelity import METRICS

    head = ["method"] + [k for k in METRICS]
    lines = ["  ".join(f"{h:>16}" for h in head)]
    for m in METHODS:
        p = result["pooled"][m]
        lines.append("  ".join([f"{TITLES[m]:>16.16}"] + [f"{p[k]:16.3f}" if p[k] is not None else f"{'-':>16}"
                                                       for k in METRICS]))
    return "\n".join(lines)


def write_fidelity(result: dict, out) -> Path:
    """``out``/fidelity.json, fidelity.csv (a row per case and method) and fidelity.png (real and repainted scars
    side by side, with difference maps), written as a whole."""
    import csv
    import io
    import json

    from ..figures import fidelity_figure
    from ..fidelity import METRICS
    from ..io import atomic_dir

    out = Path(out)
    fields = ["case_id", "method", "real_scar_cnr", "real_texture", "scar_cnr", "texture", *METRICS]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(result["cases"])
    with atomic_dir(out) as tmp:
        (tmp / "fidelity.csv").write_text(buf.getvalue())
        (tmp / "fidelity.json").write_text(json.dumps({k: v for k, v in result.items() if k != "panels"}, indent=1,
                                                      default=float))
        fidelity_figure(result["panels"], tmp / "fidelity.png", TITLES)
    return out
