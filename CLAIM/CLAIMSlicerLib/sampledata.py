"""The CLAIM phantom in Slicer's Sample Data module: generated locally by CLAIMLib.phantom, nothing downloaded.

The CLAIM module registers it at startup (``registerSampleData``); the self-tests load it through Sample Data
(``selftest.loadSamplePhantom``). Both take their collaborators as arguments, so the tests pass stand-ins.
"""
from __future__ import annotations

from pathlib import Path

SAMPLE_NAME = "CLAIMPhantom"
SAMPLE_SEED = 7
THUMBNAIL = Path(__file__).resolve().parent.parent / "Resources" / "Icons" / "CLAIM.png"  # beside CLAIM.py


def registerSampleData(sampleData=None) -> None:
    """Register the phantom with ``sampleData`` (the SampleData module, imported when not given)."""
    if sampleData is None:
        import SampleData as sampleData

    sampleData.SampleDataLogic.registerCustomSampleDataSource(
        category="CLAIM", sampleName=SAMPLE_NAME,
        uris=f"claim-phantom:seed={SAMPLE_SEED}",  # never fetched: the custom loader below generates the case
        fileNames=f"{SAMPLE_NAME}.nrrd", nodeNames=SAMPLE_NAME,
        thumbnailFileName=str(THUMBNAIL), customDownloader=loadPhantomSample)


def loadPhantomSample(source=None, logic=None, services=None) -> list:
    """SampleData's loader: the phantom case (LGE volume and labels segmentation) into the scene, shown in the
    slice views; [] when the user declines to install the packages it needs.

    ``logic``: a ``logic.CLAIMLogic`` (a new one when not given); ``services``: a ``services.PanelServices``
    (Slicer's when not given)."""
    from . import dependencies

    if services is None:
        from .services import slicerServices

        services = slicerServices()
    if dependencies.missing("core") and not services.ensureDependencies("core"):
        return []
    if logic is None:
        from .logic import CLAIMLogic

        logic = CLAIMLogic()
    volume, segmentation, _ = logic.addPhantomCase(seed=SAMPLE_SEED)
    services.setSliceViewerLayers(background=volume, fit=True)
    return [volume, segmentation]
