"""The models home: nnU-Net's export zip both ways (claim against stock nnU-Net), install by file, URL and registry
with SHA256, list, --model NAME in the CLI and the joint config, and nothing left behind by a failed install."""
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from CLAIMLib.io import read_volume
from CLAIMLib.workflows.models import sha256_of


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A models home of the test's own."""
    monkeypatch.setenv("CLAIM_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "models"


def stock(tool, *args, env=None):
    exe = os.path.join(os.path.dirname(sys.executable), tool)
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def nnunet_dirs(root):
    return {"nnUNet_raw": str(root / "raw"), "nnUNet_preprocessed": str(root / "pre"),
            "nnUNet_results": str(root / "results")}


def test_claim_export_installs_with_stock_nnunet(trained_seg, home, tmp_path, run_claim):
    from CLAIMLib.segmentation import ModelFolder

    model, _ = trained_seg
    code, out, err = run_claim("models", "export", model, "--out", tmp_path / "m.zip")
    assert code == 0, err
    names = zipfile.ZipFile(tmp_path / "m.zip").namelist()
    prefix = "Dataset042_Phantoms/nnUNetTrainerCLAIMShort__nnUNetPlans__2d/"
    assert {prefix + f for f in ("plans.json", "dataset.json", "fold_all/checkpoint_final.pth")} <= set(names)
    r = stock("nnUNetv2_install_pretrained_model_from_zip", tmp_path / "m.zip", env=nnunet_dirs(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    installed = ModelFolder(tmp_path / "results" / prefix)
    assert installed.folds == ["all"] and installed.labels == ModelFolder(model).labels
    assert (installed.checkpoint_path("all").read_bytes() == (model / "fold_all" / "checkpoint_final.pth").read_bytes())
    code, _, err = run_claim("models", "export", model, "--out", tmp_path / "m.tar")
    assert code == 2 and err.startswith(f"claim: error: {tmp_path / 'm.tar'}: --out must end with .zip")


def test_stock_export_installs_and_segments_by_name(trained_seg, home, tmp_path, run_claim):
    model, held = trained_seg
    root = model.parents[2]
    r = stock("nnUNetv2_export_model_to_zip", "-d", 42, "-o", tmp_path / "stock.zip", "-c", "2d",
              "-tr", "nnUNetTrainerCLAIMShort", "-f", "all", env={**nnunet_dirs(root),
                                                                   "nnUNet_results": str(root / "nnUNet_results")})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    digest = sha256_of(tmp_path / "stock.zip")
    code, _, err = run_claim("models", "install", tmp_path / "stock.zip", "--name", "phantoms", "--sha256", "0" * 64)
    assert code == 2 and "SHA256 mismatch" in err and len(err.splitlines()) == 1
    assert not home.exists() or [p.name for p in home.iterdir()] == []  # nothing left behind
    code, out, err = run_claim("models", "install", tmp_path / "stock.zip", "--name", "phantoms", "--sha256", digest)
    assert code == 0, err
    code, out, err = run_claim("models", "list")
    assert code == 0, err
    row = next(line for line in out.splitlines() if line.startswith("phantoms"))
    assert row.split()[:2] == ["phantoms", "segmenter"] and "cavity, myocardium, scar" in row
    assert row.split()[-2:] == ["2d", "all"]
    code, _, err = run_claim("models", "install", tmp_path / "stock.zip", "--name", "phantoms")
    assert code == 2 and "--overwrite" in err
    case = sorted(held.iterdir())[0]
    image = case / "Images" / f"{case.name}.nii.gz"
    for name, value in (("by_name", "phantoms"), ("by_path", model)):
        code, out, err = run_claim("segment", "--image", image, "--model", value, "--out", tmp_path / f"{name}.nii.gz",
                                   "--device", "cpu")
        assert code == 0, err
    assert np.array_equal(read_volume(tmp_path / "by_name.nii.gz")[0], read_volume(tmp_path / "by_path.nii.gz")[0])
    code, _, err = run_claim("segment", "--image", image, "--model", "nosuchmodel", "--out", tmp_path / "x.nii.gz")
    assert code == 2 and "no such nnU-Net model folder or installed model" in err


def test_url_registry_generator_and_joint_config(tiny_run, trained_seg, home, tmp_path, run_claim, cohort_dir):
    from CLAIMLib.diffusion.sample import resolve_checkpoint
    from CLAIMLib.joint import read_config

    ckpt = tiny_run[0] / "checkpoint.pt"
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps([{"name": "tinygen", "url": ckpt.as_uri(), "sha256": sha256_of(ckpt),
                                     "kind": "generator", "description": "the suite's tiny generator"}]))
    code, out, err = run_claim("models", "list", "--registry", registry)
    assert code == 0 and "tinygen (not installed)" in out, err
    code, out, err = run_claim("models", "install", "tinygen", "--registry", registry)
    assert code == 0, err
    assert resolve_checkpoint("tinygen") == home / "tinygen" / "checkpoint.pt"
    code, out, err = run_claim("models", "list", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["kind"], r["configuration"]) for r in rows] == [("tinygen", "generator", "tiny")]
    code, _, err = run_claim("models", "export", "tinygen", "--out", tmp_path / "g.zip")
    assert code == 2 and "is a generator" in err and not (tmp_path / "g.zip").exists()
    # --model NAME in synthesis
    case = sorted(cohort_dir.iterdir())[0]
    image, labels = case / "Images" / f"{case.name}.nii.gz", case / "Contours" / f"{case.name}.nii.gz"
    code, out, err = run_claim("synthesize", "--image", image, "--labels", labels, "--mask", labels,
                               "--model", "tinygen", "--out", tmp_path / "syn.nii.gz", "--device", "cpu")
    assert code == 0, err
    # an installed segmenter by name in the joint config, from a folder (a model folder installs as it is)
    code, _, err = run_claim("models", "install", trained_seg[0], "--name", "seg")
    assert code == 0, err
    config = tmp_path / "joint.toml"
    config.write_text(f'pathological = "{cohort_dir}"\nnormal = "{cohort_dir}"\ngenerator = "tinygen"\n'
                      f'segmenter = "seg"\nout = "run"\n')
    cfg = read_config(config)
    assert cfg.generator == str(home / "tinygen" / "checkpoint.pt")
    assert cfg.segmenter == str(home / "seg" / "nnUNet_results" / "Dataset042_Phantoms" /
                                "nnUNetTrainerCLAIMShort__nnUNetPlans__2d")
    config.write_text(config.read_text().replace('segmenter = "seg"', 'segmenter = "tinygen"'))
    with pytest.raises(Exception, match="is an installed generator, not a segmenter"):
        read_config(config)


def test_bad_sources_leave_nothing(home, tmp_path, run_claim):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(os.urandom(2000))
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("README.txt", "nothing here")
    for source, problem in ((junk, "is neither an nnU-Net model nor a CLAIM generator checkpoint"),
                            (empty, "holds neither a trained nnU-Net model folder"),
                            (tmp_path / "missing.zip", "no such file, folder or URL"),
                            ("file:///nonexistent/model.zip", "cannot be downloaded")):
        code, out, err = run_claim("models", "install", source)
        assert code == 2 and problem in err and len(err.splitlines()) == 1, err
        assert not home.exists() or list(home.iterdir()) == []
    code, _, err = run_claim("models", "install", junk, "--name", "a b")
    assert code == 2 and err.startswith("claim: error: --name: ")
    (tmp_path / "r.json").write_text("{not json")
    code, _, err = run_claim("models", "list", "--registry", tmp_path / "r.json")
    assert code == 2 and err.startswith(f"claim: error: {tmp_path / 'r.json'}: is not a JSON registry")


def test_a_folder_outside_a_dataset_installs_and_exports_under_nnunet_names(home, tmp_path, run_claim):
    """A model folder not laid out as nnU-Net's results (joint training's segmenter/): its trainer and configuration
    come from its checkpoint, its dataset name from dataset.json; installed and exported under those names."""
    from test_model_folder import make_model

    folder = make_model(tmp_path / "run", name="segmenter", folds=("all",),
                        header={"trainer_name": "nnUNetTrainerJointX", "init_args": {"configuration": "2d"}})
    data = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**data, "name": "Joint run"}))
    code, out, err = run_claim("models", "install", folder, "--name", "joint-seg")
    assert code == 0, err
    assert (home / "joint-seg" / "nnUNet_results" / "Dataset999_Joint_run" / "nnUNetTrainerJointX__nnUNetPlans__2d"
            / "fold_all" / "checkpoint_final.pth").is_file()
    code, out, err = run_claim("models", "list")
    assert "joint-seg" in out and "cavity, myocardium, scar, mvo" in out, out
    code, out, err = run_claim("models", "export", folder, "--out", tmp_path / "j.zip")
    assert code == 0, err
    names = zipfile.ZipFile(tmp_path / "j.zip").namelist()
    assert "Dataset999_Joint_run/nnUNetTrainerJointX__nnUNetPlans__2d/fold_all/checkpoint_final.pth" in names
