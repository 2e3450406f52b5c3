"""DICOM series folders as images: the same results as the NIfTI of the same voxels (phantom and EMIDEC P100),
geometry kept, several series in one folder listed and picked with --series, broken series refused."""
import json
import locale
import shutil

import numpy as np
import pytest

from CLAIMLib.dicom import find_series, write_series
from CLAIMLib.io import read_volume, write_volume
from CLAIMLib.phantom import generate_cohort


@pytest.fixture(scope="module")
def phantom_pair(tmp_path_factory):
    """One oblique clinical phantom as a DICOM series and as NIfTI (the same int16 voxels), with its labels."""
    root = tmp_path_factory.mktemp("dicom")
    case = next(iter(generate_cohort(1, seed=5, header="oblique")))
    voxels = np.round(case.image).astype(np.int16)
    write_series(root / "series", voxels, case.geometry, "SAX_LGE")
    write_volume(root / "image.nii.gz", voxels, case.geometry)
    write_volume(root / "labels.nii.gz", case.labels, case.geometry)
    return root, case


def test_geometry_and_voxels_are_kept(phantom_pair):
    root, case = phantom_pair
    a, g = read_volume(root / "series")
    b, g0 = read_volume(root / "image.nii.gz")
    assert a.dtype == np.int16 and np.array_equal(a, b)
    assert np.allclose(g.origin, g0.origin, atol=1e-9) and np.allclose(g.direction, g0.direction, atol=1e-12)
    assert np.allclose(g.spacing, g0.spacing, atol=1e-9) and g.shape == g0.shape


def test_gdcm_leaves_the_locale_as_it_was(phantom_pair, tmp_path):
    """GDCM sets the process's C locale and leaves it (Python then reads text files and child output as ASCII):
    writing, finding and reading a series put the locale back as it was."""
    root, case = phantom_pair
    saved = locale.setlocale(locale.LC_ALL)
    try:
        try:
            locale.setlocale(locale.LC_ALL, "C.UTF-8")
        except locale.Error:
            locale.setlocale(locale.LC_ALL, "")
        before = locale.setlocale(locale.LC_ALL)
        write_series(tmp_path / "s", read_volume(root / "image.nii.gz")[0], case.geometry, "LGE")
        assert find_series(tmp_path) and read_volume(tmp_path / "s")[0].shape == case.geometry.shape
        assert locale.setlocale(locale.LC_ALL) == before
    finally:
        locale.setlocale(locale.LC_ALL, saved)


def test_info_and_aha_match_the_nifti(phantom_pair, run_claim):
    root, _ = phantom_pair
    outputs = {}
    for name, image in (("dicom", root / "series"), ("nifti", root / "image.nii.gz")):
        code, info, err = run_claim("info", "--image", image, "--labels", root / "labels.nii.gz")
        assert code == 0, err
        code, out, err = run_claim("aha", "--labels", root / "labels.nii.gz", "--image", image,
                                   "--out", root / f"aha_{name}.nii.gz", "--json", root / f"aha_{name}.json")
        assert code == 0, err
        record = json.loads((root / f"aha_{name}.json").read_text())
        info = "\n".join(line for line in info.splitlines() if not line.strip().startswith("image"))
        outputs[name] = (info, read_volume(root / f"aha_{name}.nii.gz")[0], record["orientation"])
    assert outputs["dicom"][0] == outputs["nifti"][0]
    assert np.array_equal(outputs["dicom"][1], outputs["nifti"][1]) and outputs["dicom"][1].max() >= 16
    assert outputs["dicom"][2] == outputs["nifti"][2]


def test_segment_matches_the_nifti(phantom_pair, trained_seg, run_claim, tmp_path):
    root, _ = phantom_pair
    model, _ = trained_seg
    for name, image in (("dicom", root / "series"), ("nifti", root / "image.nii.gz")):
        code, out, err = run_claim("segment", "--image", image, "--model", model, "--out",
                                   tmp_path / f"{name}.nii.gz", "--device", "cpu")
        assert code == 0, err
    a, g = read_volume(tmp_path / "dicom.nii.gz")
    b, g0 = read_volume(tmp_path / "nifti.nii.gz")
    assert np.array_equal(a, b) and g.differences(g0) == []


def test_several_series_are_listed_and_picked(phantom_pair, run_claim, tmp_path):
    root, case = phantom_pair
    both = tmp_path / "study"
    shutil.copytree(root / "series", both / "a")
    voxels = read_volume(root / "image.nii.gz")[0]
    write_series(both / "b", (voxels // 2).astype(np.int16), case.geometry, "PSIR", series_uid="1.2.3.4.5")
    series = find_series(both)
    assert len(series) == 2
    code, _, err = run_claim("info", "--image", both, "--labels", root / "labels.nii.gz")
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"claim: error: {both}: holds 2 DICOM series; pick one with --series UID")
    assert "1.2.3.4.5 ('PSIR', 6 slices)" in err and f"{series[1].uid} ('SAX_LGE', 6 slices)" in err
    code, out, err = run_claim("info", "--image", both, "--labels", root / "labels.nii.gz", "--series", "1.2.3.4.5")
    assert code == 0, err
    code, _, err = run_claim("info", "--image", both, "--labels", root / "labels.nii.gz", "--series", "9.9")
    assert code == 2 and err.startswith("claim: error: --series: no series 9.9 in ")
    code, _, err = run_claim("aha", "--labels", root / "labels.nii.gz", "--image", both, "--series", "1.2.3.4.5",
                             "--out", tmp_path / "aha.nii.gz")
    assert code == 0, err


def test_broken_series_are_refused(phantom_pair, run_claim, tmp_path):
    root, _ = phantom_pair
    gap = tmp_path / "gap"
    shutil.copytree(root / "series", gap)
    sorted(gap.iterdir())[2].unlink()  # a missing slice in the middle
    code, _, err = run_claim("info", "--image", gap, "--labels", root / "labels.nii.gz")
    assert code == 2 and len(err.splitlines()) == 1 and "not evenly spaced" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code, _, err = run_claim("aha", "--labels", root / "labels.nii.gz", "--image", tmp_path / "empty",
                             "--out", tmp_path / "a.nii.gz")
    assert code == 2 and err == f"claim: error: {tmp_path / 'empty'}: is a folder with no DICOM series (and not a " \
                                "volume file)\n" and not (tmp_path / "a.nii.gz").exists()


def test_emidec_p100_as_dicom(emidec, run_claim, tmp_path):
    """The real P100 image (whole numbers 0-4094, stored as float64) written as an int16 series reads back to the
    same voxels on the same grid, and gives the same AHA labels with its real contours."""
    image = emidec / "Case_P100" / "Images" / "Case_P100.nii.gz"
    labels = emidec / "Case_P100" / "Contours" / "Case_P100.nii.gz"
    voxels, g = read_volume(image)
    write_series(tmp_path / "P100", voxels.astype(np.int16), g, "LGE")
    back, g2 = read_volume(tmp_path / "P100")
    assert np.array_equal(back, voxels) and g2.differences(g) == []
    results = []
    for name, img in (("dicom", tmp_path / "P100"), ("nifti", image)):
        code, out, err = run_claim("aha", "--labels", labels, "--image", img, "--out", tmp_path / f"{name}.nii.gz")
        assert code == 0, err
        results.append(read_volume(tmp_path / f"{name}.nii.gz")[0])
    assert np.array_equal(*results)
