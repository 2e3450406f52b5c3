"""The CLI and the Slicer Logic give identical outputs on the same case, for every operation both offer: both are
thin edges over one workflow. (Synthesis and segmentation: ``test_slicer_logic`` runs the Logic's command route,
which is ``claim synthesize`` / ``claim segment``, and compares it with the Logic's in-process result.)"""
import csv
import json

import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("this 'slicer' module has no MRML classes", allow_module_level=True)

from CLAIMLib.io import read_volume  # noqa: E402
from CLAIMSlicerLib import mrml  # noqa: E402
from CLAIMSlicerLib.logic import CLAIMLogic, SMILEMaskEditorLogic  # noqa: E402


@pytest.fixture(scope="module")
def case_on_disk_and_in_a_scene(tmp_path_factory):
    """One pathological phantom written to disk (image + labels) and read into a scene from those same files."""
    from CLAIMLib.phantom import case_rng, generate_case, write_case

    root = tmp_path_factory.mktemp("parity")
    folder = write_case(generate_case(case_rng(21, 0), "Phantom_P001", True), root)
    image = folder / "Images" / "Phantom_P001.nii.gz"
    labels = folder / "Contours" / "Phantom_P001.nii.gz"
    scene = slicer.vtkMRMLScene()
    array, geometry = read_volume(image)
    volume = mrml.add_volume_node(scene, array, geometry, "Phantom_P001")
    lab, lgeometry = read_volume(labels)
    labelmap = mrml.add_volume_node(scene, lab.astype(np.uint8), lgeometry, "Phantom_P001_labels",
                                    "vtkMRMLLabelMapVolumeNode")
    return image, labels, scene, volume, labelmap


def test_aha_cli_and_logic_agree(case_on_disk_and_in_a_scene, run_claim, tmp_path):
    image, labels, scene, volume, labelmap = case_on_disk_and_in_a_scene
    code, _, err = run_claim("aha", "--labels", labels, "--image", image, "--out", tmp_path / "aha.nii.gz",
                             "--json", tmp_path / "aha.json")
    assert code == 0, err
    cli, _ = read_volume(tmp_path / "aha.nii.gz")
    node = SMILEMaskEditorLogic(scene).exportAHA(volume, labelmap)
    assert np.array_equal(slicer.util.arrayFromVolume(node), cli.astype(np.uint8))
    assert set(np.unique(cli)) - {0} == set(range(1, 18)) - ({17} if not (cli == 17).any() else set())
    cli_record = json.loads((tmp_path / "aha.json").read_text())
    assert mrml.get_record(node)["orientation"] == cli_record["orientation"]


@pytest.mark.parametrize("mode", ["direct", "template"])
def test_smile_cli_and_logic_agree(case_on_disk_and_in_a_scene, run_claim, tmp_path, mode):
    image, labels, scene, volume, labelmap = case_on_disk_and_in_a_scene
    out = tmp_path / "mask.nii.gz"
    code, _, err = run_claim("smile", "--labels", labels, "--image", image, "--out", out, "--segments", "4,10",
                             "--volume-ml", "6", "--transmurality", "subendocardial:0.6", "--mvo", "--seed", "3",
                             "--mode", mode, "--allow-less")  # the module, like the library, warns when short
    assert code == 0, err
    cli, _ = read_volume(out)
    node = SMILEMaskEditorLogic(scene).generateMask(volume, labelmap, segments=[4, 10], volumeMl=6.0,
                                                   transmurality="subendocardial:0.6", mvo=True, seed=3, mode=mode)
    masks = mrml.segment_masks(node, volume)
    assert np.array_equal(masks["Scar"] | masks["MVO"], cli >= 3)
    assert np.array_equal(masks["MVO"], cli == 4)
    assert (cli >= 3).sum() > 0
    cli_record = json.loads(out.with_suffix("").with_suffix(".json").read_text())
    logic_record = mrml.get_record(node)
    for key in ("segments", "pattern", "extent", "target_total_ml", "achieved_total_ml", "mvo_ml", "per_segment",
                "orientation", "mode"):
        assert logic_record[key] == cli_record[key], key


def test_bullseye_cli_and_logic_agree(case_on_disk_and_in_a_scene, run_claim, tmp_path):
    image, labels, scene, volume, labelmap = case_on_disk_and_in_a_scene
    code, _, err = run_claim("bullseye", "--labels", labels, "--image", image, "--out", tmp_path / "b.png",
                             "--csv", tmp_path / "b.csv")
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "b.csv").open()))
    table, png = CLAIMLogic(scene).bullseye(volume, labelmap, pngPath=tmp_path / "logic.png")
    record = mrml.get_record(table)
    assert float(rows[-1]["scar_ml"]) == pytest.approx(record["totals"]["scar_ml"], abs=1e-4)
    assert record["totals"]["scar_ml"] > 0
    t = table.GetTable()
    for r in range(17):
        for column in ("scar_ml", "myocardium_ml", "transmurality_mean", "mvo_ml"):
            logic_value = t.GetValueByName(r, column).ToDouble()
            assert logic_value == pytest.approx(float(rows[r][column]), abs=1e-4), (r, column)
