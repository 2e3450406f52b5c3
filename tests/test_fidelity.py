"""Synthesis fidelity (claim evaluate-synthesis), the synthetic-dataset quality gate, and the DPM-Solver++ sampler."""
import json

import numpy as np
import pytest
import torch

from CLAIMLib.fidelity import compare, mean_fill, pooled, qc_verdict, remote_fill, scar_statistics, training_range, units


def _hand_made():
    """One slice: blood pool 200 | scar 150 +- 5 (checkerboard) | remote 100 +- 10 (checkerboard).

    Remote mean 100, SD 10; real scar CNR 4.5 / 5.5 (mean 5), texture |10| / 10 = 1, scar-to-blood 5 / 10 = 0.5.
    """
    shape = (1, 8, 12)
    j, i = np.indices(shape[1:])
    checker = np.where((j + i) % 2 == 0, 1.0, -1.0)[None]
    cavity, scar, remote = (np.zeros(shape, bool) for _ in range(3))
    cavity[..., 0:4], scar[..., 4:8], remote[..., 8:12] = True, True, True
    image = np.where(cavity, 200.0, 0.0) + np.where(scar, 150 + 5 * checker, 0) + np.where(remote, 100 + 10 * checker, 0)
    return image, cavity, scar | remote, scar, checker


def test_metrics_on_a_hand_made_case():
    image, cavity, myocardium, scar, checker = _hand_made()
    mvo = np.zeros_like(scar)
    remote = units(image, myocardium, scar)
    assert remote == pytest.approx((100.0, 10.0))
    real = scar_statistics(image, scar, mvo, cavity, remote)
    assert real["scar_cnr"] == pytest.approx(5.0) and real["texture"] == pytest.approx(1.0)
    assert real["scar_blood"] == pytest.approx(0.5)
    # a fill of known brightness and texture: 130 +- 10, CNR 2 / 4 (mean 3), texture 20 / 10 = 2
    fill = np.where(scar, 130 + 10 * checker, image)
    got = compare(real, scar_statistics(fill, scar, mvo, cavity, remote))
    assert got["scar_cnr_error"] == pytest.approx(-2.0)
    assert got["scar_blood_error"] == pytest.approx(0.3 - 0.5)
    assert got["wasserstein"] == pytest.approx(2.0)  # {4.5, 5.5} against {2, 4}, equal masses
    assert got["texture_error"] == pytest.approx(1.0)
    assert got["mvo_cnr_error"] is None
    # the real scar against itself: every error is zero
    same = compare(real, scar_statistics(image, scar, mvo, cavity, remote))
    assert all(abs(same[k]) < 1e-12 for k in ("scar_cnr_error", "scar_blood_error", "wasserstein", "texture_error"))
    table = pooled([got, same])
    assert table["cases"] == 2 and table["scar_cnr_error"] == pytest.approx(1.0) and table["mvo_cnr_error"] is None


def test_fills():
    image, cavity, myocardium, scar, _ = _hand_made()
    rng = np.random.default_rng(0)
    rf = remote_fill(rng, image, myocardium, scar)
    assert set(np.unique(rf[scar])) <= {90.0, 110.0} and np.array_equal(rf[~scar], image[~scar])
    mf = mean_fill(rng, image, scar, 150.0, 0.0)
    remote = units(image, myocardium, scar)
    got = compare(scar_statistics(image, scar, scar & False, cavity, remote),
                  scar_statistics(mf, scar, scar & False, cavity, remote))
    assert got["scar_cnr_error"] == pytest.approx(0.0) and got["texture_error"] == pytest.approx(-1.0)


def test_qc_verdict_and_ranges():
    stats = {"scar_minus_remote_range_norm": [0.2, 0.6], "scar_roughness_range_norm": [0.05, 0.25]}
    b, t = training_range(stats, "brightness"), training_range(stats, "texture")
    assert b == pytest.approx((0.1, 0.7)) and t == pytest.approx((0.0, 0.3))
    assert training_range({}, "texture") is None
    ranges = {"brightness": b, "texture": t}
    assert qc_verdict(0.6, {"brightness": 0.4, "texture": 0.1}, ranges) is None
    assert qc_verdict(0.1, {"brightness": 0.4, "texture": 0.1}, ranges).startswith("not enhanced")
    assert qc_verdict(0.6, {"brightness": 0.9, "texture": 0.1}, ranges).startswith("brightness outside")
    assert qc_verdict(0.6, {"brightness": 0.4, "texture": 0.9}, ranges).startswith("texture outside")
    assert qc_verdict(0.6, {"brightness": 9.0}, {"brightness": None}) is None  # an old checkpoint: not checked


def test_dpm_sampler_calls_and_known_region():
    from CLAIMLib.diffusion.sample import DEFAULT_STEPS, sample
    from test_diffusion import _dummy_bundle

    b = _dummy_bundle()
    x = np.random.default_rng(0).uniform(-1, 1, (3, 16, 16)).astype(np.float32)
    m = np.zeros_like(x)
    m[:, 4:9, 4:9] = 1
    out = sample(b, x, m, np.zeros_like(x), np.repeat(b.bank, 3, 0), "dpm", 7)
    assert b.calls == 7 and out.shape == x.shape
    assert np.array_equal(out[m == 0], x[m == 0])  # the background is pasted back exactly
    again = sample(b, x, m, np.zeros_like(x), np.repeat(b.bank, 3, 0), "dpm", 7)
    assert np.array_equal(out, again)  # the same seed, the same result
    assert b.calls == 7
    sample(b, x, m, np.zeros_like(x), np.repeat(b.bank, 3, 0), "dpm", None)
    assert b.calls == DEFAULT_STEPS["dpm"] == 5


def test_static_batch_and_compiled_path_give_the_eager_result(tiny_run, phantom_cohort):
    """The GPU path (padding to a fixed batch, channels-last, torch.compile) run on the CPU with the eager backend:
    the same pixels as plain eager sampling."""
    from CLAIMLib.diffusion.sample import accelerate, load_generator, static_size, synthesize

    assert [static_size(n) for n in (1, 8, 9, 40, 70)] == [8, 8, 16, 64, 70]
    case = next(c for c in (p.to_case() for p in phantom_cohort[1]) if c.mask("scar").any())
    plain = load_generator(tiny_run[0], "cpu")
    fast = accelerate(load_generator(tiny_run[0], "cpu"), backend="eager")
    assert fast.static_batch and fast.compiled is not None
    compiled, shapes = fast.compiled, []

    def spy(*args):
        shapes.append(tuple(args[0].shape))
        return compiled(*args)

    fast.compiled = spy
    a, ra = synthesize(plain, case, case.mask("scar"), case.mask("mvo"), seed=4, steps=4)
    b, rb = synthesize(fast, case, case.mask("scar"), case.mask("mvo"), seed=4, steps=4)
    assert ra["network_calls"] == rb["network_calls"] == 4
    assert len(shapes) == 4 and all(s[0] == static_size(ra["slices"]) for s in shapes)  # padded, one shape
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), atol=1e-3 * float(np.ptp(a)))
    assert fast.compiled is spy  # no fallback to eager happened


def _normals(tmp_path, n=1, seed=8):
    from CLAIMLib.phantom import generate_cohort

    return [p.to_case() for p in generate_cohort(n, seed=seed, normal_fraction=1.0)]


def test_quality_gate_rejects_a_zeroed_generator_and_accepts_the_trained_one(tiny_run, tmp_path):
    from CLAIMLib.diffusion.sample import load_generator
    from CLAIMLib.workflows.synthesis import synthesize_cohort

    cases = _normals(tmp_path)
    trained = load_generator(tiny_run[0], "cpu")
    assert training_range(trained.stats, "brightness") and training_range(trained.stats, "texture")
    good = synthesize_cohort(cases, trained, 3, tmp_path / "good", np.random.default_rng(1), qc=True, max_tries=2)
    zeroed = load_generator(tiny_run[0], "cpu")
    with torch.no_grad():
        for p in zeroed.model.parameters():
            p.zero_()
    bad = synthesize_cohort(cases, zeroed, 2, tmp_path / "bad", np.random.default_rng(1), qc=True, max_tries=2)
    q = bad["qc"]
    assert q["accepted"] == 0 and q["samples"] == 4 and sum(q["rejections"].values()) == 4
    assert len(q["kept_after_failing"]) == 2
    assert json.loads((tmp_path / "bad" / "synthesis.json").read_text())["qc"]["acceptance_rate"] == 0.0
    record = json.loads((tmp_path / "bad" / bad["cases"][0] / f"{bad['cases'][0]}.json").read_text())
    assert record["qc"]["reason"]
    g = good["qc"]
    print(f"quality gate, trained tiny generator: {g['accepted']} of {g['samples']} accepted; {g['rejections']}")
    assert g["acceptance_rate"] >= 0.5 and len(good["cases"]) == 3


def test_quality_gate_calls_an_unenhanced_scar_not_enhanced(tiny_run, tmp_path):
    from CLAIMLib.aha import aha_segments
    from CLAIMLib.diffusion.sample import load_generator
    from CLAIMLib.labels import EMIDEC
    from CLAIMLib.smile import SmileSpec, case_subject, generate
    from CLAIMLib.workflows.synthesis import Synthetic, qc_check

    case = _normals(tmp_path, seed=9)[0]
    aha = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, image=case.float_image)
    mask = generate(np.random.default_rng(0), case_subject(case, aha), SmileSpec(volume_ml=8.0))
    image = remote_fill(np.random.default_rng(0), case.float_image, case.myocardium, mask.scar)
    labels = EMIDEC.encode(dict(case.masks, scar=mask.scar, mvo=mask.mvo), case.geometry.shape)
    gate = qc_check(load_generator(tiny_run[0], "cpu"), case, Synthetic(image, labels, {}), aha)
    assert gate["reason"] and gate["reason"].startswith("not enhanced"), gate


def test_evaluate_synthesis_cli(tiny_run, cohort_dir, run_claim, tmp_path):
    out = tmp_path / "fid"
    code, text, err = run_claim("evaluate-synthesis", "--model", tiny_run[0], "--cases", cohort_dir, "--out", out,
                                "--steps", 4, "--seed", 2)
    assert code == 0, err
    result = json.loads((out / "fidelity.json").read_text())
    assert set(result["pooled"]) == {"generator", "generator_own", "remote_fill", "mean_fill"}
    n = result["pooled"]["generator"]["cases"]
    assert n >= 1 and len(result["cases"]) == 4 * n
    assert (out / "fidelity.png").stat().st_size > 10_000
    rows = (out / "fidelity.csv").read_text().splitlines()
    assert len(rows) == 1 + 4 * n and rows[0].startswith("case_id,method")
    for key in ("scar_cnr_error", "wasserstein", "texture_error"):
        assert key in text
    # the remote fill has no enhancement: its CNR error is about the real scar's CNR
    remote = [r for r in result["cases"] if r["method"] == "remote_fill"]
    assert all(r["scar_cnr_error"] == pytest.approx(-r["real_scar_cnr"], abs=0.5) for r in remote)


def test_evaluate_synthesis_bad_input(tiny_run, run_claim, tmp_path):
    from CLAIMLib.phantom import generate_cohort, write_case

    normals = tmp_path / "normals"
    for p in generate_cohort(1, seed=5, normal_fraction=1.0):
        write_case(p, normals)
    code, _, err = run_claim("evaluate-synthesis", "--model", tiny_run[0], "--cases", normals, "--out",
                             tmp_path / "o")
    assert code == 2 and "no case with an image and a scar" in err and not (tmp_path / "o").exists()
    code, _, err = run_claim("evaluate-synthesis", "--model", tiny_run[0], "--cases", normals, "--sampler", "euler")
    assert code == 2 and "--sampler" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_claim("evaluate-synthesis", "--model", tiny_run[0], "--cases", tmp_path / "none")
    assert code == 2 and "none" in err
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("keep me")
    code, _, err = run_claim("evaluate-synthesis", "--model", tiny_run[0], "--cases", normals, "--out",
                             tmp_path / "busy")
    assert code == 2 and "--overwrite" in err and (tmp_path / "busy" / "notes.txt").exists()
