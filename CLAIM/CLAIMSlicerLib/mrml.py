"""MRML nodes <-> CLAIMLib arrays, geometry and cases. RAS (Slicer) <-> LPS (ITK, CLAIMLib) happens here.

Arrays are always [k, j, i] on a volume node's own voxel grid. Geometry handed to CLAIMLib is the grid in world
coordinates (LPS), a linear parent transform included. Nodes CLAIM creates from a volume's arrays copy that volume's
IJK-to-RAS matrix and parent transform, so that they lie exactly on it, voxel for voxel.
"""
from __future__ import annotations

import json
from contextlib import contextmanager

import numpy as np
import slicer
import vtk

from CLAIMLib.errors import InputError
from CLAIMLib.geometry import Geometry
from CLAIMLib.labels import (Case, LabelScheme, case_from_arrays, labels_from_named_masks, scar_from_labels,
                            structure_for_segment_name)
from CLAIMLib.terminology import STRUCTURE_SEGMENTS

# Segment names, colours and DICOM terminology (SNOMED CT) of CLAIM's structures live in CLAIMLib.terminology.
# (key, name, colour) of the case segmentations CLAIM writes (EMIDEC classes)
SEGMENTS = tuple((key, name, STRUCTURE_SEGMENTS[key][1])
                 for key, name in (("cavity", "LV cavity"), ("normal", "Myocardium"), ("scar", "Infarct"),
                                   ("mvo", "MVO"), ("rv", "RV")))

RECORD_ATTRIBUTE = "CLAIM.record"  # JSON record (SMILE, synthesis, segmentation) kept on the output node


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
            raise InputError(node.GetName(), "harden its non-linear transform first")
        to_world = vtk.vtkMatrix4x4()
        parent.GetMatrixTransformToWorld(to_world)
        ijk_to_ras = _matrix_to_array(to_world) @ ijk_to_ras
    image = node.GetImageData()
    if image is None:
        raise InputError(node.GetName(), "holds no image data")
    dims = image.GetDimensions()
    return Geometry.from_ijk_to_ras(ijk_to_ras, (dims[2], dims[1], dims[0]))


def array_from_volume_node(node) -> np.ndarray:
    return np.array(slicer.util.arrayFromVolume(node), copy=True)


def add_volume_node(scene, array: np.ndarray, geometry: Geometry, name: str,
                    class_name: str = "vtkMRMLScalarVolumeNode", display: bool = True):
    """A new volume node holding ``array`` on ``geometry`` (world coordinates, no parent transform)."""
    node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name))
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    node.SetIJKToRASMatrix(_array_to_matrix(geometry.ijk_to_ras))
    if display:
        node.CreateDefaultDisplayNodes()
    return node


def add_volume_like(scene, reference_volume_node, array: np.ndarray, name: str,
                    class_name: str = "vtkMRMLScalarVolumeNode", display: bool = True, unique: bool = True):
    """A new volume node on exactly the reference volume's grid: its IJK-to-RAS matrix and parent transform."""
    node = scene.AddNewNodeByClass(class_name, scene.GenerateUniqueName(name) if unique else name)
    copy_grid(reference_volume_node, node, array)
    if display:
        node.CreateDefaultDisplayNodes()
    return node


def copy_grid(reference_volume_node, node, array: np.ndarray) -> None:
    """Put ``array`` into ``node`` on the reference volume's grid (matrix and parent transform)."""
    dims = reference_volume_node.GetImageData().GetDimensions()
    if tuple(array.shape) != (dims[2], dims[1], dims[0]):
        raise ValueError(f"array shape {array.shape} does not match {reference_volume_node.GetName()}")
    slicer.util.updateVolumeFromArray(node, np.ascontiguousarray(array))
    node.CopyOrientation(reference_volume_node)
    node.SetAndObserveTransformNodeID(reference_volume_node.GetTransformNodeID())


# ------------------------------------------------------------------------------------------------ segmentations
@contextmanager
def scratch(scene):
    """Remove, at the end, the display, colour and storage nodes that the block's temporary nodes brought into the
    scene (exporting a segment to a labelmap creates a display node and a colour table, for instance), so that
    reading inputs leaves the scene as it was."""
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        yield
    finally:
        helpers = ("vtkMRMLDisplayNode", "vtkMRMLColorTableNode", "vtkMRMLStorageNode")
        for i in reversed(range(scene.GetNumberOfNodes())):
            node = scene.GetNthNode(i)
            if node is not None and node.GetID() not in before and any(node.IsA(c) for c in helpers):
                scene.RemoveNode(node)


def ensure_segmentation_converters() -> None:
    """Register the labelmap <-> surface conversion rules when nobody has (slicer-core, without the application:
    empty segments need them). Inside Slicer the Segmentations module has registered them already."""
    factory = slicer.vtkSegmentationConverterFactory.GetInstance()
    if not factory.GetConverterRules():
        factory.RegisterConverterRule(slicer.vtkBinaryLabelmapToClosedSurfaceConversionRule())
        factory.RegisterConverterRule(slicer.vtkClosedSurfaceToBinaryLabelmapConversionRule())


def segment_masks(segmentation_node, reference_volume_node) -> dict:
    """Each segment's mask on the reference volume's grid, keyed by segment name (overlaps allowed)."""
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    scene = segmentation_node.GetScene()
    segmentation = segmentation_node.GetSegmentation()
    masks = {}
    with scratch(scene):
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__claim_tmp")
        try:
            for index in range(segmentation.GetNumberOfSegments()):
                sid = segmentation.GetNthSegmentID(index)
                ids = vtk.vtkStringArray()
                ids.InsertNextValue(sid)
                if not logic.ExportSegmentsToLabelmapNode(segmentation_node, ids, labelmap, reference_volume_node):
                    raise InputError(segmentation_node.GetName(), f"cannot export segment '{sid}'")
                masks[segmentation.GetSegment(sid).GetName()] = slicer.util.arrayFromVolume(labelmap) > 0
        finally:
            scene.RemoveNode(labelmap)
    return masks


def new_segmentation_node(scene, name: str, reference_volume_node):
    """An empty segmentation node with the reference volume's geometry and parent transform, displayed."""
    ensure_segmentation_converters()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(name))
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
    node.SetAndObserveTransformNodeID(reference_volume_node.GetTransformNodeID())
    return node


def labelled_segmentation(scene, reference_volume_node, labels: np.ndarray, styles, name: str, node=None):
    """A segmentation node (new, or ``node`` refilled) from a label map: one segment per (value, (segment name,
    colour, terminology)) of ``styles`` (a model's, ``ModelFolder.segment_styles()``)."""
    if node is None:
        node = new_segmentation_node(scene, name, reference_volume_node)
    else:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
        node.SetAndObserveTransformNodeID(reference_volume_node.GetTransformNodeID())
    labels = np.asarray(labels)
    with slicer.util.NodeModify(node):
        for value, style in styles:
            set_segment(node, style, labels == value, reference_volume_node)
    return node


def set_segment(segmentation_node, key, mask: np.ndarray, reference_volume_node, segment_id: str | None = None):
    """Create or replace one structure's segment: ``key`` names a structure of STRUCTURE_SEGMENTS (its name, colour
    and terminology), or is a (name, colour, terminology) style of its own.

    The segment is found by ID (default: its name), so a segment regenerated into the same node keeps its ID and
    display settings. ``mask`` is a bool array on the reference volume's grid; an empty mask leaves an empty segment.
    """
    ensure_segmentation_converters()
    name, colour, entry = STRUCTURE_SEGMENTS[key] if isinstance(key, str) else key
    segment_id = segment_id or name
    segmentation = segmentation_node.GetSegmentation()
    if segmentation.GetSegment(segment_id) is None:
        segmentation.AddEmptySegment(segment_id, name, list(colour))
    segment = segmentation.GetSegment(segment_id)
    segment.SetName(name)
    segment.SetColor(*colour)
    segment.SetTag(segment.GetTerminologyEntryTagName(), entry)
    scene = segmentation_node.GetScene()
    with scratch(scene):
        labelmap = add_volume_like(scene, reference_volume_node, np.asarray(mask, np.uint8), "__claim_tmp",
                                   "vtkMRMLLabelMapVolumeNode", display=False)
        try:
            ids = vtk.vtkStringArray()
            ids.InsertNextValue(segment_id)
            logic = slicer.vtkSlicerSegmentationsModuleLogic
            if not logic.ImportLabelmapToSegmentationNode(labelmap, segmentation_node, ids):
                raise RuntimeError(f"{segmentation_node.GetName()}: cannot write segment '{name}'")
        finally:
            scene.RemoveNode(labelmap)
    return segment_id


def structure_segmentation(scene, reference_volume_node, masks: dict, name: str, node=None):
    """A segmentation node (new, or ``node`` with its content replaced) with one segment per structure of ``masks``
    (keys of STRUCTURE_SEGMENTS, in that order)."""
    if node is None:
        node = new_segmentation_node(scene, name, reference_volume_node)
    else:
        node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
        node.SetAndObserveTransformNodeID(reference_volume_node.GetTransformNodeID())
    with slicer.util.NodeModify(node):
        for key in STRUCTURE_SEGMENTS:
            if key in masks:
                set_segment(node, key, masks[key], reference_volume_node)
    return node


def scar_from_node(node, reference_volume_node, scheme: LabelScheme | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scar with MVO, MVO) of a scar mask node on the reference volume's grid.

    A segmentation: segments named as scar (Scar, Infarct, ...) and MVO; a labelmap: 0/1 is scar, anything else is
    read as labels (EMIDEC, MyoPS, or ``scheme``).
    """
    if node.IsA("vtkMRMLSegmentationNode"):
        scar = np.zeros(geometry_from_volume_node(reference_volume_node).shape, bool)
        mvo = np.zeros_like(scar)
        for name, mask in segment_masks(node, reference_volume_node).items():
            structure = structure_for_segment_name(name)
            if structure == "scar":
                scar |= mask
            elif structure == "mvo":
                mvo |= mask
        return scar | mvo, mvo
    return scar_from_labels(labelmap_on_grid(node, reference_volume_node),
                            geometry_from_volume_node(reference_volume_node), scheme, node.GetName())


def mask_from_node(node, reference_volume_node) -> np.ndarray:
    """A region on the reference volume's grid: a segmentation (all its segments), a labelmap (non-zero voxels)
    or a markups ROI (the voxels whose centres lie in its box)."""
    geometry = geometry_from_volume_node(reference_volume_node)
    if node.IsA("vtkMRMLSegmentationNode"):
        out = np.zeros(geometry.shape, bool)
        for mask in segment_masks(node, reference_volume_node).values():
            out |= mask
        return out
    if node.IsA("vtkMRMLMarkupsROINode"):
        world_to_box = vtk.vtkMatrix4x4()
        vtk.vtkMatrix4x4.Invert(node.GetObjectToWorldMatrix(), world_to_box)
        kji = np.indices(geometry.shape).reshape(3, -1).T
        ras = geometry.index_to_physical(kji) * [-1, -1, 1]
        local = ras @ _matrix_to_array(world_to_box)[:3, :3].T + _matrix_to_array(world_to_box)[:3, 3]
        half = np.asarray(node.GetSize(), float) / 2.0
        return np.all(np.abs(local) <= half, axis=1).reshape(geometry.shape)
    return labelmap_on_grid(node, reference_volume_node) > 0


def labelmap_on_grid(label_node, volume_node) -> np.ndarray:
    """A labelmap's array, refused unless it lies on the volume's grid."""
    diffs = geometry_from_volume_node(label_node).differences(geometry_from_volume_node(volume_node))
    if diffs:
        raise InputError(label_node.GetName(), f"labels and image {volume_node.GetName()} are not on one grid: "
                                               f"{'; '.join(diffs)}")
    return array_from_volume_node(label_node)


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
        labels = labelmap_on_grid(label_node, volume_node)
    return case_from_arrays(case_id or volume_node.GetName(), image, labels, geometry, scheme,
                            labels_source=source)


def add_segmentation_from_case(scene, case: Case, name: str, reference_volume_node=None):
    """A segmentation node with one segment per structure of the case (EMIDEC classes, CLAIM's names)."""
    masks = {"cavity": case.mask("cavity"), "normal": case.mask("myocardium") & ~case.mask("scar"),
             "scar": case.mask("scar") & ~case.mask("mvo"), "mvo": case.mask("mvo"), "rv": case.mask("rv")}
    ensure_segmentation_converters()
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
                    segment.SetTag(segment.GetTerminologyEntryTagName(), STRUCTURE_SEGMENTS[key][2])
    finally:
        scene.RemoveNode(labelmap)
    return seg_node


# ------------------------------------------------------------------------------------------------ markups, tables
def rv_points_from_markups(node) -> list:
    """RV insertion points of a markups node as CLAIMLib wants them: [(kind, LPS point in mm)].

    Positions are taken in world coordinates (RAS, a parent transform applied) and turned into LPS. A point whose
    label says "inferior" or "anterior" is that insertion point; otherwise one point is the anterior one and two
    points are both insertion points (their middle gives the septum).
    """
    if node is None:
        return []
    points = []
    for i in range(node.GetNumberOfControlPoints()):
        if hasattr(node, "GetNthControlPointPositionStatus") and \
                node.GetNthControlPointPositionStatus(i) != node.PositionDefined:
            continue
        ras = [0.0, 0.0, 0.0]
        node.GetNthControlPointPositionWorld(i, ras)
        label = (node.GetNthControlPointLabel(i) or "").lower()
        kind = "inferior" if "inferior" in label else "anterior" if "anterior" in label else "insertion"
        points.append((kind, np.array(ras, float) * [-1.0, -1.0, 1.0]))
    if len(points) > 2:
        raise InputError(node.GetName(), f"give one or two RV insertion points, not {len(points)}")
    return points


def table_node_from_rows(scene, rows: list[dict], columns, name: str, node=None, titles: dict | None = None,
                         units: dict | None = None):
    """A vtkMRMLTableNode (new, or ``node`` refilled) with one row per dict; str columns become text, the rest
    numbers."""
    if node is None:
        node = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(name))
    table = node.GetTable()
    with slicer.util.NodeModify(node):
        node.RemoveAllColumns()
        for column in columns:
            sample = rows[0][column] if rows else 0.0
            if isinstance(sample, str):
                array = vtk.vtkStringArray()
            elif isinstance(sample, (int, np.integer)) and not isinstance(sample, bool):
                array = vtk.vtkIntArray()
            else:
                array = vtk.vtkDoubleArray()
            array.SetName(column)
            for r in rows:
                value = r[column]
                if isinstance(array, vtk.vtkStringArray):
                    array.InsertNextValue(str(value))
                else:
                    array.InsertNextValue(value)
            table.AddColumn(array)
            if titles and column in titles:
                node.SetColumnTitle(column, titles[column])
            if units and column in units:
                node.SetColumnUnitLabel(column, units[column])
        table.Modified()
    return node


def set_record(node, record: dict) -> None:
    node.SetAttribute(RECORD_ATTRIBUTE, json.dumps(record, default=_json_default))


def get_record(node) -> dict | None:
    text = node.GetAttribute(RECORD_ATTRIBUTE) if node is not None else None
    return json.loads(text) if text else None


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def content_stamp(node):
    """A value that changes whenever the node's content or world position changes (for caches), or None."""
    if node is None:
        return None
    parts = [node.GetID(), node.GetMTime()]
    if node.IsA("vtkMRMLVolumeNode") and node.GetImageData() is not None:
        parts.append(node.GetImageData().GetMTime())
    if node.IsA("vtkMRMLSegmentationNode"):
        segmentation = node.GetSegmentation()
        parts.append(segmentation.GetMTime())
        for i in range(segmentation.GetNumberOfSegments()):
            segment = segmentation.GetNthSegment(i)
            parts.append(segment.GetMTime())
            rep = segment.GetRepresentation("Binary labelmap")
            parts.append(rep.GetMTime() if rep is not None else None)
    parent = node.GetParentTransformNode() if hasattr(node, "GetParentTransformNode") else None
    while parent is not None:
        parts.append((parent.GetID(), parent.GetMTime()))
        parent = parent.GetParentTransformNode()
    return tuple(parts)
