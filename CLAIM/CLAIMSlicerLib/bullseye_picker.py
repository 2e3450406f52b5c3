"""A clickable AHA-17 bull's-eye: pick the segments a synthetic scar covers.

The layout is CLAIMLib.bullseye's (the plot is the unit disc, y up: segment 1 at the top, septum on the left,
segment 17 the central disc), and so is the hit testing (``bullseye.segment_at``), so the picker and the
matplotlib figures always agree.

Written against Slicer's ``qt`` module (PythonQt) using only what PySide6 also has, so that the tests run it for
real under PySide6 (``tests/qt_shim.py`` builds a ``qt`` module from PySide6). The two bindings differ in ways
this module works around; see ``qtcompat`` and the notes at the mouse handler. Selection changes are
reported to plain Python callables (``addSelectionCallback``) rather than a new Qt signal, since declaring
signals differs between the bindings.

Imports only ``qt`` and CLAIMLib (no ``slicer``); numpy comes in through CLAIMLib.bullseye, and CLAIMLib.smile
(scipy) only when a random selection is asked for.
"""
from __future__ import annotations

import qt

from CLAIMLib.aha import TERRITORIES
from CLAIMLib.bullseye import segment_at, segment_centre, wedge_angles

from .qtcompat import enum as _enum
from .qtcompat import value as _value

SEGMENTS = tuple(range(1, 18))


class BullseyePicker(qt.QWidget):
    """The 17 AHA segments as a bull's-eye; a left click toggles the segment under the mouse.

    Selection callbacks, ``fn(selected)`` with the sorted list of selected segments, run whenever the selection
    changes, by a click or by a call (``setSelectedSegments``, ``selectTerritory``, ...).
    """

    SELECTED_COLOR = "#c8402f"  # scar red
    UNSELECTED_COLOR = "#d9d9d9"  # the grey of CLAIMLib.bullseye.draw's segments without a value
    BORDER_COLOR = "#ffffff"
    MARGIN = 4  # pixels between the disc and the widget's edge

    def __init__(self, parent=None):
        # the explicit base call works in both bindings (PythonQt's wrappers are not always cooperative with super)
        qt.QWidget.__init__(self, parent)
        self._selected: set[int] = set()
        self._callbacks: list = []
        self._showNumbers = True
        self._colors = {"selected": self.SELECTED_COLOR, "unselected": self.UNSELECTED_COLOR}
        self.setToolTip("Click AHA segments to select or deselect them")  # setters are methods in both bindings

    # ------------------------------------------------------------------------------------------------ selection
    def selectedSegments(self) -> list[int]:
        return sorted(self._selected)

    def setSelectedSegments(self, segments) -> None:
        """Select exactly ``segments`` (AHA numbers 1..17)."""
        chosen = set()
        for s in segments or ():
            s = int(s)
            if s not in SEGMENTS:
                raise ValueError(f"AHA segments are 1-17, not {s}")
            chosen.add(s)
        self._setSelection(chosen)

    def clearSelection(self) -> None:
        self._setSelection(set())

    def toggleSegment(self, segment: int) -> bool:
        """Select a segment if it was not, deselect it if it was; returns whether it is selected now."""
        segment = int(segment)
        if segment not in SEGMENTS:
            raise ValueError(f"AHA segments are 1-17, not {segment}")
        self._setSelection(self._selected ^ {segment})
        return segment in self._selected

    def selectTerritory(self, name: str) -> list[int]:
        """Select the segments of a coronary territory (LAD, RCA or LCX, as in CLAIMLib.aha.TERRITORIES)."""
        key = str(name).upper()
        if key not in TERRITORIES:
            raise ValueError(f"unknown territory '{name}'; use one of {', '.join(TERRITORIES)}")
        self._setSelection(set(TERRITORIES[key]))
        return self.selectedSegments()

    def selectRandomAdjacent(self, rng=None, n: int = 3, available=SEGMENTS) -> list[int]:
        """Select ``n`` adjacent segments at random (CLAIMLib.smile.select_segments), among ``available``.

        ``rng``: a numpy Generator (default: a fresh unseeded one). Fewer than ``n`` when ``available`` holds no
        connected set that large.
        """
        import numpy as np

        from CLAIMLib.smile import select_segments  # scipy: imported on use only

        n = int(n)
        if not 1 <= n <= 17:
            raise ValueError(f"select 1 to 17 segments, not {n}")
        rng = rng if rng is not None else np.random.default_rng()
        self._setSelection(set(select_segments(rng, max_segments=n, size=n, available=available)))
        return self.selectedSegments()

    def addSelectionCallback(self, fn) -> None:
        if fn not in self._callbacks:
            self._callbacks.append(fn)

    def removeSelectionCallback(self, fn) -> None:
        if fn in self._callbacks:
            self._callbacks.remove(fn)

    def _setSelection(self, chosen: set) -> None:
        if chosen == self._selected:
            return
        self._selected = set(chosen)
        self.update()  # schedules a repaint
        selected = self.selectedSegments()
        for fn in list(self._callbacks):
            fn(list(selected))

    # ------------------------------------------------------------------------------------------------ look
    def setShowNumbers(self, show: bool) -> None:
        self._showNumbers = bool(show)
        self.update()

    def setColors(self, selected: str | None = None, unselected: str | None = None) -> None:
        """Fill colours (anything ``QColor`` takes, e.g. "#c8402f" or "red")."""
        if selected is not None:
            self._colors["selected"] = selected
        if unselected is not None:
            self._colors["unselected"] = unselected
        self.update()

    def segmentColor(self, segment: int) -> str:
        """The fill colour name a segment is drawn with now."""
        return self._colors["selected" if int(segment) in self._selected else "unselected"]

    def sizeHint(self):
        return qt.QSize(220, 220)

    def minimumSizeHint(self):
        return qt.QSize(120, 120)

    # ------------------------------------------------------------------------------------------------ geometry
    def _disc(self) -> tuple[float, float, float]:
        """Centre (x, y) and radius of the bull's-eye, in widget pixels."""
        r = _value(self, "rect")  # see _value: a property in PythonQt, a method in PySide6
        w, h = float(r.width()), float(r.height())
        return w / 2.0, h / 2.0, max(1.0, min(w, h) / 2.0 - self.MARGIN)

    def plotToWidget(self, x: float, y: float) -> tuple[float, float]:
        """Widget pixel (x right, y down) of a unit-disc plot point (x right, y up)."""
        cx, cy, radius = self._disc()
        return cx + float(x) * radius, cy - float(y) * radius

    def widgetToPlot(self, px: float, py: float) -> tuple[float, float]:
        """Unit-disc plot point (y up) of a widget pixel (y down)."""
        cx, cy, radius = self._disc()
        return (float(px) - cx) / radius, (cy - float(py)) / radius

    def segmentAt(self, px: float, py: float) -> int | None:
        """The segment under a widget pixel, or None outside the bull's-eye."""
        return segment_at(*self.widgetToPlot(px, py))

    # ------------------------------------------------------------------------------------------------ events
    def mousePressEvent(self, event):
        # Qt6 (PySide6) has event.position() (a QPointF; pos() is deprecated); Qt5 (Slicer 5's PythonQt) only
        # pos(). Buttons are compared through _enum: Qt.LeftButton in PythonQt, Qt.MouseButton.LeftButton in
        # scoped-enum bindings.
        if event.button() != _enum(qt.Qt, "LeftButton", "MouseButton"):
            qt.QWidget.mousePressEvent(self, event)
            return
        pos = event.position() if hasattr(event, "position") else event.pos()
        segment = self.segmentAt(pos.x(), pos.y())
        if segment is None:
            event.ignore()
            return
        event.accept()
        self.toggleSegment(segment)

    def paintEvent(self, event):
        painter = qt.QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()  # explicitly: PythonQt may not delete the painter before the next paint

    def _paint(self, painter) -> None:
        painter.setRenderHint(_enum(qt.QPainter, "Antialiasing", "RenderHint"), True)
        cx, cy, radius = self._disc()
        pen = qt.QPen(qt.QColor(self.BORDER_COLOR))
        pen.setWidthF(max(1.0, radius / 90.0))
        painter.setPen(pen)
        for s in SEGMENTS:
            painter.setBrush(qt.QBrush(qt.QColor(self.segmentColor(s))))
            painter.drawPath(self._segmentPath(s, cx, cy, radius))
        if not self._showNumbers:
            return
        font = painter.font()
        pixels = max(7, int(round(radius * 0.085)))
        font.setPixelSize(pixels)
        painter.setFont(font)
        align = _enum(qt.Qt, "AlignCenter", "AlignmentFlag")
        for s in SEGMENTS:
            light = s not in self._selected
            painter.setPen(qt.QPen(qt.QColor("#202020" if light else "#ffffff")))
            x, y = self.plotToWidget(*segment_centre(s))
            box = 1.6 * pixels
            painter.drawText(qt.QRectF(x - box, y - box / 2, 2 * box, box), align, str(s))

    @staticmethod
    def _segmentPath(segment: int, cx: float, cy: float, radius: float):
        """A segment's outline. Qt's arc angles, like the plot's, are degrees counter-clockwise from 3 o'clock."""
        inner, outer, a0, a1 = wedge_angles(segment)
        path = qt.QPainterPath()
        ro = outer * radius
        outer_rect = qt.QRectF(cx - ro, cy - ro, 2 * ro, 2 * ro)
        if inner <= 0.0:  # segment 17, the apex: a disc
            path.addEllipse(outer_rect)
            return path
        ri = inner * radius
        inner_rect = qt.QRectF(cx - ri, cy - ri, 2 * ri, 2 * ri)
        path.arcMoveTo(outer_rect, a0)
        path.arcTo(outer_rect, a0, a1 - a0)
        path.arcTo(inner_rect, a1, a0 - a1)  # back along the inner edge
        path.closeSubpath()
        return path
