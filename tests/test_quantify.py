"""Per-segment quantification: sums, transmurality on built scars, MVO, CSV."""
import csv
import io

import numpy as np
import pytest

from CLAIMLib.aha import aha_segments
from CLAIMLib.phantom import case_rng, generate_case
from CLAIMLib.quantify import COLUMNS, quantify, to_csv


def _case(pattern, extent=1.0, seed=4):
    return generate_case(case_rng(seed, 0), "Q", True,
                         scar={"territory": "LAD", "pattern": pattern, "extent": extent, "mvo": False,
                               "angle_width": 35, "z_width": 0.3})


def _table(c):
    myo = c.labels >= 2
    r = aha_segments(myo, c.labels == 1, c.geometry, rv=c.rv)
    return quantify(r.labels, myo, c.labels >= 3, c.geometry, mvo=c.labels == 4, cavity=c.labels == 1)


def test_sums_match_totals():
    c = generate_case(case_rng(8, 1), "S", True, scar={"mvo": True, "extent": 1.0})
    t = _table(c)
    rows, tot = t["segments"], t["totals"]
    assert len(rows) == 17
    vox = c.geometry.voxel_volume_ml
    assert sum(r["myocardium_ml"] for r in rows) == pytest.approx(tot["myocardium_ml"], rel=1e-3)
    assert sum(r["scar_ml"] for r in rows) == pytest.approx(tot["scar_ml"], rel=1e-3)
    assert tot["myocardium_ml"] == pytest.approx(np.count_nonzero(c.labels >= 2) * vox)
    assert tot["scar_ml"] == pytest.approx(np.count_nonzero(c.labels >= 3) * vox)
    assert sum(r["mvo_ml"] for r in rows) == pytest.approx(np.count_nonzero(c.labels == 4) * vox)
    assert tot["unlabelled_myocardium_ml"] == 0
    for r in rows:
        if r["myocardium_ml"]:
            assert r["scar_percent"] == pytest.approx(100 * r["scar_ml"] / r["myocardium_ml"])


def test_transmural_scar_is_1():
    t = _table(_case("transmural"))
    scarred = [r for r in t["segments"] if r["scar_ml"] > 0.5]
    assert scarred
    assert max(r["transmurality_max"] for r in scarred) == pytest.approx(1.0)
    assert np.average([r["transmurality_mean"] for r in scarred], weights=[r["scar_ml"] for r in scarred]) > 0.9


def test_subendocardial_half_thickness_is_under_half():
    t = _table(_case("subendocardial", 0.5))
    scarred = [r for r in t["segments"] if r["scar_ml"] > 0.2]
    assert scarred
    for r in scarred:
        assert r["transmurality_mean"] < 0.5
    # scar sits in the LAD territory
    lad = sum(r["scar_ml"] for r in t["segments"] if r["territory"] == "LAD")
    assert lad / t["totals"]["scar_ml"] > 0.8


def test_no_scar():
    c = generate_case(case_rng(2, 0), "N", False)
    t = _table(c)
    assert t["totals"]["scar_ml"] == 0 and all(r["transmurality_max"] == 0 for r in t["segments"])


def test_csv():
    t = _table(_case("transmural"))
    rows = list(csv.DictReader(io.StringIO(to_csv(t))))
    assert tuple(rows[0].keys()) == COLUMNS
    assert [r["segment"] for r in rows] == [str(s) for s in range(1, 18)] + ["total"]
    assert rows[0]["name"] == "basal anterior" and rows[16]["name"] == "apex"
    assert float(rows[-1]["scar_ml"]) == pytest.approx(t["totals"]["scar_ml"], abs=1e-4)
