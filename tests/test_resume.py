"""Interrupted work resumes: each long command killed with SIGKILL at three random points, resumed with --resume,
ends as an uninterrupted run with the same seed does (same step count, same files, same dataset size).

The experiment's and train-joint's own kill tests are in test_experiment.py and test_joint.py, beside the runs they
compare with; train-seg's is in test_nnunet.py."""
import csv
import json
import signal

import numpy as np
import torch

from conftest import claim_subprocess, killed_and_resumed, run_files


def test_train_diffusion_killed_three_times(cohort_dir, tmp_path):
    args = ["train-diffusion", "--data", cohort_dir, "--config", "tiny", "--steps", "40", "--batch", "4",
            "--save-every", "5", "--sample-every", "0", "--seed", "3"]
    ref = claim_subprocess(*args, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr

    def checkpoint_readable(i):  # what a kill leaves is a whole checkpoint, or none yet
        ckpt = tmp_path / "run" / "checkpoint.pt"
        if ckpt.exists():
            assert torch.load(ckpt, weights_only=False)["step"] % 5 == 0

    final, points, seed = killed_and_resumed(*args, "--out", tmp_path / "run", events=40,
                                             after_kill=checkpoint_readable)
    why = f"kills {points}, seed {seed}: {final.stderr[-2000:]}"
    assert final.returncode == 0, why
    steps = {}
    for name in ("ref", "run"):
        state = torch.load(tmp_path / name / "checkpoint.pt", weights_only=False)
        assert state["step"] == 40, why
        steps[name] = [int(r["step"]) for r in csv.DictReader((tmp_path / name / "log.csv").open())]
    assert steps["run"] == steps["ref"] == list(range(10, 41, 10)), why  # one curve, no restart
    assert run_files(tmp_path / "run") == run_files(tmp_path / "ref"), why


def test_synthesize_dataset_killed_three_times(phantom_cohort, tiny_run, tmp_path):
    from CLAIMLib.io import discover_cases, read_volume

    cohort, cases = phantom_cohort
    args = ["synthesize-dataset", "--cases", cohort, "--model", tiny_run[0], "--per-case", "2", "--steps", "2",
            "--seed", "5", "--device", "cpu"]
    ref = claim_subprocess(*args, "--out", tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "run"

    def only_whole_cases(i):  # a half-written dataset holds only complete cases
        if out.is_dir():
            for f in discover_cases(out) if any(p.is_dir() for p in out.iterdir()) else []:
                assert f.image.is_file() and f.labels.is_file()
                assert (out / f.case_id / f"{f.case_id}.json").is_file()

    final, points, seed = killed_and_resumed(*args, "--out", out, events=len(cases), after_kill=only_whole_cases)
    why = f"kills {points}, seed {seed}: {final.stderr[-2000:]}"
    assert final.returncode == 0, why
    summary = {n: json.loads((tmp_path / n / "synthesis.json").read_text()) for n in ("ref", "run")}
    assert summary["run"] == summary["ref"] and len(summary["ref"]["cases"]) == 2 * len(cases), why
    assert run_files(out) == run_files(tmp_path / "ref"), why
    for cid in summary["ref"]["cases"]:  # the same masks, drawn from each sample's own stream
        a = read_volume(out / cid / "Contours" / f"{cid}.nii.gz")[0]
        b = read_volume(tmp_path / "ref" / cid / "Contours" / f"{cid}.nii.gz")[0]
        assert np.array_equal(a, b), (cid, why)
    # resuming with other settings is refused, naming the option
    r = claim_subprocess(*args[:-4], "--seed", "6", "--device", "cpu", "--out", out, "--resume")
    assert r.returncode == 2 and "--seed" in r.stderr and "resumed" in r.stderr


def _ctrl_c_reaches_it():
    """The child starts with SIGINT at its default, as a command typed at a terminal does. A suite started in the
    background by a shell without job control (``make test &`` in a script, nohup) passes SIGINT on as ignored, and
    Python, like every Unix program, keeps it ignored: Ctrl-C would then never reach the command."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _swallowed_ctrl_c():
    """A SIGINT whose KeyboardInterrupt a C extension swallows (as numpy 2.4's Generator.choice does)."""
    import os
    import time

    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)  # the handler runs here at the latest
    except KeyboardInterrupt:
        pass


def test_a_swallowed_ctrl_c_still_stops_the_job():
    """Within ``ctrl_c`` a Ctrl-C is remembered: the next progress step raises it again, and so does the end of the
    block when the job had no step left; outside it nothing lingers."""
    import pytest

    from CLAIMLib import progress

    done = []
    with pytest.raises(KeyboardInterrupt), progress.ctrl_c():
        for i in progress.track(range(5), stage="t"):
            if i == 1:
                _swallowed_ctrl_c()
            done.append(i)
    assert done == [0, 1]
    with pytest.raises(KeyboardInterrupt), progress.ctrl_c():
        _swallowed_ctrl_c()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert list(progress.track(range(3))) == [0, 1, 2]


def test_ctrl_c_keeps_an_ignored_sigint_ignored():
    from CLAIMLib import progress

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with progress.ctrl_c():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)


def test_ctrl_c_exits_130_and_leaves_nothing(phantom_cohort, tmp_path):
    """SIGINT mid-run: exit status 130, one line, and no output (the phantom cohort's folder is not left)."""
    from conftest import claim_env

    out = tmp_path / "ph"
    proc = claim_subprocess("phantom", "--cases", "40", "--out", out, popen=True, env=claim_env(CLAIM_PROGRESS="json"),
                            preexec_fn=_ctrl_c_reaches_it)
    line = proc.stdout.readline()  # the first case is done: the work is under way
    assert "progress" in line
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == ["claim: interrupted; nothing was written"]
    assert not out.exists() and not list(tmp_path.iterdir())


def test_ctrl_c_stops_a_resumable_run_keeping_its_checkpoint(cohort_dir, tmp_path):
    """Ctrl-C in a resumable run: exit 130, one line pointing to --resume, and the last checkpoint kept."""
    from conftest import claim_env

    out = tmp_path / "run"
    proc = claim_subprocess("train-diffusion", "--data", cohort_dir, "--out", out, "--steps", "400", "--save-every",
                            "2", "--sample-every", "0", popen=True, env=claim_env(CLAIM_PROGRESS="json"),
                            preexec_fn=_ctrl_c_reaches_it)
    for line in proc.stdout:
        if '"progress"' in line and json.loads(line).get("progress", 0) > 0.01:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "--resume" in err and len(err.strip().splitlines()) == 1
    assert (out / "checkpoint.pt").is_file()
