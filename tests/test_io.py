"""Volume I/O keeps geometry exactly; label schemes; Slicer .seg.nrrd; case discovery in every layout."""
import numpy as np
import pytest

from CLAIMLib.errors import InputError
from CLAIMLib.geometry import Geometry
from CLAIMLib.io import discover_cases, load_case, read_labels, read_volume, write_case, write_volume
from CLAIMLib.labels import EMIDEC, MYOPS, case_from_arrays, detect_scheme, parse_scheme
from conftest import oblique_geometry, ring_labels


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_round_trip_keeps_geometry_exactly(tmp_path, suffix):
    g = oblique_geometry()
    data = np.random.default_rng(0).normal(size=g.shape).astype(np.float32)
    path = write_volume(tmp_path / f"vol{suffix}", data, g)
    back, g2 = read_volume(path)
    assert np.array_equal(back, data)
    assert g2.shape == g.shape
    assert np.allclose(g2.spacing, g.spacing, rtol=0, atol=1e-6)
    assert np.allclose(g2.origin, g.origin, rtol=0, atol=1e-4)
    assert np.allclose(g2.direction, g.direction, rtol=0, atol=1e-6)
    assert not list(tmp_path.glob(".tmp-*"))  # the temporary file was renamed away


def test_index_physical_round_trip():
    g = oblique_geometry()
    idx = np.array([[0, 0, 0], [5, 39, 47], [2.5, 10.25, 3]])
    pts = g.index_to_physical(idx)
    assert np.allclose(g.physical_to_index(pts), idx)
    # matches SimpleITK's own transform
    img = g.to_sitk(np.zeros(g.shape, np.uint8))
    assert np.allclose(pts[1], img.TransformIndexToPhysicalPoint((47, 39, 5)))
    # RAS is LPS with x and y negated
    assert np.allclose(g.ijk_to_ras[:2], -g.ijk_to_lps[:2]) and np.allclose(g.ijk_to_ras[2], g.ijk_to_lps[2])
    assert Geometry.from_ijk_to_ras(g.ijk_to_ras, g.shape).differences(g) == []


def test_case_volumes_in_ml():
    g = oblique_geometry()
    lab = ring_labels(g.shape)
    case = case_from_arrays("x", None, lab.astype(np.float64), g)
    voxel_ml = 1.40625 * 1.5 * 10.0 / 1000
    assert case.volume_ml("myocardium") == pytest.approx(np.count_nonzero(lab >= 2) * voxel_ml)
    assert case.volume_ml("scar") == pytest.approx(np.count_nonzero(lab >= 3) * voxel_ml)
    assert case.volume_ml("mvo") == pytest.approx(np.count_nonzero(lab == 4) * voxel_ml)
    assert np.array_equal(case.labels(EMIDEC), lab)


def test_scheme_detection_and_override():
    assert detect_scheme([0, 1, 2, 3], "f") is EMIDEC
    assert detect_scheme([0, 200, 500, 600, 2221], "f") is MYOPS
    with pytest.raises(InputError, match="match no known scheme"):
        detect_scheme([0, 1, 2, 7], "f")
    custom = parse_scheme("cavity=1,myocardium=2+3+4,scar=3+4,mvo=4,rv=5")
    assert custom.values["myocardium"] == (2, 3, 4) and custom.values["rv"] == (5,)
    assert parse_scheme("MyoPS") is MYOPS
    for bad in ("myocardium", "heart=1", "cavity=1", "myocardium=0"):
        with pytest.raises(InputError):
            parse_scheme(bad)


def test_myops_case():
    g = oblique_geometry()
    lab = ring_labels(g.shape, mvo=False)
    myops = np.select([lab == 1, lab == 2, lab == 3], [500, 200, 2221], 0).astype(np.int16)
    myops[:, :4, :4] = 600  # an RV
    case = case_from_arrays("m", None, myops, g)
    assert case.scheme is MYOPS
    assert np.array_equal(case.mask("myocardium"), lab >= 2)
    assert np.array_equal(case.mask("scar"), lab == 3)
    assert case.mask("rv").sum() == 6 * 16


def test_custom_scheme_nests_structures():
    g = oblique_geometry()
    lab = ring_labels(g.shape)
    # a scheme whose myocardium value does not list the scar values: scar still counts as myocardium
    case = case_from_arrays("c", None, lab, g, parse_scheme("cavity=1,myocardium=2,scar=3,mvo=4"))
    assert np.array_equal(case.myocardium, lab >= 2)
    assert np.array_equal(case.mask("scar"), lab >= 3)


def test_seg_nrrd(tmp_path):
    import slicerio

    g = oblique_geometry()
    lab = ring_labels(g.shape)
    image = np.random.default_rng(1).normal(100, 10, g.shape)
    write_volume(tmp_path / "img.nii.gz", image, g)
    # a Slicer segmentation cropped to the heart (as Slicer may save it), segments named as a user would
    crop = (slice(0, 6), slice(5, 35), slice(6, 44))
    offset = [crop[2].start, crop[1].start, crop[0].start]
    m = g.ijk_to_lps.copy()
    m[:3, 3] = g.index_to_physical([[offset[2], offset[1], offset[0]]])[0]
    seg = slicerio.create_segmentation(lab[crop].shape[::-1], m)
    for name, mask in (("LV cavity", lab == 1), ("Myocardium", lab >= 2), ("Scar", lab >= 3), ("no-reflow", lab == 4)):
        slicerio.add_segment(seg, np.transpose(mask[crop], (2, 1, 0)), {"name": name})
    slicerio.write_segmentation(str(tmp_path / "labels.seg.nrrd"), seg)
    labels, _, scheme = read_labels(tmp_path / "labels.seg.nrrd")
    assert scheme.name == "named segments"
    from CLAIMLib.io import CaseFiles

    case = load_case(CaseFiles("s", tmp_path / "img.nii.gz", tmp_path / "labels.seg.nrrd"))
    assert case.geometry.differences(g) == []
    for structure, expected in (("cavity", lab == 1), ("myocardium", lab >= 2), ("scar", lab >= 3), ("mvo", lab == 4)):
        assert np.array_equal(case.mask(structure), expected), structure


def _write_pair(img_path, lab_path, g, lab):
    write_volume(img_path, np.random.default_rng(0).normal(100, 5, g.shape), g)
    write_volume(lab_path, lab, g)


def test_discover_layouts(tmp_path):
    g = oblique_geometry()
    lab = ring_labels(g.shape)
    # MyoPS naming
    myops = tmp_path / "myops"
    myops.mkdir()
    ml = np.select([lab == 1, lab == 2, lab >= 3], [500, 200, 2221], 0).astype(np.int16)
    for n in (101, 102):
        _write_pair(myops / f"Case{n}_LGE.nii.gz", myops / f"Case{n}_gd.nii.gz", g, ml)
    found = discover_cases(myops)
    assert [c.case_id for c in found] == ["Case101", "Case102"]
    assert load_case(found[0]).scheme is MYOPS
    # plain pairs
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    _write_pair(pairs / "a.nii.gz", pairs / "a_label.nii.gz", g, lab)
    _write_pair(pairs / "b.nrrd", pairs / "b_seg.nrrd", g, lab)
    assert [(c.case_id, c.labels.name) for c in discover_cases(pairs)] == [("a", "a_label.nii.gz"), ("b", "b_seg.nrrd")]
    # nnU-Net raw
    raw = tmp_path / "Dataset001_X"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    _write_pair(raw / "imagesTr" / "c1_0000.nii.gz", raw / "labelsTr" / "c1.nii.gz", g, lab)
    assert [(c.case_id, c.labels.name) for c in discover_cases(raw)] == [("c1", "c1.nii.gz")]
    # EMIDEC layout through write_case, read back identical
    case = load_case(discover_cases(pairs)[0])
    write_case(case, tmp_path / "emidec")
    back = load_case(discover_cases(tmp_path / "emidec")[0])
    assert back.case_id == "a" and back.geometry.differences(g) == []
    assert np.array_equal(back.labels(), case.labels())
    with pytest.raises(InputError, match="no cases found"):
        discover_cases(tmp_path)  # holds dataset folders, not cases
