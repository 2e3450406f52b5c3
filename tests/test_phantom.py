"""The LGE phantom: deterministic, anatomically consistent, with complete ground truth."""
import json

import numpy as np
import pytest
from scipy import ndimage

from CLAIMLib.aha import TERRITORIES
from CLAIMLib.io import discover_cases, load_case, read_volume
from CLAIMLib.longaxis import detect_slice_order
from CLAIMLib.phantom import case_rng, cohort_plan, generate_case, generate_cohort


@pytest.fixture(scope="module")
def cohort():
    return list(generate_cohort(16, seed=3, normal_fraction=0.25))


def test_deterministic_for_a_seed():
    a = generate_case(case_rng(5, 2), "A", True)
    b = generate_case(case_rng(5, 2), "A", True)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.aha, b.aha) and a.geometry == b.geometry and a.truth == b.truth
    c = generate_case(case_rng(6, 2), "A", True)
    assert c.geometry != a.geometry or not np.array_equal(c.labels, a.labels)


def test_case_does_not_depend_on_cohort_size():
    small = list(generate_cohort(2, seed=9, normal_fraction=0.0))
    large = list(generate_cohort(4, seed=9, normal_fraction=0.0))
    assert np.array_equal(small[1].image, large[1].image)


def test_normal_fraction():
    plan = cohort_plan(10, seed=1, normal_fraction=0.3)
    assert sum(1 for _, p in plan if not p) == 3
    assert all(cid.startswith("Phantom_N") != p for cid, p in plan)


def test_geometry_ranges(cohort):
    orders = set()
    for c in cohort:
        n, ny, nx = c.geometry.shape
        sx, sy, sz = c.geometry.spacing
        assert 6 <= n <= 12
        assert 1.25 <= sx <= 2.0 and sx == sy
        assert 8.0 <= sz <= 13.0
        d = c.geometry.direction_matrix
        assert np.allclose(d @ d.T, np.eye(3), atol=1e-9) and np.linalg.det(d) == pytest.approx(1.0)
        assert not np.allclose(np.abs(d), np.eye(3), atol=1e-3)  # oblique, like real short-axis planes
        orders.add(c.truth["slice_order"])
        assert 6.0 <= c.truth["wall_thickness_mm"] <= 12.0
    assert orders == {"apex-first", "base-first"}
    rotations = np.sort([c.truth["in_plane_rotation_deg"] for c in cohort])
    assert rotations[-1] - rotations[0] > 180  # random in-plane rotation


def test_labels_consistent(cohort):
    for c in cohort:
        lab = c.labels
        assert set(np.unique(lab)) <= {0, 1, 2, 3, 4}
        myo, scar, mvo = lab >= 2, lab >= 3, lab == 4
        assert myo.any() and (lab == 1).any()
        assert np.all(scar <= myo) and np.all(mvo <= scar)
        if c.truth["pathological"]:
            assert c.truth["scar"]["volume_ml"] >= 2.0
            assert np.any(lab == 3)  # MVO never replaces the whole scar
        else:
            assert not scar.any()
        assert not np.any(c.rv & (lab > 0))  # the RV blood pool is outside the LV


def test_aha_ground_truth_covers_the_myocardium(cohort):
    for c in cohort:
        myo = c.labels >= 2
        assert np.array_equal(c.aha > 0, myo)
        assert c.aha.max() <= 17
        present = set(np.unique(c.aha[myo]).tolist())
        assert set(range(1, 17)) <= present  # every ring sector is sampled


def test_aha_sectors_follow_the_septum(cohort):
    """Segment 2/3/8/9 (septal) voxels lie toward the recorded septum direction, 5/6/11/12 away from it."""
    for c in cohort:
        g = c.geometry
        septum = np.asarray(c.truth["septum_direction"])
        anterior = np.asarray(c.truth["anterior_direction"])
        myo_pts = g.index_to_physical(np.argwhere(c.aha > 0))
        centre = myo_pts.mean(axis=0)
        for segs, sign, axis in (((2, 3, 8, 9), 1, septum), ((5, 6, 11, 12), -1, septum),
                                 ((1, 7), 1, anterior), ((4, 10), -1, anterior)):
            pts = g.index_to_physical(np.argwhere(np.isin(c.aha, segs)))
            assert sign * ((pts - centre) @ axis).mean() > 5.0, (c.case_id, segs)


def test_rv_lies_against_the_septum(cohort):
    for c in cohort:
        g = c.geometry
        lv = g.index_to_physical(np.argwhere(c.labels >= 1)).mean(axis=0)
        rv = g.index_to_physical(np.argwhere(c.rv)).mean(axis=0)
        v = rv - lv
        v -= v @ np.asarray(c.truth["stack_base_to_apex"]) * np.asarray(c.truth["stack_base_to_apex"])
        cos = v @ np.asarray(c.truth["septum_direction"]) / np.linalg.norm(v)
        assert cos > np.cos(np.deg2rad(25)), c.case_id


def test_scars_follow_their_territory(cohort):
    sick = [c for c in cohort if c.truth["pathological"]]
    assert len(sick) >= 8
    for c in sick:
        per_seg = {int(k): v for k, v in c.truth["scar"]["volume_ml_per_segment"].items()}
        inside = sum(v for s, v in per_seg.items() if s in TERRITORIES[c.truth["scar"]["territory"]])
        assert inside / sum(per_seg.values()) > 0.5, c.case_id
        assert set(c.truth["scar"]["segments"]) <= set(per_seg)


def test_scars_grow_from_the_endocardium(cohort):
    """Every scarred slice region touches the cavity: ischaemic scars start subendocardially."""
    for c in (c for c in cohort if c.truth["pathological"]):
        scar = c.labels >= 3
        in_plane = np.zeros((3, 3, 3), bool)
        in_plane[1] = True
        near_cavity = ndimage.binary_dilation(c.labels == 1, in_plane)
        lab, n = ndimage.label(scar, in_plane)
        sizes = ndimage.sum(scar, lab, range(1, n + 1))
        touching = ndimage.maximum(near_cavity, lab, range(1, n + 1))
        assert sizes[np.asarray(touching, bool)].sum() >= 0.9 * sizes.sum(), c.case_id


def test_lge_contrast(cohort):
    for c in cohort:
        img, lab = c.image, c.labels
        blood, myo = np.median(img[lab == 1]), np.median(img[lab == 2])
        assert blood > 4 * myo  # bright blood, nulled myocardium
        if (lab == 3).any():
            assert np.median(img[lab == 3]) > 4 * myo
        in_plane = np.zeros((3, 3, 3), bool)
        in_plane[1] = True
        core = ndimage.binary_erosion(lab == 4, in_plane)
        if core.sum() > 5:
            assert np.median(img[core]) < 0.5 * np.median(img[lab == 3])  # dark MVO core
        assert img.min() >= 0 and img.max() <= 4095 and np.all(img == np.round(img))
        # Rician noise: the background is not exactly zero
        assert np.mean(img[:, :3, :3] > 0) > 0.5


def test_slice_order_of_phantoms_is_detected(cohort):
    for c in cohort:
        found = detect_slice_order(c.labels >= 2, c.labels == 1, c.geometry)
        assert found.order == c.truth["slice_order"], c.case_id
        assert np.dot(found.base_to_apex, c.truth["stack_base_to_apex"]) > 0.99


def test_written_cohort_reads_back(phantom_cohort):
    out, cases = phantom_cohort
    found = discover_cases(out)
    assert [f.case_id for f in found] == sorted(c.case_id for c in cases)
    for files, c in zip(found, sorted(cases, key=lambda c: c.case_id)):
        case = load_case(files)
        assert case.geometry.differences(c.geometry) == []
        assert np.array_equal(case.mask("scar"), c.labels >= 3)
        assert np.array_equal(case.image, c.image.astype(np.float32))
        aha, g = read_volume(out / c.case_id / "GroundTruth" / f"{c.case_id}_aha.nii.gz")
        assert np.array_equal(aha, c.aha) and g.differences(c.geometry) == []
        truth = json.loads((out / c.case_id / f"{c.case_id}.json").read_text())
        assert truth["slice_order"] in ("apex-first", "base-first")
        for key in ("septum_direction", "spacing_mm", "rv_insertion_points", "level_boundaries_mm"):
            assert key in truth
        assert "segments" in truth["scar"]
        labels, _ = read_volume(out / c.case_id / "Contours" / f"{c.case_id}.nii.gz")
        assert labels.dtype == np.float64  # like EMIDEC
