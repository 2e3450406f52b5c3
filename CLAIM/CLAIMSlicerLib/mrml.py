"""MRML nodes <-> CLAIMLib arrays, geometry and cases. RAS (Slicer) <-> LPS (ITK, CLAIMLib) happens here."""
from __future__ import annotations

import numpy as np
import slicer
import vtk

from CLAIMLib.geometry import Geometry
from CLAIMLib.labels import Case, LabelScheme, case_from_arrays, labels_from_named_masks

# Segment names and colours CLAIM writes (EMIDEC classes; matched back by CLAIMLib.labels.SEGMENT_NAMES).
SEGMENTS = (("cavity", "LV cavity", (0.85, 0.33, 0.25)), ("normal", "Myocardium", (0.55, 0.27, 0.07)),
            ("scar", "Infarct", (1.0, 0.85, 0.2)), ("mvo", "MVO", (0.2, 0.4, 0.9)), ("rv", "RV", (0.6, 0.3, 0.7)))


def _matrix_to_array(m: vtk.vtkMatrix4x4) -> np.ndarray:
    return np.array([[m.GetElement(r, c) for c in range(4)] for r in range(4)])


def _array_to_matrix(a: np.ndarray) -> vtk.vtkMatrix4x4:
    m = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            m.SetElement(r, c, float(a[r, c]))
    return m


def geometry_from_volume_node(node) -> Geometry:
    """Grid of a volume node in world coordinates (a linear parent transform is applied)."""
    m = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(m)
    ijk_to_ras = _matrix_to_array(m)
    parent = node.GetParentTransformNode()
    if parent is not None:
        if not parent.IsTransformToWorldLinear():
            raise ValueError(f"{node.GetName()}: harden its non-linear transform first")
        to_world = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(to_world)
        ijk_to_ras = _matrix_to_array(to_world) @ ijk_to_ras
    dims = node.GetImageData().GetDimensions()
    return Geometry.from_ijk_to_ras(ijk_to_ras, (dims[2], dims[1], dims[0]))


def array_from_volume_node(node) -> np.ndarray:
    return np.array(slicer.util.arrayFromVolume(node), copy=True)


def add_volume_node(scene, array: np.ndarray, geometry: Geometry, name: str,
                    class_name: str = "vtkMRMLScalarVolumeNode", display: bool = True):
    """A new volume node holding ``array`` on ``geometry``."""
    node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    node.SetIJKToRASMatrix(_array_to_matrix(geometry.ijk_to_ras))
    if display:
        node.CreateDefaultDisplayNodes()
    return node


def segment_masks(segmentation_node, reference_volume_node) -> dict:
    """Each segment's mask on the reference volume's grid, keyed by segment name (overlaps allowed)."""
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    scene = segmentation_node.GetScene()
    segmentation = segmentation_node.GetSegmentation()
    masks = {}
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__claim_tmp")
    try:
        for index in range(segmentation.GetNumberOfSegments()):
            sid = segmentation.GetNthSegmentID(index)
            ids = vtk.vtkStringArray()
            ids.InsertNextValue(sid)
            if not logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap, reference_volume_node):
                raise ValueError(f"{segmentation_node.GetName()}: cannot export segment '{sid}'")
            masks[segmentation.GetSegment(sid).GetName()] = slicer.util.arrayFromVolume(labelmap) > 0
    finally:
        scene.RemoveNode(labelmap)
    return masks


def case_from_nodes(volume_node, label_node, scheme: LabelScheme | None = None, case_id: str | None = None) -> Case:
    """A CLAIMLib Case from an LGE volume node and a labelmap or segmentation node (on the volume's grid)."""
    geometry = geometry_from_volume_node(volume_node)
    image = array_from_volume_node(volume_node)
    source = label_node.GetName()
    if label_node.IsA("vtkMRMLSegmentationNode"):
        named = segment_masks(label_node, volume_node)
        labels = labels_from_named_masks(named, geometry.shape, source)
        if scheme is None:
            from CLAIMLib.labels import NAMED
            scheme = NAMED
    else:
        label_geometry = geometry_from_volume_node(label_node)
        diffs = label_geometry.differences(geometry)
        if diffs:
            from CLAIMLib.errors import InputError
            raise InputError(source, f"labels and image {volume_node.GetName()} are not on one grid: {'; '.join(diffs)}")
        labels = array_from_volume_node(label_node)
    return case_from_arrays(case_id or volume_node.GetName(), image, labels, geometry, scheme,
                            labels_source=source)


def add_segmentation_from_case(scene, case: Case, name: str, reference_volume_node=None):
    """A segmentation node with one segment per structure of the case (EMIDEC classes, CLAIM's names)."""
    masks = {"cavity": case.mask("cavity"), "normal": case.mask("myocardium") & ~case.mask("scar"),
             "scar": case.mask("scar") & ~case.mask("mvo"), "mvo": case.mask("mvo"), "rv": case.mask("rv")}
    seg_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    seg_node.CreateDefaultDisplayNodes()
    if reference_volume_node is not None:
        seg_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    labelmap = add_volume_node(scene, np.zeros(case.geometry.shape, np.uint8), case.geometry, "__claim_tmp",
                               "vtkMRMLLabelMapVolumeNode", display=False)
    try:
        segmentation = seg_node.GetSegmentation()
        for value, (key, segment_name, colour) in enumerate(SEGMENTS, start=1):
            if not masks[key].any():
                continue
            slicer.util.updateVolumeFromArray(labelmap, masks[key].astype(np.uint8) * value)
            before = set(segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments()))
            slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(labelmap, seg_node)
            for i in range(segmentation.GetNumberOfSegments()):
                sid = segmentation.GetNthSegmentID(i)
                if sid not in before:
                    segment = segmentation.GetSegment(sid)
                    segment.SetName(segment_name)
                    segment.SetColor(*colour)
    finally:
        scene.RemoveNode(labelmap)
    return seg_node
