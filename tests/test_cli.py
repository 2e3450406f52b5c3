"""The ``claim`` command: subcommands, info, phantom, convert, demo; bad input gets exit 2 and one line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from CLAIMLib.io import write_volume
from conftest import REPO, claim_env, oblique_geometry, ring_labels


def test_help_lists_subcommands():
    exe = Path(sys.executable).with_name("claim")
    cmds = [[str(exe), "--help"]] if exe.exists() else []
    cmds.append([sys.executable, "-m", "CLAIMLib", "--help"])
    for cmd in cmds:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        for sub in ("info", "phantom", "demo", "convert"):
            assert sub in out


def test_info_emidec(emidec, run_claim):
    code, out, err = run_claim("info", emidec / "Case_P100")
    assert code == 0, err
    assert "1.40625 x 1.40625 x 13 mm" in out and "apex-first" in out
    assert "mvo 0.75" in out and "myocardium 138.67" in out
    code, out, _ = run_claim("info", "--json", emidec / "Case_N016" / "Contours" / "Case_N016.nii.gz")
    info = json.loads(out)
    assert info["slice_order"]["order"] == "base-first" and info["volumes_ml"]["scar"] == 0.0


def test_info_on_a_dataset_and_an_image(phantom_cohort, run_claim):
    out_dir, cases = phantom_cohort
    code, out, _ = run_claim("info", "--json", out_dir)
    infos = json.loads(out)
    assert code == 0 and len(infos) == len(cases)
    truth = {c.case_id: c.truth for c in cases}
    for info in infos:
        t = truth[info["case_id"]]
        assert info["slice_order"]["order"] == t["slice_order"]
        assert info["volumes_ml"]["myocardium"] == pytest.approx(t["volumes_ml"]["myocardium"], abs=1e-3)
        assert info["spacing_mm"] == pytest.approx(t["spacing_mm"])
    cid = cases[0].case_id
    code, out, _ = run_claim("info", out_dir / cid / "Images" / f"{cid}.nii.gz")
    assert code == 0 and "voxels" in out and "intensity" in out


def _digest(folder: Path) -> dict:
    import hashlib

    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            if p.suffix == ".gz":  # compare the decompressed content (gzip headers carry no time in ITK, but be safe)
                data = sitk.GetArrayFromImage(sitk.ReadImage(str(p))).tobytes()
            else:
                data = p.read_bytes()
            out[str(p.relative_to(folder))] = hashlib.sha256(data).hexdigest()
    return out


def test_phantom_command_is_deterministic(tmp_path, run_claim):
    for name in ("a", "b"):
        code, out, err = run_claim("phantom", "--out", tmp_path / name, "--cases", 3, "--seed", 4, "--normal-fraction", 0.34)
        assert code == 0, err
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    cases = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(cases) == 3 and sum(c.startswith("Phantom_N") for c in cases) == 1
    for c in cases:
        for rel in (f"Images/{c}.nii.gz", f"Contours/{c}.nii.gz", f"GroundTruth/{c}_aha.nii.gz", f"{c}.json"):
            assert (tmp_path / "a" / c / rel).is_file()
    run_claim("phantom", "--out", tmp_path / "c", "--cases", 3, "--seed", 5)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    # easy and axial: the options themselves are under test
    code, out, err = run_claim("phantom", "--out", tmp_path / "e", "--cases", 3, "--seed", 4, "--normal-fraction",
                               0.34, "--difficulty", "easy", "--header", "axial")
    assert code == 0 and "easy phantom cases" in out and "axial headers" in out, err
    for c in cases:
        truth = json.loads((tmp_path / "e" / c / f"{c}.json").read_text())
        assert truth["difficulty"] == "easy" and truth["header"] == "axial"
        assert (tmp_path / "e" / c / "GroundTruth" / f"{c}_grayzone.nii.gz").is_file()
        assert sitk.ReadImage(str(tmp_path / "e" / c / "Images" / f"{c}.nii.gz")).GetDirection() == \
            (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def test_demo(tmp_path, emidec, run_claim, tiny_run, trained_seg):
    code, out, err = run_claim("demo", "--out", tmp_path / "demo", "--emidec", emidec,
                               "--diffusion-model", tiny_run[0] / "checkpoint.pt", "--seg-model", trained_seg[0],
                               "--joint-steps", 4)
    assert code == 0, err
    # no nnU-Net dump on the terminal: the demo's own two lines (bars and JSON are off in the suite)
    assert len(out.splitlines()) == 2 and "patch_size" not in out + err and "Predicting" not in out + err, out
    for name in ("montage.png", "report.md", "summary.json", "realism_montage.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    # phantom beside real LGE: P100's contrast measured as the phantom's tests assume it
    assert summary["realism"]["Case_P100"]["scar_cnr"] == pytest.approx(2.51, abs=0.02)
    assert sum(1 for cid in summary["realism"] if cid.startswith("Phantom_")) == 2
    assert len(summary["phantom"]) == 6 and len(summary["emidec"]) == 3
    assert all(i["slice_order"]["order"] == i["truth"]["slice_order"] for i in summary["phantom"])
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Case_P100" in report and "Slice order detected correctly in 6/6" in report
    assert "## Phantom against real LGE" in report
    for name in ("aha_montage.png", "smile_montage.png", "smile_bullseye.png", "synthesis_montage.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 0
    assert all(r["outside_unchanged"] for r in summary["diffusion"]["painted"])
    assert len(list((tmp_path / "demo" / "bullseye").glob("*.png"))) >= 4
    seg = summary["segmentation"]
    assert len(seg["test"]) == 2 and not set(r["case"] for r in seg["test"]) & set(seg["training_cases"])
    assert all(0 <= r["myocardium_dice"] <= 1 for r in seg["test"])
    assert (tmp_path / "demo" / "segmentation_bullseye.png").stat().st_size > 10000
    assert summary["joint"]["steps"] == 4 and len(summary["joint"]["validation"]) == 2
    assert (tmp_path / "demo" / "joint_samples.png").stat().st_size > 0
    assert "## Scar segmentation (nnU-Net v2)" in report and "## Joint training, CLAIM(J)" in report
    # classic thresholds on the real infarct and the phantoms, each against its truth, with a report each
    scar = {(r["case_id"], r["method"]): r for r in summary["scar"]}
    for method in ("fwhm", "nsd:3"):
        assert scar[("Case_P100", method)]["dice"] >= 0.55
        assert (tmp_path / "demo" / scar[("Case_P100", method)]["report"]).stat().st_size > 10000
    assert any(cid.startswith("Phantom_") for cid, _ in scar) and "## Classic scar quantification" in report
    # are SMILE's masks like real infarcts: on P100's heart against its real scar, beside balls told its size
    realism = {(r["reference"], r["setting"]): r for r in summary["mask_realism"]}
    p100 = realism[("Case_P100 (real)", "default, on its own heart")]
    assert p100["masks"]["cases"] == 10 and p100["masks"]["components_mean"] == 1.0
    assert p100["masks"]["mean_depth"] < p100["ball"]["mean_depth"]
    assert "## Are SMILE masks like real infarcts?" in report
    # synthesis fidelity on the phantoms and on P100: the table, the figure, and the fills' known failings
    fid = summary["synthesis_fidelity"]
    assert set(fid) == {"phantoms (training cases)", "EMIDEC"} and fid["EMIDEC"]["cases"] == ["Case_P100"]
    for row in fid.values():
        assert (tmp_path / "demo" / row["folder"] / "fidelity.png").stat().st_size > 10000
        assert set(row["pooled"]) == {"generator", "generator_own", "remote_fill", "mean_fill"}
    # in-sample phantoms: the generator told each case's histogram beats the unenhanced fill on brightness and the
    # noise fill on texture (on P100, another domain for a phantom-trained generator, it need not: it is measured)
    pool = fid["phantoms (training cases)"]["pooled"]
    assert pool["remote_fill"]["scar_cnr_error"] > pool["generator_own"]["scar_cnr_error"]
    assert pool["mean_fill"]["texture_error"] > pool["generator_own"]["texture_error"]
    assert "## Synthesis fidelity" in report
    assert not list((tmp_path / "demo").glob(".tmp-*"))


# ------------------------------------------------------------------------------------------- bad input
def _bad_inputs(tmp: Path):
    """(name, argv for info/convert, file that must be named in the message)."""
    g = oblique_geometry()
    lab = ring_labels(g.shape)
    img = np.random.default_rng(0).normal(100, 5, g.shape)
    good_img = write_volume(tmp / "img.nii.gz", img, g)
    cases = []

    other = oblique_geometry((6, 40, 50))
    p = write_volume(tmp / "grid_lab.nii.gz", np.pad(lab, ((0, 0), (0, 0), (0, 2))), other)
    cases.append(("grid", [good_img, p], p))
    from dataclasses import replace
    p = write_volume(tmp / "spacing_lab.nii.gz", lab, replace(g, spacing=(1.5, 1.5, 10.0)))
    cases.append(("spacing", [good_img, p], p))

    bad = lab.copy()
    bad[0, 0, 0] = 7
    p = write_volume(tmp / "values_lab.nii.gz", bad, g)
    cases.append(("values", [good_img, p], p))
    cases.append(("values-scheme", [good_img, p, "--scheme", "emidec"], p))

    p = write_volume(tmp / "empty_lab.nii.gz", (lab == 1).astype(np.uint8), g)
    cases.append(("empty", [good_img, p], p))

    p = tmp / "flat.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(img[0]), str(p))
    cases.append(("2d", [p, write_volume(tmp / "l2.nii.gz", lab, g)], p))

    p = tmp / "four.nii.gz"
    sitk.WriteImage(sitk.JoinSeries([g.to_sitk(img), g.to_sitk(img)]), str(p))
    cases.append(("4d", [p, tmp / "l2.nii.gz"], p))

    nan = img.copy()
    nan[1, 2, 3] = np.nan
    p = write_volume(tmp / "nan.nii.gz", nan, g)
    cases.append(("nan", [p, tmp / "l2.nii.gz"], p))
    inf = lab.astype(np.float64)
    inf[2, 2, 2] = np.inf
    p = write_volume(tmp / "inf_lab.nrrd", inf, g)
    cases.append(("inf", [good_img, p], p))

    p = tmp / "garbage.nii.gz"
    p.write_bytes(os.urandom(3000))
    cases.append(("unreadable", [p, tmp / "l2.nii.gz"], p))
    for suffix in (".nii.gz", ".nii", ".nrrd"):
        full = write_volume(tmp / f"full{suffix}", img, g)
        data = full.read_bytes()
        p = tmp / f"trunc{suffix}"
        p.write_bytes(data[: len(data) // 2])
        cases.append((f"truncated{suffix}", [p, tmp / "l2.nii.gz"], p))
    p = tmp / "empty_file.nii.gz"
    p.write_bytes(b"")
    cases.append(("zero-bytes", [p, tmp / "l2.nii.gz"], p))
    cases.append(("missing", [tmp / "nope.nii.gz", tmp / "l2.nii.gz"], tmp / "nope.nii.gz"))
    return cases


def test_bad_input_exit_2_one_line_no_output(tmp_path, run_claim):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, argv, culprit in _bad_inputs(inputs):
        for command in ("info", "convert"):
            out_dir = tmp_path / f"out_{name}_{command}"
            extra = ["--out", out_dir] if command == "convert" else []
            before = set(inputs.iterdir())
            code, out, err = run_claim(command, *argv, *extra)
            assert code == 2, (name, command, out, err)
            lines = err.strip().splitlines()
            assert len(lines) == 1, (name, err)
            assert lines[0].startswith(f"claim: error: {culprit}: "), (name, lines[0])
            assert "Traceback" not in err
            assert not out_dir.exists(), name
            assert set(inputs.iterdir()) == before, name  # nothing written beside the inputs either


def test_bad_arguments(tmp_path, run_claim):
    for argv, where in ((("phantom", "--out", tmp_path / "p", "--cases", 0), "--cases"),
                        (("phantom", "--out", tmp_path / "p", "--normal-fraction", 2), "--normal-fraction"),
                        (("phantom", "--out", tmp_path / "p", "--difficulty", "hard"), "--difficulty"),
                        (("phantom", "--out", tmp_path / "p", "--header", "sagittal"), "--header"),
                        (("info", tmp_path / "x", "--scheme", "heart=1"), "--scheme"),
                        (("demo", "--out", tmp_path / "d", "--emidec", tmp_path / "none"), "none")):
        code, out, err = run_claim(*argv)
        assert code == 2 and err.count("\n") == 1 and err.startswith("claim: error: ") and where in err, err
    assert not (tmp_path / "p").exists() and not (tmp_path / "d").exists()
    code, _, err = run_claim("frobnicate")
    assert code == 2 and err.count("\n") == 1


def test_bad_input_in_a_child_process_has_no_traceback(tmp_path):
    p = tmp_path / "junk.nii"
    p.write_bytes(b"not a nifti at all" * 40)
    r = subprocess.run([sys.executable, "-m", "CLAIMLib", "info", str(p), str(p)], capture_output=True, text=True,
                       env=claim_env())
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith(f"claim: error: {p}: ")


# ------------------------------------------------------------------------------------------- aha, bullseye
def test_aha_command(phantom_cohort, run_claim, tmp_path):
    out_dir, cases = phantom_cohort
    c = cases[0]
    d = out_dir / c.case_id
    img, lab = d / "Images" / f"{c.case_id}.nii.gz", d / "Contours" / f"{c.case_id}.nii.gz"
    code, out, err = run_claim("aha", "--image", img, "--labels", lab, "--out", tmp_path / "aha.nii.gz",
                               "--json", tmp_path / "aha.json")
    assert code == 0, err
    assert "orientation   image" in out or "orientation   header" in out
    assert c.truth["slice_order"] in out and "decided by the labels and header" in out
    from CLAIMLib.io import read_volume

    aha, g = read_volume(tmp_path / "aha.nii.gz")
    assert g.differences(c.geometry) == [] and np.array_equal(aha > 0, c.labels >= 2)
    # the command gives the library's answer (how accurate the image-based septum is: tests/test_aha.py)
    from CLAIMLib.aha import aha_segments

    direct = aha_segments(c.labels >= 2, c.labels == 1, c.geometry, image=c.image.astype(np.float32))
    assert np.array_equal(aha, direct.labels)
    record = json.loads((tmp_path / "aha.json").read_text())
    assert record["orientation"]["source"] in ("image", "image+header", "header")  # the oblique header's prior
    assert record["slice_order"]["order"] == c.truth["slice_order"]
    assert record["slice_order"]["decided_by"] == "labels and header"
    # insertion points in RAS, as Slicer shows them
    ras = [np.asarray(c.truth["rv_insertion_points"][w]) * [-1, -1, 1] for w in ("anterior", "inferior")]
    code, out, err = run_claim("aha", "--labels", lab, "--ras", "--out", tmp_path / "aha2.nii.gz",
                               *[f"--rv-point={','.join(f'{v:.3f}' for v in p)}" for p in ras])
    assert code == 0 and "rv-points" in out, err
    aha2, _ = read_volume(tmp_path / "aha2.nii.gz")
    assert np.mean(aha2[c.labels >= 2] == c.aha[c.labels >= 2]) > 0.95
    # labels alone: the oblique header's anatomical prior, with a warning on stderr
    code, out, err = run_claim("aha", "--labels", lab, "--out", tmp_path / "aha3.nii.gz")
    assert code == 0 and "orientation   header" in out and err.startswith("claim: warning:")


def test_bullseye_command(emidec, run_claim, tmp_path):
    d = emidec / "Case_P100"
    img, lab = d / "Images" / "Case_P100.nii.gz", d / "Contours" / "Case_P100.nii.gz"
    code, out, err = run_claim("bullseye", "--image", img, "--labels", lab, "--out", tmp_path / "be.svg",
                               "--csv", tmp_path / "be.csv")
    assert code == 0, err
    assert (tmp_path / "be.svg").stat().st_size > 10000
    import csv

    rows = list(csv.DictReader((tmp_path / "be.csv").open()))
    assert len(rows) == 18 and rows[-1]["segment"] == "total"
    assert float(rows[-1]["scar_ml"]) == pytest.approx(20.258, abs=0.01)
    assert float(rows[-1]["mvo_ml"]) == pytest.approx(0.7455, rel=0.01)
    per = {int(r["segment"]): float(r["scar_ml"]) for r in rows[:-1]}
    assert max(per, key=per.get) in (4, 10)
    # the AHA map from `claim aha` and a separate scar mask give the same table
    run_claim("aha", "--image", img, "--labels", lab, "--out", tmp_path / "aha.nii.gz")
    from CLAIMLib.io import read_volume, write_volume

    labels, g = read_volume(lab)
    write_volume(tmp_path / "scar.nii.gz", (labels >= 3).astype(np.uint8), g)
    code, out, err = run_claim("bullseye", "--labels", lab, "--aha", tmp_path / "aha.nii.gz", "--scar",
                               tmp_path / "scar.nii.gz", "--out", tmp_path / "be2.png", "--csv", tmp_path / "be2.csv")
    assert code == 0, err
    rows2 = list(csv.DictReader((tmp_path / "be2.csv").open()))
    assert [r["scar_ml"] for r in rows2] == [r["scar_ml"] for r in rows]


def test_aha_and_bullseye_bad_input(phantom_cohort, run_claim, tmp_path):
    out_dir, cases = phantom_cohort
    c = cases[0]
    lab = out_dir / c.case_id / "Contours" / f"{c.case_id}.nii.gz"
    other = out_dir / cases[1].case_id / "Contours" / f"{cases[1].case_id}.nii.gz"
    bad = [
        (("aha", "--labels", lab, "--rv-point", "1,2", "--out", tmp_path / "a.nii.gz"), "--rv-point"),
        (("aha", "--labels", lab, "--rv-point", "1,2,3", "--rv-point", "4,5,6", "--rv-point", "7,8,9",
          "--out", tmp_path / "a.nii.gz"), "--rv-point"),
        (("aha", "--labels", lab, "--out", tmp_path / "a.png"), str(tmp_path / "a.png")),
        (("bullseye", "--labels", lab, "--aha", other, "--out", tmp_path / "b.png"), str(other)),
        (("bullseye", "--labels", lab, "--scar", other, "--out", tmp_path / "b.png"), str(other)),
        (("bullseye", "--labels", lab, "--out", tmp_path / "b.jpg"), str(tmp_path / "b.jpg")),
    ]
    for argv, culprit in bad:
        code, out, err = run_claim(*argv)
        assert code == 2, (argv, err)
        assert err.count("\n") == 1 and err.startswith(f"claim: error: {culprit}: "), err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------- smile, mask-stats
def test_smile_and_mask_stats_commands(phantom_cohort, run_claim, tmp_path):
    out_dir, cases = phantom_cohort
    normal = next(c for c in cases if not c.truth["pathological"])
    sick = next(c for c in cases if c.truth["pathological"])
    d = out_dir / normal.case_id
    img, lab = d / "Images" / f"{normal.case_id}.nii.gz", d / "Contours" / f"{normal.case_id}.nii.gz"
    code, out, err = run_claim("smile", "--image", img, "--labels", lab, "--out", tmp_path / "m" / "mask.nii.gz",
                               "--territory", "lad", "--transmurality", "subendocardial:0.6", "--mvo", "--seed", 7,
                               "--count", 3, "--volume-ml", "5")
    assert code == 0, err
    from CLAIMLib.aha import TERRITORIES
    from CLAIMLib.io import read_volume

    for i in (1, 2, 3):
        labels, g = read_volume(tmp_path / "m" / f"mask_{i:03d}.nii.gz")
        record = json.loads((tmp_path / "m" / f"mask_{i:03d}.json").read_text())
        assert g.differences(normal.geometry) == []
        assert set(np.unique(labels)) <= {0, 1, 2, 3, 4} and (labels == 3).any()
        assert np.array_equal(labels >= 2, normal.labels >= 2) and np.array_equal(labels == 1, normal.labels == 1)
        assert record["seed"] == 7 and set(record["segments"]) <= set(TERRITORIES["LAD"])
        if not any(v["capacity_limited"] for v in record["per_segment"].values()):
            assert record["achieved_total_ml"] == pytest.approx(5.0, rel=0.15)
        assert "per_segment" in record and record["orientation"]["source"] in ("image", "image+header", "header")
    # same seed, same masks
    run_claim("smile", "--image", img, "--labels", lab, "--out", tmp_path / "again.nii.gz", "--territory", "LAD",
              "--transmurality", "subendocardial:0.6", "--mvo", "--seed", 7, "--volume-ml", "5")
    a, _ = read_volume(tmp_path / "again.nii.gz")
    b, _ = read_volume(tmp_path / "m" / "mask_001.nii.gz")
    assert np.array_equal(a, b)
    # explicit segments and per-segment volumes; an existing scar is replaced
    sd = out_dir / sick.case_id
    code, out, err = run_claim("smile", "--image", sd / "Images" / f"{sick.case_id}.nii.gz", "--labels",
                               sd / "Contours" / f"{sick.case_id}.nii.gz", "--out", tmp_path / "p.nii.gz",
                               "--volume-ml", "4:2,10:1.5", "--transmurality", "transmural")
    assert code == 0, err
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["segments"] == [4, 10] and record["replaced_existing_scar_ml"] > 0
    assert {k: round(v["target_ml"], 2) for k, v in record["per_segment"].items()} == {"4": 2.0, "10": 1.5}
    # realism distances against the phantom cohort's scars, beside a ball baseline
    code, out, err = run_claim("mask-stats", "--masks", tmp_path / "m", "--reference", out_dir,
                               "--out", tmp_path / "stats.json")
    assert code == 0, err
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["masks"]["cases"] == 3 and stats["masks"]["reference_cases"] == len(cases)
    assert stats["ball"]["cases"] == 3 and "closer than the ball on" in out
    for key in ("segment_l1", "volume_ml", "volume_fraction", "mean_depth", "components"):
        assert stats["masks"][key] >= 0 and stats["ball"][key] >= 0
    # priors learned from the cohort's scars, then default (wavefront) masks drawn from them
    code, out, err = run_claim("smile-priors", "--reference", out_dir, "--out", tmp_path / "priors.json")
    assert code == 0, err
    priors = json.loads((tmp_path / "priors.json").read_text())
    scarred = [c for c in cases if c.truth["pathological"]]
    assert len(priors["cases"]) == len(scarred) and priors["normal_cases"] == len(cases) - len(scarred)
    code, out, err = run_claim("smile", "--image", img, "--labels", lab, "--out", tmp_path / "w.nii.gz",
                               "--priors", tmp_path / "priors.json", "--seed", 3)
    assert code == 0, err
    record = json.loads((tmp_path / "w.json").read_text())
    assert record["pattern"] == "wavefront" and record["volume_source"] == "learned priors"


def test_smile_bad_input(phantom_cohort, run_claim, tmp_path):
    out_dir, cases = phantom_cohort
    lab = out_dir / cases[0].case_id / "Contours" / f"{cases[0].case_id}.nii.gz"
    for argv, culprit in (
            (("--segments", "4,18"), "--segments"), (("--segments", "a"), "--segments"),
            (("--volume-ml", "-3"), "--volume-ml"), (("--volume-ml", "4:x"), "--volume-ml"),
            (("--transmurality", "diffuse"), "--transmurality"),
            (("--transmurality", "subendocardial:2"), "--transmurality"),
            (("--segments", "4", "--territory", "LAD"), "--segments"), (("--count", "0"), "--count"),
            (("--volume-fraction", "1.5"), "--volume-fraction"), (("--lesions", "0"), "--lesions"),
            (("--lesions", "2", "--transmurality", "midwall"), "--lesions"),
            (("--volume-fraction", "0.2", "--volume-ml", "3"), "--volume-fraction"),
            (("--transmurality", "wavefront:0.5"), "--transmurality"),
            (("--priors", tmp_path / "no.json"), str(tmp_path / "no.json"))):
        code, out, err = run_claim("smile", "--labels", lab, "--out", tmp_path / "x.nii.gz", *argv)
        assert code == 2 and err.count("\n") == 1 and err.startswith(f"claim: error: {culprit}: "), (argv, err)
    code, _, err = run_claim("mask-stats", "--masks", tmp_path / "none", "--reference", out_dir)
    assert code == 2 and err.startswith(f"claim: error: {tmp_path / 'none'}: ")
    bad = tmp_path / "bad_priors.json"
    bad.write_text('{"version": 1, "cases": []}')
    code, _, err = run_claim("smile", "--labels", lab, "--out", tmp_path / "x.nii.gz", "--priors", bad)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"claim: error: {bad}: malformed SMILE priors")
    normal_only = tmp_path / "normals"
    normal_only.mkdir()
    code, _, err = run_claim("smile-priors", "--reference", normal_only, "--out", tmp_path / "p.json")
    assert code == 2 and err.startswith(f"claim: error: {normal_only}: ")
    code, _, err = run_claim("smile-priors", "--reference", out_dir, "--out", tmp_path / "p.txt")
    assert code == 2 and "--out must end with .json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_priors.json", "normals"]
    # the same priors option, checked first, in the commands that draw masks for a cohort
    for argv in (("synthesize-dataset", "--cases", out_dir, "--out", tmp_path / "syn", "--model", tmp_path / "m.pt"),
                 ("experiment", "--quick", "--out", tmp_path / "exp")):
        code, _, err = run_claim(*argv, "--priors", bad)
        assert code == 2 and err.startswith(f"claim: error: {bad}: malformed SMILE priors"), (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_priors.json", "normals"]


def test_every_command_help_names_its_outputs():
    """Each command's --help says what it writes (or that it writes nothing), and the exit statuses are documented."""
    import re

    from CLAIMLib.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    missing = [name for name, p in sub.choices.items() if not re.search(r"\bWrites\b", p.description or "")]
    assert not missing, missing
    readme = (REPO / "README.md").read_text()
    for status in ("0 done", "1 an internal error", "2 bad input", "130 interrupted"):
        assert status in readme, status
