"""The Slicer-only services a panel's handlers need, passed in as one ``PanelServices``; ``slicerServices()`` are
the real ones, which the module files use.

The handlers (``handlers``) never call ``slicer.util`` or ``slicer.app`` themselves, so that they run under pytest
with fakes of these. Importing this module imports neither ``qt`` nor ``slicer``; ``slicerServices()`` does.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, ContextManager


@dataclass
class PanelServices:
    """What a panel shows and asks outside its own widgets."""

    errorDisplay: Callable[[str, "str | None"], None]  # (message, details or None): one error box
    busy: Callable[[], ContextManager]  # the wait cursor around a handler's work
    showImage: Callable[[object, str], None]  # (QLabel, PNG path)
    setSliceViewerLayers: Callable[..., None]  # slicer.util.setSliceViewerLayers(background=node, fit=False)
    showTable: Callable[[object], None]  # a table node becomes the one the table views show
    rememberedPath: Callable[[str], str]  # key -> a path remembered across sessions, or ""
    rememberPath: Callable[[str, str], None]  # (key, path)
    ensureDependencies: Callable[[str], bool]  # group -> installed (after asking); False when declined


def slicerServices() -> PanelServices:
    """The services inside 3D Slicer: message boxes, the application's cursor and views, its settings."""
    import slicer

    from . import widgets

    def errorDisplay(message: str, details: str | None = None) -> None:
        if details:
            slicer.util.errorDisplay(message, detailedText=details)
        else:
            slicer.util.errorDisplay(message)

    @contextmanager
    def busy():
        import qt

        slicer.app.setOverrideCursor(qt.Qt.WaitCursor)
        try:
            yield
        finally:
            slicer.app.restoreOverrideCursor()

    def showTable(table) -> None:
        application = slicer.app.applicationLogic()
        application.GetSelectionNode().SetActiveTableID(table.GetID())
        application.PropagateTableSelection()

    return PanelServices(errorDisplay=errorDisplay, busy=busy, showImage=widgets.showImage,
                         setSliceViewerLayers=slicer.util.setSliceViewerLayers, showTable=showTable,
                         rememberedPath=widgets.rememberedPath, rememberPath=widgets.rememberPath,
                         ensureDependencies=widgets.ensureDependencies)
