"""The bull's-eye segment picker, run for real under PySide6 off screen through the ``qt`` shim."""
import ast
from collections import deque

import numpy as np
import pytest

from CLAIMLib.aha import TERRITORIES
from CLAIMLib.bullseye import wedge_angles, segment_centre
from CLAIMLib.smile import ADJACENCY
from conftest import REPO

SEGMENTS = range(1, 18)
SIZE = 300


@pytest.fixture(scope="module")
def qt_env():
    """(qt shim, picker module, QApplication), with the shim in sys.modules['qt'] for this module's tests only."""
    import qt_shim

    yield from qt_shim.shimmed("CLAIMSlicerLib.bullseye_picker")


@pytest.fixture
def picker(qt_env):
    qt, module, app = qt_env
    w = module.BullseyePicker()
    w.resize(SIZE, SIZE)
    w.show()
    app.processEvents()
    yield w
    w.close()
    w.deleteLater()
    app.processEvents()


def click(qt, widget, px, py, button="LeftButton", via="qtest"):
    """A real mouse click at widget pixel (px, py): QTest, or a QMouseEvent sent through QApplication."""
    btn = getattr(qt.Qt.MouseButton, button)
    if via == "qtest" and hasattr(qt, "QTest"):
        qt.QTest.mouseClick(widget, btn, qt.Qt.KeyboardModifier.NoModifier, qt.QPoint(round(px), round(py)))
        return
    local = qt.QPointF(px, py)
    event = qt.QMouseEvent(qt.QEvent.Type.MouseButtonPress, local, widget.mapToGlobal(local), btn, btn,
                           qt.Qt.KeyboardModifier.NoModifier)
    qt.QApplication.sendEvent(widget, event)


def centre_pixel(widget, s):
    return widget.plotToWidget(*segment_centre(s))


def off_centre_pixel(widget, s):
    """A point of segment s away from its number (drawn at the centre) and from its borders."""
    inner, outer, a0, a1 = wedge_angles(s)
    if s == 17:
        return widget.plotToWidget(0.17, 0.0)
    r, a = (inner + outer) / 2, np.deg2rad(a0 + 0.25 * (a1 - a0))
    return widget.plotToWidget(r * np.cos(a), r * np.sin(a))


def pixel(image, xy):
    c = image.pixelColor(int(xy[0]), int(xy[1]))
    return np.array([c.red(), c.green(), c.blue()])


def rgb(qt, name):
    c = qt.QColor(name)
    return np.array([c.red(), c.green(), c.blue()])


def grab(qt, app, widget):
    app.processEvents()
    image = widget.grab().toImage()
    assert image.width() == SIZE * image.devicePixelRatio()
    return image


def test_module_imports_only_qt_and_claimlib():
    tree = ast.parse((REPO / "CLAIM" / "CLAIMSlicerLib" / "bullseye_picker.py").read_text())
    top = {("." if isinstance(n, ast.ImportFrom) and n.level else "")
           + (n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
           for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
           for a in (n.names if isinstance(n, ast.Import) else [None])}
    assert top == {"__future__", "qt", "CLAIMLib", ".qtcompat"}  # qtcompat imports nothing


def test_coordinates_y_up_and_round_trip(picker):
    cx, cy = picker.plotToWidget(0, 0)
    assert (cx, cy) == (SIZE / 2, SIZE / 2)
    top = picker.plotToWidget(0, 1)
    assert top[0] == cx and top[1] < cy and top[1] == pytest.approx(picker.MARGIN)
    for x, y in [(0.3, -0.7), (-0.9, 0.1), (0.0, 0.0)]:
        assert picker.widgetToPlot(*picker.plotToWidget(x, y)) == pytest.approx((x, y))
    assert picker.segmentAt(*picker.plotToWidget(0, 0.9)) == 1  # basal anterior at the top
    assert picker.segmentAt(*picker.plotToWidget(-0.6, 0.1)) == 8  # mid anteroseptal, septum on the left
    assert picker.segmentAt(2, 2) is None  # a corner, outside the disc
    hint = picker.sizeHint()
    assert hint.width() == hint.height() >= picker.minimumSizeHint().width()


@pytest.mark.parametrize("via", ["qtest", "sendEvent"])
def test_clicking_each_segment_toggles_exactly_it(qt_env, picker, via):
    qt, _, app = qt_env
    calls = []
    picker.addSelectionCallback(calls.append)
    for s in SEGMENTS:
        click(qt, picker, *centre_pixel(picker, s), via=via)
        assert picker.selectedSegments() == [s], s
        click(qt, picker, *centre_pixel(picker, s), via=via)
        assert picker.selectedSegments() == [], s
    assert calls == [x for s in SEGMENTS for x in ([s], [])]


def test_clicks_that_select_nothing(qt_env, picker):
    qt, _, _ = qt_env
    calls = []
    picker.addSelectionCallback(calls.append)
    click(qt, picker, 1, 1)  # outside the disc
    click(qt, picker, *centre_pixel(picker, 5), button="RightButton")
    assert picker.selectedSegments() == [] and calls == []
    click(qt, picker, *centre_pixel(picker, 4))
    click(qt, picker, *centre_pixel(picker, 10))
    assert picker.selectedSegments() == [4, 10] and calls == [[4], [4, 10]]


def test_programmatic_selection_and_callbacks(picker):
    calls = []
    picker.addSelectionCallback(calls.append)
    picker.setSelectedSegments([10, 4, 4, 15])
    picker.setSelectedSegments((4, 10, 15))  # no change: no callback
    assert picker.selectedSegments() == [4, 10, 15] and calls == [[4, 10, 15]]
    assert picker.toggleSegment(4) is False and picker.toggleSegment(17) is True
    assert calls[-1] == [10, 15, 17]
    with pytest.raises(ValueError):
        picker.setSelectedSegments([0])
    with pytest.raises(ValueError):
        picker.toggleSegment(18)
    picker.removeSelectionCallback(calls.append)
    picker.clearSelection()
    assert picker.selectedSegments() == [] and len(calls) == 3


def test_territory_presets(picker):
    calls = []
    picker.addSelectionCallback(calls.append)
    for name, segments in TERRITORIES.items():
        assert picker.selectTerritory(name) == sorted(segments)
        assert picker.selectedSegments() == sorted(segments) and calls[-1] == sorted(segments)
    assert picker.selectTerritory("lad") == sorted(TERRITORIES["LAD"])
    with pytest.raises(ValueError, match="LAD, RCA, LCX"):
        picker.selectTerritory("LM")


def _connected(segments):
    segments = set(segments)
    start = next(iter(segments))
    seen, todo = {start}, deque([start])
    while todo:
        for t in ADJACENCY[todo.popleft()] & segments - seen:
            seen.add(t)
            todo.append(t)
    return seen == segments


def test_random_adjacent_selection(picker):
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 4, 6):
        for _ in range(5):
            chosen = picker.selectRandomAdjacent(rng, n)
            assert len(chosen) == n and chosen == picker.selectedSegments() and _connected(chosen), chosen
    no_apex = range(1, 17)
    for _ in range(10):
        assert 17 not in picker.selectRandomAdjacent(rng, 4, available=no_apex)
    same = [type(picker).selectRandomAdjacent(picker, np.random.default_rng(7), 3) for _ in range(2)]
    assert same[0] == same[1]  # same seed, same segments
    with pytest.raises(ValueError):
        picker.selectRandomAdjacent(rng, 0)


@pytest.mark.parametrize("numbers", [False, True])
def test_rendering_draws_every_segment_in_its_state(qt_env, picker, numbers):
    qt, module, app = qt_env
    picker.setShowNumbers(numbers)
    where = off_centre_pixel if numbers else centre_pixel
    on, off = rgb(qt, module.BullseyePicker.SELECTED_COLOR), rgb(qt, module.BullseyePicker.UNSELECTED_COLOR)
    odd = [s for s in SEGMENTS if s % 2]
    for selected in (odd, [s for s in SEGMENTS if s not in odd], list(SEGMENTS), []):
        picker.setSelectedSegments(selected)
        image = grab(qt, app, picker)
        for s in SEGMENTS:
            want = on if s in selected else off
            got = pixel(image, where(picker, s))
            assert np.abs(got - want).max() <= 2, (s, selected, got, want)
    if numbers:  # each number is drawn over its segment's centre
        picker.setSelectedSegments([])
        image = grab(qt, app, picker)
        for s in SEGMENTS:
            cx, cy = centre_pixel(picker, s)
            box = [pixel(image, (cx + dx, cy + dy)) for dx in range(-6, 7) for dy in range(-6, 7)]
            assert max(np.abs(p - off).max() for p in box) > 60, s


def test_custom_colours(qt_env, picker):
    qt, _, app = qt_env
    picker.setShowNumbers(False)
    picker.setColors(selected="#0000ff", unselected="#00ff00")
    picker.setSelectedSegments([3])
    image = grab(qt, app, picker)
    assert list(pixel(image, centre_pixel(picker, 3))) == [0, 0, 255]
    assert list(pixel(image, centre_pixel(picker, 9))) == [0, 255, 0]
    assert picker.segmentColor(3) == "#0000ff"
