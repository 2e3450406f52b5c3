"""The LGE phantom: deterministic, anatomically consistent, with complete ground truth, and reading like real LGE."""
import ast
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from CLAIMLib.aha import TERRITORIES
from CLAIMLib.io import discover_cases, load_case, read_volume
from CLAIMLib.longaxis import detect_slice_order
from CLAIMLib.lgestats import cohort_medians, label_statistics
from CLAIMLib.phantom import case_rng, cohort_plan, generate_case, generate_cohort, write_case

# Real EMIDEC cases (P100 pathological, N006 normal), with the same statistics (CLAIMLib.lgestats); the clinical
# phantom's medians must lie between them, with a 25% margin (bench/bench_phantom.py prints both side by side).
EMIDEC_RANGE = {"blood_cnr": (0.864, 2.577), "scar_cnr": (2.507, 2.507), "roughness": (0.368, 0.446)}


@pytest.fixture(scope="module")
def cohort():
    return list(generate_cohort(20, seed=3, normal_fraction=0.25))


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
        short = c.truth["n_slices"] <= 3  # a quick protocol's basal / mid / apical slices, a third of the LV apart
        assert 2 <= n <= 3 if short else 6 <= n <= 14
        assert 1.25 <= sx <= 2.0 and sx == sy
        assert 6.0 <= sz <= 13.0 or short
        d = c.geometry.direction_matrix
        assert np.allclose(d @ d.T, np.eye(3), atol=1e-9) and np.linalg.det(d) == pytest.approx(1.0)
        assert not np.allclose(np.abs(d), np.eye(3), atol=1e-3)  # oblique, like real short-axis planes
        orders.add(c.truth["slice_order"])
        assert 7.0 <= c.truth["wall_thickness_mm"] <= 12.0
        assert c.truth["apical_wall_thickness_mm"] < c.truth["wall_thickness_mm"]  # thinner apex
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
        if c.truth["n_slices"] >= 6:
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


def _medians(cases):
    stats = [label_statistics(c.image, c.labels) for c in cases]
    return cohort_medians(stats), stats


def test_clinical_contrast_reads_like_real_lge(cohort):
    """Acceptance: blood CNR, scar CNR and roughness medians between EMIDEC's values (25% margin), and spread."""
    medians, stats = _medians(cohort)
    for key, (lo, hi) in EMIDEC_RANGE.items():
        assert 0.75 * lo <= medians[key] <= 1.25 * hi, (key, medians[key])
    blood = [s["blood_cnr"] for s in stats]
    assert min(blood) < 1.4 and max(blood) > 2.2  # cases vary from N006-like to P100-like
    for c in cohort:
        img, lab = c.image, c.labels
        assert np.median(img[lab == 1]) > np.median(img[lab == 2])  # blood brighter than the myocardium
        assert img.min() >= 0 and img.max() <= 4095 and np.all(img == np.round(img))
        assert np.mean(img[:, :3, :3] > 0) > 0.5  # Rician noise: the background is not exactly zero


def test_emidec_values_are_what_lgestats_measures(emidec):
    """The EMIDEC numbers the clinical phantom is held to are measured here, not copied."""
    from CLAIMLib.lgestats import case_statistics

    for name, key in (("Case_P100", 1), ("Case_N006", 0)):
        (files,) = discover_cases(emidec / name)
        s = case_statistics(load_case(files))
        assert s["blood_cnr"] == pytest.approx(EMIDEC_RANGE["blood_cnr"][key], abs=0.01)
        assert s["roughness"] == pytest.approx(EMIDEC_RANGE["roughness"][key], abs=0.01)
        if name == "Case_P100":
            assert s["scar_cnr"] == pytest.approx(EMIDEC_RANGE["scar_cnr"][0], abs=0.01)


def test_easy_is_the_same_heart_with_conspicuous_contrast(cohort):
    easy = [generate_case(case_rng(3, i), c.case_id, c.truth["pathological"], difficulty="easy")
            for i, c in enumerate(cohort[:8])]
    for e, c in zip(easy, cohort):
        assert np.array_equal(e.labels, c.labels) and np.array_equal(e.aha, c.aha) and e.geometry == c.geometry
    medians, _ = _medians(easy)
    clinical, _ = _medians(cohort[:8])
    assert medians["blood_cnr"] > 2 * clinical["blood_cnr"] and medians["scar_cnr"] > clinical["scar_cnr"]
    # after background subtraction scar and blood stand out 3-4x more (partial volume caps the CNR near 5)
    assert medians["scar_remote"] > 2 * clinical["scar_remote"] and medians["blood_remote"] > 2 * clinical["blood_remote"]
    for c in easy:
        img, lab = c.image, c.labels
        assert np.median(img[lab == 1]) > 3 * np.median(img[lab == 2])  # bright blood, nulled myocardium
        if (lab == 3).any():
            assert np.median(img[lab == 3]) > 3 * np.median(img[lab == 2])
        core = ndimage.binary_erosion(lab == 4, _IN_PLANE)
        if core.sum() > 5:
            assert np.median(img[core]) < 0.5 * np.median(img[lab == 3])  # dark MVO core


_IN_PLANE = np.zeros((3, 3, 3), bool)
_IN_PLANE[1] = True


def test_texture_is_spatially_correlated(cohort):
    """Real LGE texture is correlated from voxel to voxel (roughness ~0.4); independent noise gives ~1.1."""
    for c in cohort:
        s = label_statistics(c.image, c.labels)
        assert s["roughness"] < 0.7, c.case_id


def test_gray_zone_rims_the_scar(cohort):
    sick = [c for c in cohort if c.truth["pathological"]]
    with_rim = 0
    for c in sick:
        rim, lab = c.gray_zone, c.labels
        assert np.all(rim <= (lab == 3))  # inside the infarct label, never MVO
        assert c.truth["scar"]["gray_zone_ml"] == pytest.approx(rim.sum() * c.geometry.voxel_volume_ml, abs=1e-3)
        core = (lab == 3) & ~rim
        if rim.sum() > 20 and core.sum() > 20:
            with_rim += 1
            assert np.median(c.image[lab == 2]) < np.median(c.image[rim]) < np.median(c.image[core]), c.case_id
    assert with_rim >= len(sick) // 2
    assert not any(c.gray_zone.any() for c in cohort if not c.truth["pathological"])


def test_papillary_muscles_and_trabeculae_are_rooted_in_the_wall(cohort):
    """Dark structures inside the cavity label (papillary muscles, trabeculae) touch the endocardium, as in real
    hearts, rather than floating as dots."""
    c = next(c for c in cohort if c.truth["n_slices"] >= 8)
    lab = c.labels
    k = int(np.argsort([abs(p - c.truth["cavity_apex_mm"] / 2) for p in c.truth["slice_positions_mm"]])[0])
    # easy: the same heart with well-nulled myocardium, where papillary muscles and trabeculae are dark against
    # bright blood and a threshold finds them
    easy = generate_case(case_rng(3, cohort.index(c)), c.case_id, c.truth["pathological"], difficulty="easy")
    cavity = lab[k] == 1
    dark = cavity & (easy.image[k] < 0.5 * np.median(easy.image[k][cavity]))
    assert dark.sum() > 10
    pieces, n = ndimage.label(dark)
    wall = ndimage.binary_dilation(lab[k] >= 2, iterations=2)
    sizes = ndimage.sum(dark, pieces, range(1, n + 1))
    rooted = ndimage.maximum(wall, pieces, range(1, n + 1)).astype(bool)
    assert sizes[rooted].sum() >= 0.8 * sizes.sum()


def test_basal_outflow_tract_opens_the_wall():
    for i in range(40):
        c = generate_case(case_rng(17, i), "B", False)
        if c.truth["lvot_depth_mm"] > c.truth["base_slice_mm"] + 1 and c.truth["n_slices"] >= 6:
            break
    k = int(np.argmin(c.truth["slice_positions_mm"]))
    aha = c.aha[k]
    # the anteroseptal basal segment (2) or its neighbour loses part of its arc to the outflow tract
    mid = int(np.argsort(np.abs(np.asarray(c.truth["slice_positions_mm"]) - c.truth["cavity_apex_mm"] / 2))[0])
    basal_share = np.count_nonzero(np.isin(aha, (1, 2))) / np.count_nonzero(aha)
    mid_share = np.count_nonzero(np.isin(c.aha[mid], (7, 8))) / np.count_nonzero(c.aha[mid])
    assert basal_share < 0.9 * mid_share


def test_phantom_scars_share_no_code_with_smile():
    """SMILE is judged against these scars: the phantom must not import it (or its segment model)."""
    root = Path(__file__).resolve().parents[1] / "CLAIM" / "CLAIMLib" / "phantom"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert not any(part in ("smile", "smile_segments", "baselines", "maskstats")
                               for part in (node.module or "").split(".")), path.name


def test_axial_headers_are_axis_aligned_and_keep_the_truth():
    for i in range(6):
        c = generate_case(case_rng(4, i), "H", True, header="axial")
        o = generate_case(case_rng(4, i), "H", True)
        assert np.allclose(c.geometry.direction_matrix, np.eye(3), atol=1e-9)
        assert not np.allclose(o.geometry.direction_matrix, np.eye(3), atol=1e-3)
        assert np.array_equal(c.labels, o.labels) and np.array_equal(c.aha, o.aha)
        g = c.geometry
        septum = np.asarray(c.truth["septum_direction"])
        pts = g.index_to_physical(np.argwhere(np.isin(c.aha, (2, 3, 8, 9))))
        centre = g.index_to_physical(np.argwhere(c.aha > 0)).mean(axis=0)
        assert ((pts - centre) @ septum).mean() > 5.0


def test_oblique_headers_put_the_heart_where_a_scanner_would(cohort):
    """Apex to the patient's left, anterior and inferior; RV (septum side) anterior and to the right (LPS)."""
    for c in cohort:
        apex, septum = np.asarray(c.truth["stack_base_to_apex"]), np.asarray(c.truth["septum_direction"])
        assert apex @ (np.array([1.0, -1.0, -1.0]) / np.sqrt(3)) > np.cos(np.deg2rad(30))
        assert septum @ (np.array([-1.0, -1.0, 0.0]) / np.sqrt(2)) > np.cos(np.deg2rad(35))


@pytest.mark.parametrize("header", ["oblique", "axial"])
def test_headers_round_trip_through_every_reader_and_writer(tmp_path, header):
    """Acceptance: every volume format, the EMIDEC case layout, `claim convert` and Slicer's IJK-to-RAS matrix."""
    from CLAIMLib.cli import main
    from CLAIMLib.geometry import Geometry
    from CLAIMLib.io import write_volume

    c = generate_case(case_rng(12, 0), "Phantom_P001", True, header=header)
    g0 = c.geometry
    probe = np.array([[0, 0, 0], [c.image.shape[0] - 1, 20, 30]])
    for suffix in (".nii.gz", ".nii", ".nrrd", ".mha"):
        write_volume(tmp_path / f"img{suffix}", c.image, g0, np.float64)
        arr, g = read_volume(tmp_path / f"img{suffix}")
        assert np.array_equal(arr, c.image) and g.differences(g0) == [], suffix
        assert np.allclose(g.index_to_physical(probe), g0.index_to_physical(probe), atol=1e-3)
    assert Geometry.from_ijk_to_ras(g0.ijk_to_ras, g0.shape).differences(g0) == []
    write_case(c, tmp_path / "cases")
    assert main(["convert", str(tmp_path / "cases"), "--out", str(tmp_path / "converted")]) == 0
    for folder in ("cases", "converted"):
        (case,) = [load_case(f) for f in discover_cases(tmp_path / folder)]
        assert case.geometry.differences(g0) == [] and np.array_equal(case.mask("scar"), c.labels >= 3)


def test_generation_parameters_are_checked():
    with pytest.raises(ValueError, match="difficulty"):
        generate_case(case_rng(0, 0), "X", True, difficulty="hard")
    with pytest.raises(ValueError, match="header"):
        generate_case(case_rng(0, 0), "X", True, header="sagittal")


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
