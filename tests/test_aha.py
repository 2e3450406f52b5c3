"""AHA-17 in subject space: agreement with the phantoms' ground truth, EMIDEC, orientation sources, template path."""
import numpy as np
import pytest

from CLAIMLib.aha import SEGMENT_NAMES, TERRITORIES, aha_segments, segment_from_level_angle
from CLAIMLib.geometry import Geometry
from CLAIMLib.io import discover_cases, load_case
from CLAIMLib.orientation import parse_rv_points
from CLAIMLib.phantom import generate_cohort


@pytest.fixture(scope="module")
def cohort20():
    return list(generate_cohort(20, seed=21, normal_fraction=0.25))


@pytest.fixture(scope="module")
def easy20():
    # easy: the same hearts with conspicuous blood, the regime the image-based septum was designed in
    return list(generate_cohort(20, seed=21, normal_fraction=0.25, difficulty="easy"))


def _agreement(results, cohort):
    hits = sum(int(np.count_nonzero(r.labels[c.labels >= 2] == c.aha[c.labels >= 2])) for r, c in zip(results, cohort))
    total = sum(int(np.count_nonzero(c.labels >= 2)) for c in cohort)
    return hits / total


def _run(c, **kw):
    return aha_segments(c.labels >= 2, c.labels == 1, c.geometry, **kw)


def _points(c, which=("anterior", "inferior")):
    return [("insertion", np.asarray(c.truth["rv_insertion_points"][w])) for w in which]


def test_segment_convention():
    # basal ring: 2 anteroseptal just anterior of the septum, 1 anterior, 6, 5, 4 inferior, 3 inferoseptal
    assert segment_from_level_angle(np.zeros(6), np.array([30, 90, 150, 210, 270, 330])).tolist() == [2, 1, 6, 5, 4, 3]
    assert segment_from_level_angle(np.ones(2), np.array([-30, 90])).tolist() == [9, 7]
    assert segment_from_level_angle(np.full(4, 2), np.array([0, 90, 180, -90])).tolist() == [14, 13, 16, 15]
    assert segment_from_level_angle(np.array([3]), np.array([123])).tolist() == [17]
    assert sorted(s for t in TERRITORIES.values() for s in t) == list(range(1, 18))
    assert len(SEGMENT_NAMES) == 17


def test_phantom_agreement_with_rv_mask(cohort20):
    results = [_run(c, rv=c.rv) for c in cohort20]
    assert all(r.orientation.source == "rv-mask" for r in results)
    # 0.983 on the old round phantom; 0.970 since the LV is elliptical and basal slices have the outflow-tract gap
    # (0.985 with both switched off): the RV centroid moves a few degrees off the septum
    assert _agreement(results, cohort20) >= 0.96
    assert all(r.axis.order.order == c.truth["slice_order"] for r, c in zip(results, cohort20))


def test_phantom_agreement_with_insertion_points(cohort20, easy20):
    two = [_run(c, rv_points=_points(c)) for c in cohort20]
    assert all(r.orientation.source == "rv-points" for r in two)
    assert _agreement(two, cohort20) >= 0.97
    one = [_run(c, rv_points=_points(c, ("anterior",)), image=c.image) for c in easy20]
    assert _agreement(one, easy20) >= 0.95
    # at clinical contrast the image picks the wrong side of the point in low-CNR hearts: 0.88 (0.98 before the
    # phantom read like real LGE); the header-based evidence of the real-hearts issue is what should lift it
    one = [_run(c, rv_points=_points(c, ("anterior",)), image=c.image) for c in cohort20]
    assert _agreement(one, cohort20) >= 0.78
    # without an image, one point fixes the septum by the 60 degree rule: still close, but the RV arc varies
    bare = [_run(c, rv_points=_points(c, ("anterior",))) for c in cohort20]
    assert _agreement(bare, cohort20) >= 0.88


def test_phantom_agreement_from_the_image_alone(cohort20, easy20):
    results = [_run(c, image=c.image) for c in easy20]
    assert all(r.orientation.source == "image" for r in results)
    assert _agreement(results, easy20) >= 0.93
    assert all(0 < r.orientation.confidence <= 1 for r in results)
    assert all(r.axis.order.order == c.truth["slice_order"] for r, c in zip(results, easy20))
    # Clinical contrast (blood CNR 0.9-3.6, chest wall as bright as blood): the image alone gave 0.49 here, the
    # septum more than 30 deg off in the low-CNR hearts. Checked against the oblique header's anatomical prior
    # (rejected beyond 45 deg, pulled toward it from 20 deg): 0.87, no heart more than 23 deg off.
    results = [_run(c, image=c.image) for c in cohort20]
    assert _agreement(results, cohort20) >= 0.8
    assert {r.orientation.source for r in results} <= {"image", "image+header", "header"}
    assert all(r.axis.order.order == c.truth["slice_order"] for r, c in zip(results, cohort20))


def test_every_myocardium_voxel_gets_one_segment(cohort20):
    for c in cohort20[:5]:
        r = _run(c, image=c.image)
        assert np.array_equal(r.labels > 0, c.labels >= 2)
        assert r.labels.max() <= 17


def test_default_orientation_warns(cohort20):
    r = _run(cohort20[0])  # an oblique header: the anatomical prior, with a warning
    assert r.orientation.source == "header" and 0 < r.orientation.confidence < 0.5 and r.orientation.warning
    truth = np.asarray(cohort20[0].truth["septum_direction"])
    assert float(r.orientation.septum @ truth) > np.cos(np.deg2rad(30))
    axial = next(generate_cohort(1, seed=21, header="axial"))  # an axis-aligned header carries no anatomy
    r = _run(axial)
    assert r.orientation.source == "default" and r.orientation.confidence == 0 and r.orientation.warning


def _reverse_stack(c):
    """The same anatomy stored in the other slice order: array flipped, k axis and origin moved to match."""
    g = c.geometry
    d = g.direction_matrix.copy()
    last = g.index_to_physical([[g.shape[0] - 1, 0, 0]])[0]
    d[:, 2] *= -1
    g2 = Geometry(g.shape, g.spacing, tuple(last.tolist()), tuple(d.ravel().tolist()))
    return g2, c.labels[::-1], c.image[::-1], c.rv[::-1], c.aha[::-1]


def test_slice_order_is_detected_not_assumed(cohort20):
    for c in cohort20[:6]:
        g2, lab2, img2, rv2, aha2 = _reverse_stack(c)
        a = _run(c, rv=c.rv)
        b = aha_segments(lab2 >= 2, lab2 == 1, g2, rv=rv2)
        assert a.axis.order.order != b.axis.order.order
        assert np.array_equal(a.labels, b.labels[::-1])  # same physical answer


def test_rv_point_parsing():
    (kind, p), = parse_rv_points(["inferior:1,2,3"], ras=True)
    assert kind == "inferior" and p.tolist() == [-1, -2, 3]
    for bad in ("1,2", "x,2,3", "middle:1,2,3", "1,2,nan"):
        with pytest.raises(ValueError):
            parse_rv_points([bad])


def test_emidec_slice_order_and_p100_inferior_infarct(emidec):
    orders = {}
    for files in discover_cases(emidec):
        case = load_case(files)
        r = aha_segments(case.myocardium, case.mask("cavity"), case.geometry, image=case.image)
        orders[case.case_id] = r.axis.order.order
        if case.case_id == "Case_P100":
            assert r.orientation.source == "image"
            scar = case.mask("scar")
            per = {s: np.count_nonzero(scar & (r.labels == s)) for s in range(1, 18)}
            inferior_and_neighbours = {3, 4, 5, 9, 10, 11, 14, 15, 16}
            share = sum(per[s] for s in inferior_and_neighbours) / scar.sum()
            assert share >= 0.9, per
            assert max(per, key=per.get) in (4, 10)
            assert per[4] + per[10] + per[15] >= 0.5 * scar.sum()
    assert orders == {"Case_P100": "apex-first", "Case_N006": "apex-first", "Case_N016": "base-first"}


def test_template_path_agrees_with_direct(cohort20):
    cases = cohort20[:6]
    direct = [_run(c, rv=c.rv) for c in cases]
    template = [_run(c, rv=c.rv, method="template") for c in cases]
    hits = sum(np.count_nonzero(d.labels[c.labels >= 2] == t.labels[c.labels >= 2])
               for d, t, c in zip(direct, template, cases))
    assert hits / sum(np.count_nonzero(c.labels >= 2) for c in cases) >= 0.85
    for t, c in zip(template, cases):
        assert np.array_equal(t.labels > 0, c.labels >= 2)  # labels map back onto the subject's myocardium
        assert t.to_dict()["registration"]["demons_iterations"] > 0


def test_template_transforms_round_trip(cohort20):
    c = cohort20[1]
    r = _run(c, rv=c.rv, method="template")
    reg = r.registration
    myo = (c.labels >= 2).astype(np.uint8)
    there = reg.subject_to_template(myo.astype(np.float32), nearest=False)
    back = reg.template_to_subject(there, nearest=False) > 0.5
    dice = 2 * np.count_nonzero(back & (myo > 0)) / (back.sum() + myo.sum())
    assert dice > 0.85
    # the template's shell lands on the subject's myocardium
    shell = reg.template_to_subject(
        __import__("SimpleITK").GetArrayFromImage(reg.template.myocardium)) > 0
    dice = 2 * np.count_nonzero(shell & (myo > 0)) / (shell.sum() + myo.sum())
    assert dice > 0.7
