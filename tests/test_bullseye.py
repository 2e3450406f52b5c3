"""Bull's-eye: hit testing, layout, and rendered pixels."""
import numpy as np
import pytest

from CLAIMLib.bullseye import draw, plot, segment_at, segment_centre


def test_segment_at_every_centre():
    for s in range(1, 18):
        assert segment_at(*segment_centre(s)) == s
    # standard layout: 1 at the top, septum (2, 3) on the left, 4 at the bottom, 6 upper right
    assert segment_at(0, 0.9) == 1 and segment_at(-0.8, 0.3) == 2 and segment_at(-0.8, -0.3) == 3
    assert segment_at(0, -0.9) == 4 and segment_at(0.8, -0.3) == 5 and segment_at(0.8, 0.3) == 6
    assert segment_at(0, 0.4) == 13 and segment_at(-0.4, 0) == 14 and segment_at(0, -0.4) == 15
    assert segment_at(0.4, 0) == 16 and segment_at(0.05, 0.05) == 17


def test_segment_at_outside():
    for x, y in ((1.01, 0), (0, -1.2), (5, 5), (np.nan, 0)):
        assert segment_at(x, y) is None


def test_rendered_segments_have_their_colours(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = {s: float(s) for s in range(1, 18)}
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    sm = draw(ax, values, title="t", unit="u", cmap="viridis", vmin=1, vmax=17, show_numbers=False, colorbar=False)
    path = tmp_path / "b.png"
    fig.canvas.draw()
    fig.savefig(path, dpi=100)
    img = plt.imread(path)[..., :3]
    height = img.shape[0]
    for s in range(1, 18):
        x, y = segment_centre(s)
        # a point between the label and the wedge edge, inside the segment
        px, py = ax.transData.transform((x + (0.06 if s != 17 else 0.12), y))
        row, col = int(round(height - py)), int(round(px))
        expected = np.array(sm.to_rgba(values[s])[:3])
        patch = img[row - 1:row + 2, col - 1:col + 2].reshape(-1, 3)
        assert np.min(np.abs(patch - expected).sum(axis=1)) < 0.08, s
    plt.close(fig)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_files(tmp_path, suffix):
    panels = [{"values": np.arange(17.0), "title": "truth", "unit": "mL", "highlight": [4, 10, 15]},
              {"values": np.arange(17.0)[::-1], "title": "prediction", "unit": "mL"}]
    path = plot(panels, tmp_path / f"fig{suffix}", suptitle="test")
    assert path.stat().st_size > 5000
    if suffix == ".png":
        import matplotlib.pyplot as plt

        img = plt.imread(path)
        assert img.shape[1] > 2 * img.shape[0] * 0.9  # two panels side by side
        assert np.std(img[..., :3]) > 0.1  # not blank
    else:
        assert "<svg" in path.read_text()[:500]
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(ValueError):
        plot(panels, tmp_path / "fig.jpg")
