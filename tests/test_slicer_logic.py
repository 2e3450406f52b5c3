"""The modules' Logic against a real MRML scene (slicer-core, no GUI): geometry survives every round trip."""
import numpy as np
import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed (pip install slicer-core)")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("this 'slicer' module has no MRML classes", allow_module_level=True)

import vtk  # noqa: E402

from CLAIMLib.errors import InputError  # noqa: E402
from CLAIMLib.labels import case_from_arrays  # noqa: E402
from CLAIMSlicerLib import mrml  # noqa: E402
from CLAIMSlicerLib.logic import CLAIMLogic, SMILEMaskEditorLogic  # noqa: E402
from conftest import oblique_geometry, ring_labels  # noqa: E402


@pytest.fixture
def scene():
    return slicer.vtkMRMLScene()


def _case():
    g = oblique_geometry()
    lab = ring_labels(g.shape)
    img = np.random.default_rng(0).normal(100, 10, g.shape).astype(np.float32)
    return case_from_arrays("c", img, lab, g)


def test_volume_node_geometry_is_ras(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    node = logic.addVolumeNode(case.image, case.geometry, "lge")
    # Slicer stores RAS: x and y of the LPS origin change sign, z does not
    assert np.allclose(node.GetOrigin(), np.array(case.geometry.origin) * [-1, -1, 1])
    assert np.allclose(node.GetSpacing(), case.geometry.spacing)
    assert np.array_equal(slicer.util.arrayFromVolume(node), case.image)
    back = mrml.geometry_from_volume_node(node)
    assert back.differences(case.geometry) == []
    assert np.allclose(back.direction, case.geometry.direction, atol=1e-12)


def test_segmentation_round_trip_keeps_geometry_and_masks(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    seg = logic.addSegmentationNode(case, "labels", volume)
    names = [seg.GetSegmentation().GetNthSegment(i).GetName() for i in range(seg.GetSegmentation().GetNumberOfSegments())]
    assert names == ["LV cavity", "Myocardium", "Infarct", "MVO"]
    back = logic.caseFromNodes(volume, seg)
    assert back.geometry.differences(case.geometry) == []
    for structure in ("cavity", "myocardium", "scar", "mvo"):
        assert np.array_equal(back.mask(structure), case.mask(structure)), structure
    assert np.array_equal(back.image, case.image)
    assert "mvo" in logic.infoText(volume, seg)


def test_labelmap_node_and_scheme(scene):
    case = _case()
    logic = SMILEMaskEditorLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    labelmap = logic.addVolumeNode(case.labels().astype(np.float64), case.geometry, "lab", labelmap=True)
    back = logic.caseFromNodes(volume, labelmap)
    assert back.scheme.name == "EMIDEC" and np.array_equal(back.mask("scar"), case.mask("scar"))
    custom = logic.caseFromNodes(volume, labelmap, scheme="cavity=1,myocardium=2+3+4,scar=3+4")
    assert "mvo" not in custom.masks and np.array_equal(custom.mask("scar"), case.mask("scar"))


def test_labelmap_on_another_grid_is_refused(scene):
    from dataclasses import replace

    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    moved = replace(case.geometry, origin=(0.0, 0.0, 0.0))
    labelmap = logic.addVolumeNode(case.labels(), moved, "lab", labelmap=True)
    with pytest.raises(InputError, match="not on one grid"):
        logic.caseFromNodes(volume, labelmap)


def test_parent_transform_is_applied(scene):
    case = _case()
    logic = CLAIMLogic(scene)
    volume = logic.addVolumeNode(case.image, case.geometry, "lge")
    transform = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode")
    m = vtk.vtkMatrix4x4()
    m.SetElement(0, 3, 10.0)  # 10 mm toward R, i.e. -10 in LPS x
    transform.SetMatrixTransformToParent(m)
    volume.SetAndObserveTransformNodeID(transform.GetID())
    g = mrml.geometry_from_volume_node(volume)
    assert np.allclose(np.array(g.origin) - case.geometry.origin, [-10.0, 0, 0])


def test_phantom_into_the_scene(scene):
    logic = CLAIMLogic(scene)
    volume, seg, phantom = logic.addPhantomCase(seed=2)
    case = logic.caseFromNodes(volume, seg)
    assert case.geometry.differences(phantom.geometry) == []
    assert np.array_equal(case.mask("myocardium"), phantom.labels >= 2)
    assert phantom.truth["slice_order"] in logic.infoText(volume, seg)
