"""The real EMIDEC samples: spacing, volumes (checked by hand), float labels and slice order."""
import numpy as np
import pytest

from CLAIMLib.io import discover_cases, load_case, read_volume
from CLAIMLib.longaxis import detect_slice_order


def _case(emidec, name):
    return load_case(discover_cases(emidec / name)[0])


def test_p100_spacing_and_mvo(emidec):
    case = _case(emidec, "Case_P100")
    assert case.geometry.spacing == pytest.approx((1.40625, 1.40625, 13.0))
    assert case.geometry.shape == (7, 258, 248)
    assert case.volume_ml("mvo") == pytest.approx(0.7455, rel=0.01)


def test_p100_volumes_checked_by_hand(emidec):
    # Voxel counts of the raw file (label 2: 4606, 3: 759, 4: 29; cavity 4471) times 1.40625 * 1.40625 * 13 mm^3.
    case = _case(emidec, "Case_P100")
    voxel_ml = 1.40625 * 1.40625 * 13 / 1000
    assert case.volume_ml("myocardium") == pytest.approx((4606 + 759 + 29) * voxel_ml, rel=1e-9)  # 138.669 mL
    assert case.volume_ml("myocardium") == pytest.approx(138.669, abs=0.01)
    assert case.volume_ml("scar") == pytest.approx(20.258, abs=0.01)  # infarct incl. MVO (labels 3+4)
    assert case.volume_ml("scar") - case.volume_ml("mvo") == pytest.approx(19.512, abs=0.01)  # label 3 alone
    assert case.volume_ml("cavity") == pytest.approx(114.941, abs=0.01)
    assert np.all(case.mask("mvo") <= case.mask("scar")) and np.all(case.mask("scar") <= case.myocardium)


def test_labels_stored_as_float64_are_read(emidec):
    labels, _ = read_volume(emidec / "Case_P100" / "Contours" / "Case_P100.nii.gz")
    assert labels.dtype == np.float64
    case = _case(emidec, "Case_P100")
    assert case.scheme.name == "EMIDEC"
    assert case.image is not None and case.image.shape == labels.shape


def test_n006_has_no_scar(emidec):
    case = _case(emidec, "Case_N006")
    assert case.volume_ml("scar") == 0.0 and case.volume_ml("mvo") == 0.0
    assert case.volume_ml("myocardium") > 50
    assert case.geometry.spacing == pytest.approx((1.4583333730697632, 1.4583333730697632, 10.0))


def test_n016_is_labels_only(emidec):
    case = _case(emidec, "Case_N016")
    assert case.image is None
    assert case.volume_ml("myocardium") > 50


@pytest.mark.parametrize("name, order", [("Case_P100", "apex-first"), ("Case_N006", "apex-first"),
                                         ("Case_N016", "base-first")])
def test_slice_order_detected(emidec, name, order):
    case = _case(emidec, name)
    result = detect_slice_order(case.myocardium, case.mask("cavity"), case.geometry)
    assert result.order == order
    # flipping the stack flips the answer: it is detected, not assumed
    flipped = detect_slice_order(case.myocardium[::-1], case.mask("cavity")[::-1], case.geometry)
    assert flipped.order != order


def test_dataset_discovery(emidec):
    ids = [c.case_id for c in discover_cases(emidec)]
    assert ids == ["Case_N006", "Case_N016", "Case_P100"]
