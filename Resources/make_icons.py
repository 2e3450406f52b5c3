"""Draw the extension and module icons (128x128 PNG bull's-eyes). Run: python Resources/make_icons.py"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Wedge  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def bullseye(path, lit, colour):
    fig = plt.figure(figsize=(1.28, 1.28), dpi=100)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.axis("off")
    rings = [(1.0, 0.75, 6, 1), (0.75, 0.5, 6, 7), (0.5, 0.25, 4, 13)]
    for r_out, r_in, n, first in rings:
        step = 360 / n
        start = 60 if n == 6 else 45  # segment 1 centred at the top, numbered counter-clockwise
        for i in range(n):
            seg = first + i
            a0 = start + i * step
            ax.add_patch(Wedge((0, 0), r_out, a0, a0 + step, width=r_out - r_in,
                               facecolor=colour if seg in lit else "#3a3a3a", edgecolor="white", lw=1.2))
    ax.add_patch(Wedge((0, 0), 0.25, 0, 360, facecolor=colour if 17 in lit else "#3a3a3a", edgecolor="white", lw=1.2))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, transparent=True)
    plt.close(fig)


if __name__ == "__main__":
    bullseye(ROOT / "Resources" / "Icons" / "CLAIM.png", {1, 2, 7, 8, 13, 14, 17}, "#f0b400")
    bullseye(ROOT / "CLAIM" / "Resources" / "Icons" / "CLAIM.png", {1, 2, 7, 8, 13, 14, 17}, "#f0b400")
    bullseye(ROOT / "SMILEMaskEditor" / "Resources" / "Icons" / "SMILEMaskEditor.png", {4, 10, 15}, "#e0452b")
