"""Phantom cohorts on disk (the embedded default): ``claim phantom``, the demo's cohort and the quick experiment's
pathological and normal folders."""
from __future__ import annotations

from pathlib import Path

QUICK_COHORT = (10, 5)  # pathological, normal phantoms of `claim experiment --quick`


def write_phantom_cohort(out, n_cases: int, seed: int = 0, normal_fraction: float = 0.3,
                         difficulty: str = "clinical", header: str = "oblique") -> dict:
    """Write ``n_cases`` phantoms (EMIDEC layout plus ground truth) into ``out``, each case atomically; returns
    {case_id: PhantomCase} (the in-memory cases, with their truth). ``difficulty``: "clinical" (contrast and
    texture of real stacks) or "easy" (conspicuous); ``header``: "oblique" (clinical short-axis planning) or
    "axial" (EMIDEC-like)."""
    from ..phantom import case_rng, cohort_plan, generate_case, write_case
    from ..progress import track

    made = {}
    for index, (case_id, pathological) in enumerate(track(cohort_plan(n_cases, seed, normal_fraction),
                                                          stage="phantom cohort")):
        case = generate_case(case_rng(seed, index), case_id, pathological, difficulty=difficulty, header=header)
        write_case(case, out)
        made[case_id] = case
    return made


def quick_cohort(folder, seed: int = 0, difficulty: str = "clinical") -> tuple[Path, Path]:
    """The phantom cohort of ``claim experiment --quick``: pathological and normal cases in two folders, each made
    once (atomically) and reused."""
    from ..io import atomic_dir
    from ..phantom import case_rng, generate_case, write_case

    folder = Path(folder)
    n_p, n_n = QUICK_COHORT
    for group, count, offset in (("pathological", n_p, 0), ("normal", n_n, n_p)):
        target = folder / group
        if target.is_dir():
            continue
        with atomic_dir(target) as tmp:
            for i in range(count):
                index = offset + i
                case_id = f"Phantom_{'P' if group == 'pathological' else 'N'}{index + 1:03d}"
                write_case(generate_case(case_rng(seed, index), case_id, group == "pathological",
                                         difficulty=difficulty), tmp)
    return folder / "pathological", folder / "normal"
