"""The bad-input corpus: every command, every kind of bad input a user makes.

Each case must exit with status 2 and one line on stderr (``claim: error: ...``), no traceback, and leave nothing at
any output path it asked for, the ones that were fine included."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

WS = {}


@pytest.fixture(scope="module")
def ws(tmp_path_factory, phantom_cohort):
    """A workspace of inputs, good and bad, shared by the corpus."""
    from CLAIMLib.geometry import Geometry
    from CLAIMLib.io import write_volume

    root = tmp_path_factory.mktemp("bad")
    cohort, cases = phantom_cohort
    sick = next(c for c in cases if c.truth["pathological"])
    case = cohort / sick.case_id
    w = {"root": root, "cohort": cohort, "case": case,
         "L": case / "Contours" / f"{sick.case_id}.nii.gz", "I": case / "Images" / f"{sick.case_id}.nii.gz"}
    (root / "afile").write_text("a file, not a folder\n")
    w["afile"] = root / "afile"
    (root / "busy").mkdir()
    (root / "busy" / "keep.txt").write_text("someone's work\n")
    w["busy"] = root / "busy"
    (root / "dir.nii.gz").mkdir()
    w["dirfile"] = root / "dir.nii.gz"
    ones = np.ones(sick.geometry.shape, np.uint8)
    w["ones"] = write_volume(root / "ones.nii.gz", ones, sick.geometry)
    other = Geometry((4, 20, 20), (1.0, 1.0, 5.0), (0, 0, 0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    w["othergrid"] = write_volume(root / "other.nii.gz", np.zeros((4, 20, 20), np.uint8), other)
    (root / "fake.nii.gz").write_bytes(b"not an image at all")
    w["fake"] = root / "fake.nii.gz"
    rng = np.random.default_rng(0)
    (root / "garbage.pt").write_bytes(rng.bytes(4096))
    w["garbage"] = root / "garbage.pt"
    run = root / "badrun"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(rng.bytes(4096))
    w["badrun"] = run
    plans = root / "badplans"
    (plans / "fold_all").mkdir(parents=True)
    (plans / "plans.json").write_text("{not json")
    (plans / "dataset.json").write_text(json.dumps({"labels": {"background": 0}, "channel_names": {"0": "LGE"}}))
    w["badplans"] = plans
    (root / "registry.json").write_text("[broken")
    w["registry"] = root / "registry.json"
    (root / "nnUNet_raw").mkdir()
    w["nnroot"] = root
    for key, text in (("seg_lr", '"fast"'), ("seed", '"x"'), ("steps", "2.5"), ("lambda", "true")):
        cfg = root / f"joint_{key}.toml"
        cfg.write_text(f'pathological = "{cohort}"\nnormal = "{cohort}"\ngenerator = "{run}"\n'
                       f'segmenter = "{plans}"\nout = "{root / "jointout"}"\n{key} = {text}\n')
        w[f"joint_{key}"] = cfg
    WS.update(w)
    return w


def _cuda():
    import torch

    return torch.cuda.is_available()


# (name, argv with {placeholders} from the workspace, output paths that must not exist after, words in the error)
OUT = "{root}/out"
CORPUS = [
    ("info-missing", ["info", "{root}/nope.nii.gz"], [], "no such"),
    ("info-not-an-image", ["info", "{fake}"], [], "fake.nii.gz"),
    ("aha-out-unwritable", ["aha", "--labels", "{L}", "--out", "{afile}/a.nii.gz"], ["{afile}/a.nii.gz"],
     "cannot be written"),
    ("aha-out-is-a-folder", ["aha", "--labels", "{L}", "--out", "{dirfile}"], [], "is a folder"),
    ("aha-json-unwritable", ["aha", "--labels", "{L}", "--out", OUT + "/a.nii.gz", "--json", "{afile}/x.json"],
     [OUT + "/a.nii.gz", OUT], "cannot be written"),
    ("aha-out-suffix", ["aha", "--labels", "{L}", "--out", OUT + ".png"], [OUT + ".png"], "--out must end"),
    ("aha-rv-point", ["aha", "--labels", "{L}", "--out", OUT + ".nii.gz", "--rv-point", "1,2"], [OUT + ".nii.gz"],
     "--rv-point"),
    ("aha-labels-missing", ["aha", "--labels", "{root}/nope.nii.gz", "--out", OUT + ".nii.gz"], [OUT + ".nii.gz"],
     "nope.nii.gz"),
    ("bullseye-csv-unwritable", ["bullseye", "--labels", "{L}", "--out", OUT + "/f.png", "--csv", "{afile}/t.csv"],
     [OUT + "/f.png", OUT], "cannot be written"),
    ("bullseye-out-suffix", ["bullseye", "--labels", "{L}", "--out", OUT + ".pdf"], [OUT + ".pdf"], ".png or .svg"),
    ("bullseye-scar-everywhere", ["bullseye", "--labels", "{L}", "--scar", "{ones}", "--out", OUT + ".png"],
     [OUT + ".png"], "outside the myocardium"),
    ("bullseye-aha-other-grid", ["bullseye", "--labels", "{L}", "--aha", "{othergrid}", "--out", OUT + ".png"],
     [OUT + ".png"], "grid"),
    ("smile-beyond-capacity", ["smile", "--labels", "{L}", "--segments", "4,10", "--volume-ml", "500", "--out",
                               OUT + "/s.nii.gz"], [OUT + "/s.nii.gz", OUT + "/s.json", OUT], "--allow-less"),
    ("smile-duplicate-segments", ["smile", "--labels", "{L}", "--segments", "4,4,10", "--out", OUT + ".nii.gz"],
     [OUT + ".nii.gz"], "twice"),
    ("smile-volume-unchosen-segment", ["smile", "--labels", "{L}", "--segments", "4,10", "--volume-ml", "4:3,7:2",
                                       "--out", OUT + ".nii.gz"], [OUT + ".nii.gz"], "segment 7"),
    ("smile-volume-segment-twice", ["smile", "--labels", "{L}", "--volume-ml", "4:3,4:2", "--out", OUT + ".nii.gz"],
     [OUT + ".nii.gz"], "twice"),
    ("smile-max-segments-0", ["smile", "--labels", "{L}", "--max-segments", "0", "--out", OUT + ".nii.gz"],
     [OUT + ".nii.gz"], "--max-segments"),
    ("smile-count-0", ["smile", "--labels", "{L}", "--count", "0", "--out", OUT + ".nii.gz"], [OUT + ".nii.gz"],
     "--count"),
    ("smile-segment-18", ["smile", "--labels", "{L}", "--segments", "3,18", "--out", OUT + ".nii.gz"],
     [OUT + ".nii.gz"], "1-17"),
    ("smile-out-unwritable", ["smile", "--labels", "{L}", "--out", "{afile}/s.nii.gz"], [], "cannot be written"),
    ("smile-priors-suffix", ["smile-priors", "--reference", "{cohort}", "--out", OUT + ".txt"], [OUT + ".txt"],
     ".json"),
    ("mask-stats-missing", ["mask-stats", "--masks", "{root}/nope", "--reference", "{cohort}", "--out",
                            OUT + ".json"], [OUT + ".json"], "no such folder"),
    ("scar-method", ["scar", "{L}", "--image", "{I}", "--method", "nsd:9", "--out", OUT + ".nii.gz"],
     [OUT + ".nii.gz"], "--method"),
    ("scar-json-unwritable", ["scar", "{L}", "--image", "{I}", "--out", OUT + "/s.nii.gz", "--json",
                              "{afile}/s.json"], [OUT + "/s.nii.gz", OUT], "cannot be written"),
    ("scar-folder-exists", ["scar", "{cohort}", "--out", "{busy}"], [], "--overwrite"),
    ("convert-out-is-a-file", ["convert", "{case}", "--out", "{afile}"], [], "not a folder"),
    ("phantom-cases-0", ["phantom", "--cases", "0", "--out", OUT], [OUT], "--cases"),
    ("phantom-out-exists", ["phantom", "--cases", "1", "--out", "{busy}"], [], "--overwrite"),
    ("demo-cases-2", ["demo", "--cases", "2", "--out", OUT], [OUT], "--cases"),
    ("train-diffusion-out-is-a-file", ["train-diffusion", "--data", "{cohort}", "--out", "{afile}", "--steps", "2"],
     [], "not a folder"),
    ("train-diffusion-save-every", ["train-diffusion", "--data", "{cohort}", "--out", OUT, "--save-every", "-1"],
     [OUT], "--save-every"),
    ("train-diffusion-run-exists", ["train-diffusion", "--data", "{cohort}", "--out", "{badrun}", "--steps", "2"],
     [], "--resume"),
    ("train-diffusion-resume-corrupt", ["train-diffusion", "--data", "{cohort}", "--out", "{badrun}", "--resume",
                                        "--steps", "2"], [], "checkpoint"),
    ("train-diffusion-resume-and-overwrite", ["train-diffusion", "--data", "{cohort}", "--out", "{badrun}",
                                              "--resume", "--overwrite"], [], "--overwrite"),
    ("train-diffusion-device", ["train-diffusion", "--data", "{cohort}", "--out", OUT, "--device", "tpu"], [OUT],
     "--device"),
    ("synthesize-corrupt-checkpoint", ["synthesize", "--image", "{I}", "--labels", "{L}", "--mask", "{L}", "--model",
                                       "{garbage}", "--out", OUT + "/x.nii.gz"], [OUT + "/x.nii.gz", OUT],
     "checkpoint"),
    ("synthesize-device", ["synthesize", "--image", "{I}", "--labels", "{L}", "--mask", "{L}", "--model",
                           "{garbage}", "--device", "nonsense", "--out", OUT + ".nii.gz"], [OUT + ".nii.gz"],
     "--device"),
    ("synthesize-labels-out-unwritable", ["synthesize", "--image", "{I}", "--labels", "{L}", "--mask", "{L}",
                                          "--model", "{garbage}", "--out", OUT + "/x.nii.gz", "--out-labels",
                                          "{afile}/l.nii.gz"], [OUT + "/x.nii.gz", OUT], "cannot be written"),
    ("synthesize-mask-everywhere", ["synthesize", "--image", "{I}", "--labels", "{L}", "--mask", "{ones}",
                                    "--model", "{garbage}", "--out", OUT + ".nii.gz"], [OUT + ".nii.gz"],
     "outside the myocardium"),
    ("synthesize-dataset-per-case-0", ["synthesize-dataset", "--cases", "{cohort}", "--model", "{garbage}",
                                       "--per-case", "0", "--out", OUT], [OUT], "--per-case"),
    ("synthesize-dataset-out-exists", ["synthesize-dataset", "--cases", "{cohort}", "--model", "{garbage}",
                                       "--out", "{busy}"], [], "--resume"),
    ("export-nnunet-raw-is-a-file", ["export-nnunet", "--cases", "{cohort}", "--id", "5", "--name", "X", "--raw",
                                     "{afile}"], [], "not a folder"),
    ("export-nnunet-id", ["export-nnunet", "--cases", "{cohort}", "--id", "0", "--name", "X", "--raw", OUT],
     [OUT], "--id"),
    ("train-seg-fold", ["train-seg", "--dataset", "5", "--fold", "7", "--root", "{nnroot}"], [], "--fold"),
    ("train-seg-no-dataset", ["train-seg", "--dataset", "5", "--root", "{nnroot}", "--device", "cpu"], [],
     "export-nnunet"),
    ("segment-plans-not-json", ["segment", "--image", "{I}", "--model", "{badplans}", "--out", OUT + ".nii.gz"],
     [OUT + ".nii.gz"], "plans.json"),
    ("segment-labels-missing", ["segment", "--image", "{I}", "--labels", "{root}/nope.nii.gz", "--model",
                                "{badplans}", "--out", OUT + ".nii.gz"], [OUT + ".nii.gz"], "nope.nii.gz"),
    ("segment-out-unwritable", ["segment", "--image", "{I}", "--model", "{badplans}", "--out", "{afile}/x.nii.gz"],
     [], "cannot be written"),
    ("evaluate-bullseye-suffix", ["evaluate", "--pred", "{cohort}", "--gt", "{cohort}", "--csv", OUT + ".csv",
                                  "--bullseye", OUT + ".pdf"], [OUT + ".csv", OUT + ".pdf"], ".png or .svg"),
    ("evaluate-csv-unwritable", ["evaluate", "--pred", "{cohort}", "--gt", "{cohort}", "--csv", "{afile}/m.csv"],
     [], "cannot be written"),
    ("evaluate-pred-missing", ["evaluate", "--pred", "{root}/nope", "--gt", "{cohort}", "--csv", OUT + ".csv"],
     [OUT + ".csv"], "nope"),
    ("evaluate-synthesis-out-is-a-file", ["evaluate-synthesis", "--cases", "{cohort}", "--model", "{garbage}",
                                          "--out", "{afile}"], [], "not a folder"),
    ("experiment-test-fraction", ["experiment", "--quick", "--test-fraction", "1.5", "--out", OUT], [OUT],
     "--test-fraction"),
    ("experiment-out-exists", ["experiment", "--quick", "--out", "{busy}"], [], "--resume"),
    ("train-joint-seg-lr-text", ["train-joint", "--config", "{joint_seg_lr}"], ["{root}/jointout"], "seg_lr"),
    ("train-joint-seed-text", ["train-joint", "--config", "{joint_seed}"], ["{root}/jointout"], "seed"),
    ("train-joint-steps-fraction", ["train-joint", "--config", "{joint_steps}"], ["{root}/jointout"], "steps"),
    ("train-joint-lambda-bool", ["train-joint", "--config", "{joint_lambda}"], ["{root}/jointout"], "lambda"),
    ("train-joint-config-missing", ["train-joint", "--config", "{root}/nope.toml"], [], "nope.toml"),
    ("models-install-missing", ["models", "install", "{root}/nope.zip"], [], "nope.zip"),
    ("models-install-sha256", ["models", "install", "{garbage}", "--sha256", "0" * 64, "--name", "g"], [], "SHA256"),
    ("models-export-suffix", ["models", "export", "{badplans}", "--out", OUT + ".tar"], [OUT + ".tar"], ".zip"),
    ("models-list-bad-registry", ["models", "list", "--registry", "{registry}"], [], "registry.json"),
    ("dicom-folder-without-series", ["info", "--image", "{busy}"], [], "busy"),
]


def _fill(text: str) -> str:
    return text.format(**{k: str(v) for k, v in WS.items()})


def _snapshot(root: Path) -> set:
    return {p.relative_to(root) for p in root.rglob("*")}


@pytest.mark.parametrize("name,argv,outputs,words", CORPUS, ids=[c[0] for c in CORPUS])
def test_bad_input_is_one_line_exit_2_nothing_left(ws, run_claim, name, argv, outputs, words):
    if name.endswith("device") and _cuda():
        pytest.skip("a machine with CUDA")
    before = _snapshot(ws["root"])
    code, out, err = run_claim(*[_fill(a) for a in argv])
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("claim: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    assert words.lower() in err.lower(), err
    for path in outputs:
        assert not Path(_fill(path)).exists(), f"{name} left {path}"
    after = _snapshot(ws["root"])  # nothing new anywhere, no temporary either
    assert after - before == set(), f"{name} left {sorted(map(str, after - before))[:5]}"
    assert (ws["busy"] / "keep.txt").read_text() == "someone's work\n"


def test_corpus_covers_every_command():
    from CLAIMLib.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    covered = {argv[0] for _, argv, _, _ in CORPUS}
    assert set(sub.choices) <= covered, set(sub.choices) - covered
    assert len(CORPUS) >= 40


def test_unwritable_folder_is_an_input_error(ws, run_claim, tmp_path):
    """A folder without write permission (not testable as root, who may write anywhere)."""
    if os.geteuid() == 0:
        pytest.skip("running as root")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run_claim("aha", "--labels", ws["L"], "--out", ro / "a.nii.gz")
    finally:
        ro.chmod(0o755)
    assert code == 2 and "not writable" in err and not (ro / "a.nii.gz").exists()


def test_corrupt_checkpoint_in_a_model_folder(ws, run_claim, trained_seg, tmp_path):
    """Random bytes where nnU-Net's checkpoint should be: the error names the file."""
    model, held = trained_seg
    broken = tmp_path / model.name
    shutil.copytree(model, broken)
    (broken / "fold_all" / "checkpoint_final.pth").write_bytes(np.random.default_rng(1).bytes(2048))
    out = tmp_path / "x.nii.gz"
    code, _, err = run_claim("segment", "--image", ws["I"], "--model", broken, "--out", out, "--device", "cpu")
    assert code == 2, err
    assert "checkpoint_final.pth" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_overwrite_replaces_and_a_failure_brings_the_old_folder_back(tmp_path):
    from CLAIMLib.errors import InputError
    from CLAIMLib.io import write_text
    from CLAIMLib.outputs import output_file, output_folder, transaction

    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(InputError):
        with transaction():
            output_folder(out, "--out", overwrite=True)
            write_text(out / "new.txt", "new")
            raise InputError("x", "a failure after the work began")
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    with transaction():
        output_folder(out, "--out", overwrite=True)
        write_text(out / "new.txt", "new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    # declared files appear only at the end, together; a failure leaves none, and no folder made for them
    a, b = tmp_path / "deep" / "a.txt", tmp_path / "deep" / "b.txt"
    with pytest.raises(KeyboardInterrupt):
        with transaction():
            output_file(a, "--a")
            output_file(b, "--b")
            write_text(a, "a")
            assert not a.exists()
            raise KeyboardInterrupt
    assert not (tmp_path / "deep").exists()
    with transaction():
        output_file(a, "--a")
        write_text(a, "a")
    assert a.read_text() == "a"
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary, no folder left aside


def test_a_resumable_run_keeps_its_checkpoint_when_interrupted(tmp_path):
    from CLAIMLib.io import write_text
    from CLAIMLib.outputs import has_file, output_folder, transaction

    for made_checkpoint in (False, True):
        out = tmp_path / f"run{made_checkpoint}"
        with pytest.raises(KeyboardInterrupt):
            with transaction():
                output_folder(out, "--out", keep=has_file("checkpoint.pt"), resumable=True)
                write_text(out / "log.csv", "step\n")
                if made_checkpoint:
                    write_text(out / "checkpoint.pt", "state")
                raise KeyboardInterrupt
        assert out.exists() == made_checkpoint


def test_smile_allow_less_warns_with_the_achieved_volume(ws, run_claim, tmp_path):
    out = tmp_path / "s.nii.gz"
    code, _, err = run_claim("smile", "--labels", ws["L"], "--segments", "4,10", "--volume-ml", "500",
                             "--allow-less", "--out", out)
    assert code == 0 and out.exists()
    warning = [line for line in err.splitlines() if "500.0 mL asked" in line]
    assert warning and "reached" in warning[0]


def test_a_failure_keeps_the_users_empty_output_folder(tmp_path):
    from CLAIMLib.errors import InputError
    from CLAIMLib.io import write_text
    from CLAIMLib.outputs import output_folder, transaction

    out = tmp_path / "empty"
    out.mkdir()
    with pytest.raises(InputError):
        with transaction():
            output_folder(out, "--out")
            write_text(out / "half.txt", "half")
            raise InputError("x", "a failure after the work began")
    assert out.is_dir() and not any(out.iterdir())
