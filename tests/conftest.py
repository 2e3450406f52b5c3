import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "CLAIM"))  # CLAIMSlicerLib, as Slicer puts the module folder on the path

os.environ.setdefault("CLAIM_PROGRESS", "none")
# installed models go to a models home of the test session's own, never the user's
os.environ["CLAIM_HOME"] = tempfile.mkdtemp(prefix="claim-home-")
os.environ.pop("CLAIM_REGISTRY", None)


def emidec_root() -> Path | None:
    env = os.environ.get("CLAIM_EMIDEC")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data" / "emidec"]:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def emidec():
    root = emidec_root()
    if root is None:
        pytest.skip("EMIDEC samples not found (../shared/data/emidec or $CLAIM_EMIDEC)")
    return root


@pytest.fixture(scope="session")
def phantom_cohort(tmp_path_factory):
    """A small cohort on disk (EMIDEC layout) with its in-memory cases."""
    from CLAIMLib.phantom import generate_cohort, write_case

    out = tmp_path_factory.mktemp("cohort")
    cases = list(generate_cohort(5, seed=11, normal_fraction=0.4))
    for c in cases:
        write_case(c, out)
    return out, cases


TRAIN_STEPS = 600


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory):
    """A pathological phantom cohort on disk, for training the generator."""
    from CLAIMLib.phantom import generate_cohort, write_case

    out = tmp_path_factory.mktemp("sick")
    for p in generate_cohort(8, seed=3, normal_fraction=0.0):
        write_case(p, out)
    return out


@pytest.fixture(scope="session")
def tiny_run(cohort_dir, tmp_path_factory):
    """The tiny generator config trained on the pathological cohort through the CLI, and how long it took."""
    import time

    from CLAIMLib.cli import main

    run = tmp_path_factory.mktemp("run")
    t = time.perf_counter()
    code = main(["train-diffusion", "--data", str(cohort_dir), "--out", str(run), "--config", "tiny",
                 "--steps", str(TRAIN_STEPS), "--sample-every", "0"])
    seconds = time.perf_counter() - t
    assert code == 0
    return run, seconds


def claim_env(**extra) -> dict:
    """The environment of a ``python -m CLAIMLib`` child: CLAIMLib on PYTHONPATH (``runner.library_env``), no
    progress bars, two data-augmentation workers for nnU-Net; ``extra`` on top."""
    from CLAIMLib.runner import library_env

    return {**os.environ, **library_env({"CLAIM_PROGRESS": "none", "nnUNet_n_proc_DA": "2", **extra})}


def claim_subprocess(*args, popen=False, **kw):
    """``python -m CLAIMLib ARGS`` in a child process: ``subprocess.run`` with captured text output, or with
    ``popen=True`` a ``Popen`` with piped stdout and stderr."""
    from CLAIMLib.runner import claim_command

    kw.setdefault("env", claim_env())
    if popen:
        return subprocess.Popen(claim_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    return subprocess.run(claim_command(*args), capture_output=True, text=True, errors="replace", **kw)


def alive(pid: int) -> bool:
    """Is the process running (a zombie waiting to be reaped counts as gone)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except (OSError, IndexError):
            return False
    return True


def gone_soon(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


@pytest.fixture
def run_claim(capsys):
    """Run ``claim`` in-process; returns (exit status, stdout, stderr)."""
    from CLAIMLib.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def oblique_geometry(shape=(6, 40, 48)):
    """A grid with an oblique direction, odd spacing and origin: exercises every geometry path."""
    from CLAIMLib.geometry import Geometry

    a, b = np.deg2rad(30), np.deg2rad(-20)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    d = rz @ rx
    return Geometry(shape, (1.40625, 1.5, 10.0), (-12.5, 33.25, 101.0), tuple(d.ravel().tolist()))


def ring_labels(shape=(6, 40, 48), scar=True, mvo=True):
    """EMIDEC-valued labels: a cavity disc and a myocardial ring on every slice, with scar and MVO."""
    k, j, i = np.mgrid[0:shape[0], 0:shape[1], 0:shape[2]]
    r = np.hypot(j - shape[1] / 2, i - shape[2] / 2)
    lab = np.zeros(shape, np.uint8)
    lab[r < 8] = 1
    lab[(r >= 8) & (r < 12)] = 2
    if scar:
        lab[(r >= 8) & (r < 12) & (i > shape[2] / 2 + 4)] = 3
    if mvo:
        lab[(r >= 8) & (r < 9.5) & (i > shape[2] / 2 + 8)] = 4
    return lab


@pytest.fixture(scope="session")
def trained_seg(tmp_path_factory):
    """nnU-Net (2d, CLAIM's short trainer: 3 epochs of 5 iterations) trained on phantoms on the CPU, via the CLI.

    Too short to segment scar well: these tests check the pipeline (export, plan, train, predict, evaluate) and
    the grids, not the accuracy."""
    root = tmp_path_factory.mktemp("nnunet")
    model = export_and_train(root, cases=8, train=6, seed=61, normal_fraction=0.2, dataset=42, name="Phantoms",
                              trainer="nnUNetTrainerCLAIMShort")
    assert (model / "fold_all" / "checkpoint_final.pth").is_file()
    return model, root / "held"


TRAIN_OUTPUT = {}  # dataset id -> (stdout, stderr) of its claim train-seg run


def export_and_train(root, cases, train, seed, normal_fraction, dataset, name, trainer, difficulty="clinical"):
    """Phantoms 1..train under root/cases, the rest under root/held; export and train (fold all) via the CLI."""
    from CLAIMLib.phantom import generate_cohort, write_case

    for p in generate_cohort(cases, seed=seed, normal_fraction=normal_fraction, difficulty=difficulty):
        write_case(p, root / ("cases" if int(p.case_id[-3:]) <= train else "held"))
    r = claim_subprocess("export-nnunet", "--cases", root / "cases", "--id", dataset, "--name", name,
                         "--raw", root / "nnUNet_raw")
    assert r.returncode == 0, r.stderr
    r = claim_subprocess("train-seg", "--dataset", dataset, "--root", root, "--fold", "all", "--trainer", trainer,
                         "--device", "cpu", timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    TRAIN_OUTPUT[dataset] = (r.stdout, r.stderr)
    return root / "nnUNet_results" / f"Dataset{dataset:03d}_{name}" / f"{trainer}__nnUNetPlans__2d"


def killed_and_resumed(*args, kills: int = 3, seed: int | None = None, events: int = 8, env=None, timeout=1800,
                       after_kill=None):
    """``claim ARGS`` killed with SIGKILL (its whole process group, workers too) at ``kills`` random points, each
    time started again with ``--resume``, then resumed to the end. A point is drawn as "after the n-th progress
    event of this start (n in 1..events), plus 0-0.4 s", so kills land in every stage, mid-write included.
    ``after_kill(i)`` runs after each kill (to check what a killed run left). Returns (final CompletedProcess-like
    (returncode, stdout, stderr), the points as (start, n, delay), the seed) for the failure message."""
    import json
    import random
    import signal

    from CLAIMLib.runner import claim_command

    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    env = env or claim_env(CLAIM_PROGRESS="json")
    points = []
    for i in range(kills):
        argv = [str(a) for a in args] + (["--resume"] if i else [])
        n, delay = rng.randint(1, events), rng.uniform(0.0, 0.4)
        with tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(claim_command(*argv), stdout=subprocess.PIPE, stderr=err, text=True, env=env,
                                    start_new_session=True)
            seen, deadline = 0, time.monotonic() + timeout
            while seen < n and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                try:
                    seen += "progress" in json.loads(line)
                except ValueError:
                    pass
            time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
            err.seek(0)
            if finished and proc.returncode != 0:
                raise AssertionError(f"start {i} failed before its kill (seed {seed}): {err.read()[-3000:]}")
        points.append((i, n, round(delay, 2), "finished first" if finished else "killed"))
        if after_kill is not None:
            after_kill(i)
    final = subprocess.run(claim_command(*[str(a) for a in args], "--resume"), capture_output=True, text=True,
                           env=claim_env(), timeout=timeout, errors="replace")
    return final, points, seed


def run_files(folder, ignore=()) -> set:
    """The files of a run, relative, without temporaries and without names matching ``ignore`` (fnmatch)."""
    import fnmatch

    return {str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()
            and not any(part.startswith(".tmp-") for part in p.relative_to(folder).parts)
            and not any(fnmatch.fnmatch(p.name, pat) for pat in ignore)}
