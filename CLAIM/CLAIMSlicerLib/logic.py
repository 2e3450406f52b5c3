"""Logic of the CLAIM and SMILEMaskEditor modules: MRML nodes in, CLAIMLib calls, MRML nodes out.

The classes work without a GUI and take the scene to work on, so they run in Slicer (``slicer.mrmlScene``),
headless, and in the tests against a ``vtkMRMLScene`` from slicer-core.
"""
from __future__ import annotations

import slicer

from CLAIMLib.info import case_info, format_info
from CLAIMLib.labels import Case, parse_scheme

from . import mrml

# Only numpy and SimpleITK (both shipped with Slicer) are imported at load time, so the modules load before
# "Install Python dependencies" has run; capabilities needing scipy, scikit-image or torch import them on use.

try:  # inside Slicer
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic
except ImportError:  # slicer-core (tests): no scripted-module framework
    class ScriptedLoadableModuleLogic:  # type: ignore[no-redef]
        def __init__(self, parent=None):
            pass


class CaseNodeLogic(ScriptedLoadableModuleLogic):
    """Conversions shared by both modules."""

    def __init__(self, scene=None):
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene if scene is not None else slicer.mrmlScene

    def caseFromNodes(self, volumeNode, labelNode, scheme: str | None = None) -> Case:
        """Case from an LGE volume node and a labelmap or segmentation node (scheme text: emidec, myops, mapping)."""
        return mrml.case_from_nodes(volumeNode, labelNode, parse_scheme(scheme) if scheme else None)

    def addVolumeNode(self, array, geometry, name: str, labelmap: bool = False):
        cls = "vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode"
        return mrml.add_volume_node(self.scene, array, geometry, name, cls)

    def addSegmentationNode(self, case: Case, name: str, referenceVolumeNode=None):
        return mrml.add_segmentation_from_case(self.scene, case, name, referenceVolumeNode)

    def addPhantomCase(self, seed: int = 0, pathological: bool = True):
        """Generate a phantom case into the scene: (LGE volume node, segmentation node, phantom case)."""
        from CLAIMLib.labels import case_from_arrays
        from CLAIMLib.phantom import case_rng, generate_case

        case_id = f"Phantom_{'P' if pathological else 'N'}{seed:03d}"
        phantom = generate_case(case_rng(seed, 0), case_id, pathological)
        volume = self.addVolumeNode(phantom.image, phantom.geometry, case_id)
        case = case_from_arrays(case_id, phantom.image, phantom.labels, phantom.geometry)
        segmentation = self.addSegmentationNode(case, f"{case_id}_labels", volume)
        return volume, segmentation, phantom

    def infoText(self, volumeNode, labelNode, scheme: str | None = None) -> str:
        return format_info(case_info(self.caseFromNodes(volumeNode, labelNode, scheme)))


class CLAIMLogic(CaseNodeLogic):
    """Synthesis, segmentation and bull's-eye logic (capabilities arrive with their issues)."""


class SMILEMaskEditorLogic(CaseNodeLogic):
    """AHA segments and SMILE scar masks from the Slicer scene (capabilities arrive with their issues)."""
