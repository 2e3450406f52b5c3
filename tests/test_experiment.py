"""`claim experiment`: the paper's Table-2 protocol end to end on the phantom cohort (--quick), resumable."""
import csv
import json

import pytest

from conftest import claim_subprocess, killed_and_resumed


def _run(*args, timeout=1800):
    return claim_subprocess(*args, timeout=timeout)


def test_split_holds_out_each_group():
    from CLAIMLib.workflows.experiment import split_cases

    p = [f"P{i:03d}" for i in range(67)]
    n = [f"N{i:03d}" for i in range(33)]
    s = split_cases(p, n, 0.15, seed=0)
    assert (len(s["train_P"]), len(s["test_P"]), len(s["train_N"]), len(s["test_N"])) == (57, 10, 28, 5)  # the paper
    assert not set(s["test_P"]) & set(s["train_P"]) and sorted(s["train_P"] + s["test_P"]) == p
    assert split_cases(p, n, 0.15, seed=0) == s and split_cases(p, n, 0.15, seed=1) != s
    small = split_cases(["a", "b"], ["c"], 0.15, 0)
    assert len(small["test_P"]) == 1 and small["test_N"] == [] and small["train_N"] == ["c"]


def test_settings_parse(run_claim, tmp_path):
    from CLAIMLib.workflows.experiment import parse_settings

    assert parse_settings("P, P+N'' ,P+P1+N2") == ("P", "P+N2", "P+P1+N2")
    code, _, err = run_claim("experiment", "--quick", "--out", tmp_path / "x", "--settings", "P,Q")
    assert code == 2 and err.startswith("claim: error: --settings: unknown setting Q") and not (tmp_path / "x").exists()
    code, _, err = run_claim("experiment", "--pathological", tmp_path, "--normal", tmp_path, "--out", tmp_path / "y")
    assert code == 2 and err.startswith("claim: error: --diffusion: is required")


QUICK = ("experiment", "--quick", "--trainer", "nnUNetTrainerCLAIMShort")
# three of Table 2's four settings: the baseline, a subset of the normal cohort (N' is the first 2 of N''), and both
# cohorts at once; P+N'' adds nothing these do not exercise (its members: test_no_qc_twins_make_ungated_cohorts)
SETTINGS = ("--settings", "P,P+N1,P+P1+N2")


@pytest.fixture(scope="module")
def quick_run(tiny_run, tmp_path_factory):
    """--quick on the phantom cohort with the session's tiny generator and nnU-Net's shortest CLAIM schedule (the
    real --quick trains its own generator, runs all four settings and uses a longer schedule; its timing is in
    bench/README.md)."""
    out = tmp_path_factory.mktemp("experiment") / "exp"
    r = _run(*QUICK, *SETTINGS, "--out", out, "--diffusion", tiny_run[0])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return out


def test_quick_experiment_writes_table_2(quick_run, tiny_run, tmp_path):
    out = quick_run
    args = (*QUICK, *SETTINGS, "--out", out, "--diffusion", tiny_run[0])
    split = json.loads((out / "split.json").read_text())
    n_p, n_n = len(split["train_P"]), len(split["train_N"])
    assert (len(split["test_P"]), len(split["test_N"])) == (2, 1) and (n_p, n_n) == (8, 4)
    rows = {row["setting"]: row for row in csv.DictReader((out / "table.csv").open())}
    assert list(rows) == ["P", "P+N1", "P+P1+N2"]
    synthetic = {s: int(rows[s]["train_synthetic"]) for s in rows}
    assert synthetic == {"P": 0, "P+N1": 2 * n_n, "P+P1+N2": 5 * n_n + n_p}
    assert all(int(rows[s]["train_real"]) == n_p and int(rows[s]["test_cases"]) == 3 for s in rows)
    for s, row in rows.items():
        for m in ("dice", "precision", "sensitivity", "specificity"):
            assert 0 <= float(row[f"scar_{m}_mean"]) <= 1
    # no test case, and no synthetic case made from one, is in any training set
    test = set(split["test_P"] + split["test_N"])
    for dataset in (out / "nnunet" / "nnUNet_raw").iterdir():
        sources = json.loads((dataset / "dataset.json").read_text())["cases"].values()
        assert not {c.split("_syn")[0] for c in sources} & test
    per_case = list(csv.DictReader((out / "per_case.csv").open()))
    assert {(r["setting"], r["case"]) for r in per_case} == {(s, c) for s in rows for c in test}
    md = (out / "table.md").read_text()
    assert all(name in md for name in ("| P |", "| P+N' |", "| P+P'+N'' |")) and "| P+N'' |" not in md
    assert (out / "bullseye.png").stat().st_size > 20000
    # a rerun without --resume is refused; with it, every stage is reused: nothing is trained or predicted again
    r = _run(*args)
    assert r.returncode == 2 and "--resume" in r.stderr
    stamp = {p: p.stat().st_mtime for p in out.rglob("checkpoint_final.pth")}
    r = _run(*args, "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {p: p.stat().st_mtime for p in out.rglob("checkpoint_final.pth")} == stamp and len(stamp) == 3
    # the same folder with other cases is refused, and so is a case in both groups
    import shutil

    fewer = tmp_path / "fewer"
    for d in sorted((out / "phantom" / "normal").iterdir())[:3]:
        shutil.copytree(d, fewer / d.name)
    r = _run("experiment", "--pathological", out / "phantom" / "pathological", "--normal", fewer,
             "--diffusion", tiny_run[0], "--out", out, "--resume")
    assert r.returncode == 2 and "holds an experiment on other cases" in r.stderr and "Traceback" not in r.stderr
    r = _run("experiment", "--pathological", out / "phantom" / "pathological", "--normal",
             out / "phantom" / "pathological", "--diffusion", tiny_run[0], "--out", tmp_path / "new")
    assert r.returncode == 2 and "also among the pathological cases" in r.stderr


def test_no_qc_twins_make_ungated_cohorts(tiny_run, tmp_path):
    """A ``-noqc`` twin setting trains on the same synthetic cohort made without the quality gate: both cohorts are
    made, the gated one records its acceptance, the twin none, and table.md reports both."""
    from CLAIMLib.phantom import generate_cohort
    from CLAIMLib.workflows.experiment import (PAPER_NAMES, ExperimentOptions, _members, _qc_lines, make_synthetic,
                                               parse_settings)

    assert parse_settings("P+N1-noqc,P+N2") == ("P+N1-noqc", "P+N2") and PAPER_NAMES["P+N1-noqc"] == "P+N' (no QC)"
    normals = {p.case_id: (None, p.to_case()) for p in generate_cohort(1, seed=21, normal_fraction=1.0)}
    split = {"train_N": list(normals), "train_P": [], "test_N": [], "test_P": []}
    options = ExperimentOptions(settings=("P+N1", "P+N1-noqc"), synthesis={"sampler": "dpm", "steps": 3})
    make_synthetic(tmp_path, split, {}, normals, tiny_run[0], options)
    gated = json.loads((tmp_path / "synthetic" / "N" / "synthesis.json").read_text())
    plain = json.loads((tmp_path / "synthetic" / "N-noqc" / "synthesis.json").read_text())
    assert gated["qc"]["samples"] >= 5 and plain["qc"] is None and len(plain["cases"]) == len(gated["cases"]) == 5
    assert [c.case_id for c in _members(tmp_path, split, {}, "N1-noqc")] == plain["cases"][:2]
    lines = _qc_lines(tmp_path)
    assert any("quality gate accepted" in line for line in lines)
    assert any("N-noqc: made without the quality gate" in line for line in lines)


def test_experiment_killed_three_times_resumes(quick_run, tiny_run, tmp_path):
    """P+N' killed with SIGKILL at three random points (cohort, synthesis, nnU-Net), resumed with --resume: the
    split, the synthetic cohort, the training set and the scored cases are those of the uninterrupted run."""
    out = tmp_path / "exp"
    final, points, seed = killed_and_resumed(*QUICK, "--settings", "P+N1", "--diffusion", tiny_run[0], "--out", out,
                                             events=12)
    why = f"kills {points}, seed {seed}: {final.stdout[-1500:]} {final.stderr[-1500:]}"
    assert final.returncode == 0, why
    for name in ("split.json", "synthetic/N/synthesis.json"):
        assert json.loads((out / name).read_text()) == json.loads((quick_run / name).read_text()), (name, why)
    rows = {n: {row["setting"]: row for row in csv.DictReader((d / "table.csv").open())}
            for n, d in (("ref", quick_run), ("run", out))}
    for key in ("train_real", "train_synthetic", "test_cases", "test_pathological"):
        assert rows["run"]["P+N1"][key] == rows["ref"]["P+N1"][key], (key, why)

    def training_set(root):
        (dataset,) = [d for d in (root / "nnunet" / "nnUNet_raw").iterdir() if d.name.endswith("P_N1")]
        return json.loads((dataset / "dataset.json").read_text())["cases"]

    assert training_set(out) == training_set(quick_run), why
    assert sorted(p.name for p in (out / "predictions" / "P+N1").iterdir()) == \
        sorted(p.name for p in (quick_run / "predictions" / "P+N1").iterdir()), why
