"""Classic scar quantification: each method against a hand computation, MVO, gray zone, invariance to the labels'
scar, EMIDEC P100 and phantoms, the report, and the ``claim scar`` command."""
import base64
import json
from html.parser import HTMLParser

import numpy as np
import pytest

from CLAIMLib import scar as S
from CLAIMLib.errors import InputError
from CLAIMLib.geometry import Geometry
from CLAIMLib.io import load_cases, write_volume
from CLAIMLib.labels import case_from_arrays
from CLAIMLib.workflows.scar import quantify_scar

M, SD = 400.0, 20.0  # the synthetic remote myocardium: exactly this mean and (population) SD


def dice(a, b):
    s = np.count_nonzero(a) + np.count_nonzero(b)
    return 2.0 * np.count_nonzero(a & b) / s if s else 1.0


def _ring(shape=(6, 48, 48)):
    """Axial grid, 1.5 x 1.5 x 8 mm; a cavity disc (r < 8) in a thick myocardial ring (8 <= r < 16)."""
    g = Geometry(shape, (1.5, 1.5, 8.0), (0.0, 0.0, 0.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    _, j, i = np.mgrid[0:shape[0], 0:shape[1], 0:shape[2]]
    r = np.hypot(j - 24, i - 24)
    angle = np.degrees(np.arctan2(j - 24, i - 24))
    labels = np.where(r < 8, 1, np.where(r < 16, 2, 0)).astype(np.uint8)
    return g, labels, r, angle


def _synthetic(scar_value=None, core_value=None):
    """Image with a remote block of mean M and SD SD, healthy myocardium at M, an optional scar sector of constant
    ``scar_value`` and, inside it, a dark core."""
    g, labels, r, angle = _ring()
    image = np.zeros(labels.shape)
    image[labels == 1] = 600.0
    image[labels == 2] = M
    remote = (labels == 2) & (r >= 10) & (r < 14) & (angle > 100) & (angle < 160)
    idx = np.flatnonzero(remote)
    idx = idx[: len(idx) // 2 * 2]
    remote[:] = False
    remote.flat[idx] = True
    image.flat[idx[: len(idx) // 2]] = M - SD
    image.flat[idx[len(idx) // 2:]] = M + SD
    scar = (labels == 2) & (np.abs(angle + 60) < 30)
    if scar_value is not None:
        image[scar] = scar_value
    core = scar & (r >= 9) & (r < 12) & (np.abs(angle + 60) < 12)
    if core_value is not None:
        image[core] = core_value
    return g, labels, image, remote, scar, core


def _remote(image, labels, remote, g):
    rem = S.remote_region(image, labels >= 2, np.zeros(labels.shape, np.uint8), g, mask=remote)
    assert np.array_equal(rem.mask, remote)  # the block lies away from the borders: used as given
    assert rem.mean == pytest.approx(M) and rem.sd == pytest.approx(SD)
    return rem


@pytest.mark.parametrize("n", [2, 3, 5, 6])
def test_nsd_is_mean_plus_n_sd_exactly_at_the_threshold(n):
    g, labels, image, remote, scar, _ = _synthetic(scar_value=M + 10 * SD)
    at = (labels == 2) & (np.abs(np.degrees(np.arctan2(*np.mgrid[0:6, 0:48, 0:48][1:] - 24)) - 60) < 15)
    threshold = M + n * SD
    below = at & (np.mgrid[0:6, 0:48, 0:48][0] % 2 == 0)
    image[at] = threshold
    image[below] = np.nextafter(threshold, 0)
    rem = _remote(image, labels, remote, g)
    m = S.threshold_scar(image, labels >= 2, labels == 1, rem, S.parse_method(f"nsd:{n}"), g, min_size_ml=0)
    assert m.record["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert np.array_equal(m.scar, scar | (at & ~below))  # at the threshold in, a hair below out


def test_fwhm_is_half_the_peak_enhancement_of_the_enhanced_region():
    peak = M + 15 * SD
    g, labels, image, remote, scar, _ = _synthetic(scar_value=peak)
    threshold = M + 0.5 * (peak - M)
    grid = np.mgrid[0:6, 0:48, 0:48]
    at = (labels == 2) & (np.abs(np.degrees(np.arctan2(grid[1] - 24, grid[2] - 24)) - 60) < 15)
    below = at & (grid[0] % 2 == 0)
    image[at], image[below] = threshold, np.nextafter(threshold, 0)
    rim = (labels == 2) & (np.hypot(grid[1] - 24, grid[2] - 24) < 9) & (np.abs(np.degrees(
        np.arctan2(grid[1] - 24, grid[2] - 24)) - 120) < 4)
    image[rim] = M + 40 * SD  # a bright partial-volume rim at the blood pool: it must not set the peak
    rem = _remote(image, labels, remote, g)
    m = S.threshold_scar(image, labels >= 2, labels == 1, rem, S.parse_method("fwhm"), g, min_size_ml=0)
    assert m.record["fwhm"]["peak"] == pytest.approx(peak)
    assert m.record["threshold"] == pytest.approx(threshold, rel=1e-12)
    assert np.array_equal(m.scar, scar | (at & ~below) | rim)


def test_otsu_splits_the_myocardium_where_a_hand_search_does():
    g, labels, image, remote, scar, _ = _synthetic(scar_value=M + 6 * SD)
    rng = np.random.default_rng(0)
    myo = labels == 2
    image[myo] += rng.integers(-3, 4, myo.sum())  # a few distinct levels per class
    values = np.sort(np.unique(image[myo]))
    best, split = -1.0, None
    for t in values[1:]:  # brute force: the split of most between-class variance
        hi = image[myo] >= t
        w1 = hi.mean()
        between = w1 * (1 - w1) * (image[myo][hi].mean() - image[myo][~hi].mean()) ** 2
        if between > best:
            best, split = between, t
    rem = S.remote_region(image, myo, np.zeros(labels.shape, np.uint8), g, mask=remote)
    m = S.threshold_scar(image, myo, labels == 1, rem, S.parse_method("otsu"), g, min_size_ml=0)
    assert np.array_equal(m.scar, myo & (image >= split))


def test_gray_zone_between_two_sd_levels_touching_the_core():
    g, labels, image, remote, scar, _ = _synthetic(scar_value=M + 8 * SD)
    grid = np.mgrid[0:6, 0:48, 0:48]
    angle = np.degrees(np.arctan2(grid[1] - 24, grid[2] - 24))
    border = (labels == 2) & (np.abs(angle + 60) >= 30) & (np.abs(angle + 60) < 36)  # beside the scar
    far = (labels == 2) & (np.abs(angle - 60) < 6)  # as bright, but away from any scar
    image[border | far] = M + 2.5 * SD
    rem = _remote(image, labels, remote, g)
    m = S.threshold_scar(image, labels >= 2, labels == 1, rem, S.parse_method("nsd:3"), g,
                         gray_zone=(2.0, 3.0), min_size_ml=0)
    assert np.array_equal(m.scar, scar)
    assert np.array_equal(m.gray_zone, border)
    assert m.record["gray_zone"]["thresholds"] == pytest.approx([M + 2 * SD, M + 3 * SD])


def test_a_dark_core_inside_bright_scar_is_mvo_and_counted_in_the_infarct():
    g, labels, image, remote, scar, core = _synthetic(scar_value=M + 10 * SD, core_value=M - SD)
    case = case_from_arrays("mvo", image, labels, g)
    r = quantify_scar(case, "nsd:3", remote_mask=remote, min_size_ml=0, sensitivity=False)
    assert np.array_equal(r.mvo, core)
    assert np.array_equal(r.scar, scar)  # MVO inside the infarct
    vox = g.voxel_volume_ml
    assert r.record["totals"]["scar_ml"] == pytest.approx(np.count_nonzero(scar) * vox)
    assert r.record["totals"]["mvo_ml"] == pytest.approx(np.count_nonzero(core) * vox)
    assert set(np.unique(r.labels).tolist()) == {0, 1, 2, 3, 4}


def test_small_components_and_non_endocardial_ones_are_dropped():
    g, labels, image, remote, scar, _ = _synthetic(scar_value=M + 10 * SD)
    grid = np.mgrid[0:6, 0:48, 0:48]
    r = np.hypot(grid[1] - 24, grid[2] - 24)
    speck = (grid[0] == 2) & (grid[1] == 24) & (grid[2] == 38)  # one voxel in the healthy wall
    epi = (labels == 2) & (r >= 13) & (np.abs(np.degrees(np.arctan2(grid[1] - 24, grid[2] - 24)) - 30) < 20)
    image[speck | epi] = M + 10 * SD
    rem = _remote(image, labels, remote, g)
    method = S.parse_method("nsd:3")
    kept = S.threshold_scar(image, labels >= 2, labels == 1, rem, method, g, min_size_ml=0)
    assert np.array_equal(kept.scar, scar | speck | epi)
    cleaned = S.threshold_scar(image, labels >= 2, labels == 1, rem, method, g, min_size_ml=0.05)
    assert np.array_equal(cleaned.scar, scar | epi) and cleaned.record["cleanup"]["dropped_small"] == 1
    ischaemic = S.threshold_scar(image, labels >= 2, labels == 1, rem, method, g, endocardial_only=True)
    assert np.array_equal(ischaemic.scar, scar) and ischaemic.record["cleanup"]["dropped_not_endocardial"] == 1


def test_bad_options_name_themselves():
    for text, flag in (("nsd:7", "--method"), ("nsd:1", "--method"), ("nsd:x", "--method"), ("max", "--method")):
        with pytest.raises(InputError) as e:
            S.parse_method(text)
        assert e.value.source == flag
    with pytest.raises(InputError, match="fwhm and nsd"):
        S.parse_gray_zone("", S.parse_method("otsu"))
    for bad in ("50:35", "3", "a:b", "0:120"):
        with pytest.raises(InputError):
            S.parse_gray_zone(bad, S.parse_method("fwhm"))
    assert S.parse_gray_zone("", S.parse_method("nsd:3")) == (2.0, 3.0)
    g, labels, image, remote, scar, _ = _synthetic(scar_value=M + 10 * SD)
    case = case_from_arrays("bad", image, labels, g)
    with pytest.raises(InputError, match="segment 17 holds no myocardium"):
        quantify_scar(case, remote_segments=[17])
    with pytest.raises(InputError, match="remote mask holds 3"):
        quantify_scar(case, remote_mask=remote & (np.cumsum(remote.ravel()).reshape(remote.shape) <= 3))
    with pytest.raises(InputError, match="needs the LGE image"):
        quantify_scar(case.with_image(None))


# ------------------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def p100(emidec):
    return load_cases(emidec / "Case_P100")[0]


@pytest.mark.parametrize("method", ["fwhm", "nsd:3"])
def test_p100_scar_like_the_truth(p100, method):
    """Real infarct: Dice >= 0.55 and volume within 0.7-1.4x of the truth, from the whole myocardium alone."""
    r = quantify_scar(p100, method)
    truth = p100.mask("scar")
    assert dice(r.scar, truth) >= 0.55
    assert 0.7 <= np.count_nonzero(r.scar) / np.count_nonzero(truth) <= 1.4
    assert not (r.scar & ~p100.myocardium).any()


def test_p100_mvo_overlaps_the_no_reflow(p100):
    r = quantify_scar(p100, "nsd:3", sensitivity=False)
    truth = p100.mask("mvo")
    assert r.mvo.any() and np.count_nonzero(r.mvo & truth) / np.count_nonzero(r.mvo) >= 0.5


def test_the_labels_scar_changes_nothing(p100):
    """The same case with its truth scar in the labels, and with it folded into the myocardium."""
    masks = {k: v for k, v in p100.masks.items() if k not in ("scar", "mvo")}
    plain = p100.with_image(p100.image, masks=masks)
    for method in ("fwhm", "nsd:3"):
        a, b = quantify_scar(p100, method, gray_zone=""), quantify_scar(plain, method, gray_zone="")
        assert np.array_equal(a.labels, b.labels) and np.array_equal(a.gray_zone, b.gray_zone)
        for key in ("threshold", "remote", "totals", "sensitivity"):
            assert a.record[key] == b.record[key]


def test_normal_heart_has_little_scar(emidec):
    n006 = load_cases(emidec / "Case_N006")[0]
    assert quantify_scar(n006, "fwhm").record["totals"]["scar_ml"] == 0.0  # no enhanced region
    assert quantify_scar(n006, "nsd:5").record["totals"]["scar_percent"] < 1.0


def test_phantom_scar_found_where_contrast_allows():
    """Easy phantoms: FWHM reaches Dice 0.7 in the median. Clinical phantoms: a floor under today's numbers
    (their scar is a few remote SDs above a drifting nulling; see bench/README.md)."""
    from CLAIMLib.phantom import generate_cohort

    found = {}
    for difficulty in ("easy", "clinical"):
        for p in generate_cohort(6, seed=5, normal_fraction=0.0, difficulty=difficulty):
            case = case_from_arrays(p.case_id, p.image, p.labels, p.geometry)
            for method in ("fwhm", "nsd:3"):
                r = quantify_scar(case, method, sensitivity=False)
                found.setdefault((difficulty, method), []).append(dice(r.scar, case.mask("scar")))
    median = {k: float(np.median(v)) for k, v in found.items()}
    assert median[("easy", "fwhm")] >= 0.7, median
    assert median[("clinical", "fwhm")] >= 0.4 and median[("clinical", "nsd:3")] >= 0.4, median


# ------------------------------------------------------------------------------------------------ outputs
class _Report(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.text, self._in = {}, [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._in = a.get("id")
            self.tables[self._in] = []
        if tag == "tr" and self._in:
            self.tables[self._in].append([])
        if tag == "img":
            self.images.append(a.get("src", ""))

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = None

    def handle_data(self, data):
        self.text.append(data)
        if self._in and self.tables[self._in] and data.strip():
            self.tables[self._in][-1].append(data.strip())


def test_scar_command_writes_every_output(p100, run_claim, tmp_path):
    image, labels = p100.sources["image"], p100.sources["labels"]
    out = tmp_path / "p100.nii.gz"
    code, stdout, err = run_claim("scar", "--image", image, "--labels", labels, "--out", out, "--method", "nsd:3",
                                  "--gray-zone", "--json", tmp_path / "p.json", "--csv", tmp_path / "p.csv",
                                  "--report", tmp_path / "p.html", "--bullseye", tmp_path / "p.png")
    assert code == 0, err
    assert "nsd:3" in stdout and "remote" in stdout
    from CLAIMLib.io import read_volume

    written, geometry = read_volume(out)
    assert geometry.differences(p100.geometry) == []
    direct = quantify_scar(p100, "nsd:3", gray_zone="")
    assert np.array_equal(written.astype(np.uint8), direct.labels)
    gz, _ = read_volume(tmp_path / "p100_grayzone.nii.gz")
    assert np.array_equal(gz > 0, direct.gray_zone) and not (direct.gray_zone & direct.scar).any()
    record = json.loads((tmp_path / "p.json").read_text())
    assert record["method"] == "nsd:3" and record["remote"]["source"] == "automatic"
    assert record["totals"]["gray_zone_ml"] > 0 and len(record["segments"]) == 17
    assert [b["method"] for b in record["sensitivity"]] == list(S.SENSITIVITY_METHODS)
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "p.csv").read_text().count("\n") == 19

    report = _Report()
    report.feed((tmp_path / "p.html").read_text())
    assert len(report.images) == 1 and report.images[0].startswith("data:image/png;base64,")
    assert base64.b64decode(report.images[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert {"method", "totals", "sensitivity", "segments"} <= set(report.tables)
    assert len(report.tables["segments"]) == 18 and len(report.tables["sensitivity"]) == 6
    text = " ".join(report.text)
    assert "nsd:3: remote mean + 3 SD" in text and record["remote"]["description"] in text
    assert "src='http" not in (tmp_path / "p.html").read_text()  # self-contained


def test_scar_command_on_a_folder(emidec, run_claim, tmp_path):
    out = tmp_path / "all"
    code, stdout, err = run_claim("scar", emidec, "--out", out)
    assert code == 0, err
    assert "Case_N016 has no LGE image and was skipped" in err
    for cid in ("Case_P100", "Case_N006"):
        for name in (f"{cid}.nii.gz", f"{cid}.json", f"{cid}.csv", f"{cid}.html", f"{cid}_bullseye.png"):
            assert (out / name).is_file(), name
    rows = (out / "summary.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("case_id,method")
    # the outputs are predictions claim evaluate reads against the truth
    code, stdout, err = run_claim("evaluate", "--pred", out, "--gt", emidec)
    assert code == 0, err
    assert "2 cases" in stdout


def test_scar_command_bad_input(p100, run_claim, tmp_path):
    image, labels = p100.sources["image"], p100.sources["labels"]
    small = tmp_path / "small.nii.gz"
    tiny = np.zeros(p100.geometry.shape, np.uint8)
    tiny[3, 100, 100] = 1
    write_volume(small, tiny, p100.geometry)
    for extra, culprit in ((["--method", "nsd:9"], "--method"), (["--method", "mean"], "--method"),
                           (["--remote-segments", "17"], "--remote-segments"),
                           (["--remote-segments", "3,19"], "--remote-segments"),
                           (["--remote-mask", small], "remote mask"),
                           (["--method", "otsu", "--gray-zone"], "--gray-zone"),
                           (["--gray-zone", "50:35"], "--gray-zone"),
                           (["--min-size-ml", "-1"], "--min-size-ml"),
                           (["--report", tmp_path / "r.pdf"], str(tmp_path / "r.pdf")),
                           (["--seed-point", "1,2"], "--seed-point")):
        out = tmp_path / "o.nii.gz"
        code, stdout, err = run_claim("scar", "--image", image, "--labels", labels, "--out", out, *extra)
        assert code == 2, (extra, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"claim: error: {culprit}"), (extra, err)
        assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["small.nii.gz"], extra
    code, _, err = run_claim("scar", "--labels", labels, "--out", tmp_path / "o.nii.gz")
    assert code == 2 and "has no LGE image" in err
    # an output that cannot be written: one line naming it, and the outputs already written are taken back
    blocker = tmp_path / "small.nii.gz"
    code, _, err = run_claim("scar", "--image", image, "--labels", labels, "--out", tmp_path / "o.nii.gz",
                             "--json", tmp_path / "o.json", "--report", blocker / "r.html")
    assert code == 2 and err.startswith(f"claim: error: {blocker / 'r.html'}: cannot be written"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["small.nii.gz"]
    code, _, err = run_claim("scar", p100.sources["labels"].parent.parent.parent, "--out", tmp_path / "d",
                             "--json", tmp_path / "x.json")
    assert code == 2 and err.startswith("claim: error: --json: applies to one case") and not (tmp_path / "d").exists()
