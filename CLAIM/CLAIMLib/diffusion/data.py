"""Short-axis slices for the generator: in-plane resampling, a crop around the myocardium, robust intensity
normalisation to [-1, 1] (kept, so outputs map back to scanner units), scar histograms, and flips.

A ``SliceCrop`` records where a crop came from, so that generated values can be written back into the original
volume at exactly the mask's voxels and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .model import HIST_BINS

PERCENTILES = (1.0, 99.5)


@dataclass(frozen=True)
class Normalisation:
    """Scanner intensity <-> [-1, 1]: x_norm = 2 (x - lo) / (hi - lo) - 1."""

    lo: float
    hi: float

    def forward(self, x):
        return 2.0 * (np.asarray(x, np.float64) - self.lo) / (self.hi - self.lo) - 1.0

    def inverse(self, y):
        return (np.asarray(y, np.float64) + 1.0) / 2.0 * (self.hi - self.lo) + self.lo

    def to_dict(self):
        return {"lo": self.lo, "hi": self.hi}


def normalisation_for(image: np.ndarray, myocardium: np.ndarray, geometry, margin_mm: float = 40.0) -> Normalisation:
    """Percentiles of the image around the heart (the myocardium's box plus a margin)."""
    idx = np.argwhere(myocardium)
    pad = np.ceil(margin_mm / np.asarray(geometry.spacing)[::-1]).astype(int)
    pad[0] = 0
    lo_i = np.maximum(idx.min(axis=0) - pad, 0)
    hi_i = np.minimum(idx.max(axis=0) + pad + 1, image.shape)
    region = image[tuple(slice(a, b) for a, b in zip(lo_i, hi_i))]
    lo, hi = np.percentile(region, PERCENTILES)
    if hi <= lo:
        hi = lo + 1.0
    return Normalisation(float(lo), float(hi))


@dataclass(frozen=True)
class SliceCrop:
    """A size x size crop at ``spacing_mm`` of slice k, centred on (j, i) in the slice's index space."""

    k: int
    centre: tuple  # (j, i), fractional
    scale: tuple  # original index units per crop pixel, (dj, di)
    size: int

    def coords(self) -> np.ndarray:
        """(2, size, size) original (j, i) index coordinates of each crop pixel."""
        u = np.arange(self.size) - (self.size - 1) / 2
        jj, ii = np.meshgrid(u * self.scale[0] + self.centre[0], u * self.scale[1] + self.centre[1], indexing="ij")
        return np.stack([jj, ii])

    def crop(self, slice2d: np.ndarray, order: int = 1, cval: float = 0.0) -> np.ndarray:
        return ndimage.map_coordinates(np.asarray(slice2d, np.float64), self.coords(), order=order, mode="constant",
                                       cval=cval)

    def to_crop_coords(self, ji: np.ndarray) -> np.ndarray:
        """Crop pixel coordinates (2, N) of original (j, i) indices (N, 2)."""
        c = (self.size - 1) / 2
        return np.stack([(ji[:, 0] - self.centre[0]) / self.scale[0] + c, (ji[:, 1] - self.centre[1]) / self.scale[1] + c])


def slice_crop(k: int, myocardium2d: np.ndarray, geometry, size: int, spacing_mm: float) -> SliceCrop:
    idx = np.argwhere(myocardium2d)
    centre = tuple(idx.mean(axis=0)) if len(idx) else ((myocardium2d.shape[0] - 1) / 2, (myocardium2d.shape[1] - 1) / 2)
    scale = (spacing_mm / geometry.spacing[1], spacing_mm / geometry.spacing[0])
    return SliceCrop(int(k), (float(centre[0]), float(centre[1])), scale, int(size))


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> np.ndarray:
    """Normalised histogram of [-1, 1] intensities (sums to 1)."""
    h, _ = np.histogram(np.clip(values, -1, 1), bins=bins, range=(-1.0, 1.0))
    return (h / max(h.sum(), 1)).astype(np.float32)


def lesion_measures(image: np.ndarray, scar: np.ndarray, myocardium: np.ndarray) -> tuple:
    """A crop's scar brightness over remote myocardium (mean difference) and scar texture (mean |in-plane
    neighbour difference|), in [-1, 1] units; None for each where the crop holds too little scar or remote. The
    training bank records their range over the training slices, the quality gate checks synthetic crops against
    it."""
    from ..lgestats import neighbour_differences

    scar, remote = scar > 0, (myocardium > 0) & ~(scar > 0)
    if scar.sum() <= 3 or remote.sum() <= 3:
        return None, None
    diffs = neighbour_differences(image[None], scar[None])
    return float(image[scar].mean() - image[remote].mean()), float(diffs.mean()) if len(diffs) >= 4 else None


def gaussian_histogram(mean: float, std: float, bins: int = HIST_BINS) -> np.ndarray:
    centres = np.linspace(-1 + 1 / bins, 1 - 1 / bins, bins)
    h = np.exp(-0.5 * ((centres - mean) / max(std, 1e-3)) ** 2)
    return (h / h.sum()).astype(np.float32)


@dataclass
class Slices:
    """Stacked crops of one or more cases: arrays (N, size, size) and where they came from."""

    image: np.ndarray  # normalised to [-1, 1]
    scar: np.ndarray  # float 0/1, MVO excluded
    mvo: np.ndarray
    myocardium: np.ndarray
    hist: np.ndarray  # (N, 16) scar-intensity histograms (NaN rows when a slice has no scar)
    crops: list
    norms: list
    case_ids: list


def case_slices(case, size: int, spacing_mm: float, scar=None, mvo=None, only_scarred: bool = False,
                min_scar_px: int = 4) -> Slices:
    """Crops of a case's slices that hold myocardium (``scar``/``mvo`` default to the case's own)."""
    scar = case.mask("scar") if scar is None else np.asarray(scar, bool)
    mvo = case.mask("mvo") if mvo is None else np.asarray(mvo, bool)
    myo = case.myocardium
    image = case.float_image
    norm = normalisation_for(image, myo, case.geometry)
    out = {k: [] for k in ("image", "scar", "mvo", "myo", "hist", "crops")}
    for k in range(myo.shape[0]):
        if not myo[k].any():
            continue
        c = slice_crop(k, myo[k], case.geometry, size, spacing_mm)
        img = np.clip(norm.forward(c.crop(image[k], 1, cval=norm.lo)), -1, 1)
        sc = c.crop(scar[k] & ~mvo[k], 1) > 0.5
        mv = c.crop(mvo[k], 1) > 0.5
        if only_scarred and (sc | mv).sum() < min_scar_px:
            continue
        out["image"].append(img)
        out["scar"].append(sc)
        out["mvo"].append(mv)
        out["myo"].append(c.crop(myo[k], 1) > 0.5)
        lesion = sc | mv
        out["hist"].append(histogram(img[lesion]) if lesion.any() else np.full(HIST_BINS, np.nan, np.float32))
        out["crops"].append(c)
    n = len(out["image"])
    shape = (0, size, size)
    return Slices(np.asarray(out["image"], np.float32).reshape(n, size, size) if n else np.zeros(shape, np.float32),
                  np.asarray(out["scar"], np.float32).reshape(-1, size, size),
                  np.asarray(out["mvo"], np.float32).reshape(-1, size, size),
                  np.asarray(out["myo"], np.float32).reshape(-1, size, size),
                  np.asarray(out["hist"], np.float32).reshape(-1, HIST_BINS),
                  out["crops"], [norm] * n, [case.case_id] * n)


def concat(parts: list) -> Slices:
    parts = [p for p in parts if len(p.crops)]
    if not parts:
        raise ValueError("no slices")
    return Slices(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("image", "scar", "mvo", "myocardium", "hist")),
                  sum((p.crops for p in parts), []), sum((p.norms for p in parts), []),
                  sum((p.case_ids for p in parts), []))


def random_flips(rng: np.random.Generator, *arrays: np.ndarray) -> list:
    """The same random horizontal/vertical flips for a batch's aligned arrays (N, H, W)."""
    out = [a.copy() for a in arrays]
    n = arrays[0].shape[0]
    for axis in (1, 2):
        flip = rng.random(n) < 0.5
        for a in out:
            a[flip] = np.flip(a[flip], axis=axis)
    return out


def write_back(volume: np.ndarray, generated: np.ndarray, crops: list, norm: Normalisation,
               mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Put generated crops (N, size, size) back into a copy of the volume, at the mask's voxels only.

    Returns (new volume, number of mask voxels outside every crop, left unchanged). Every voxel outside the mask is
    the input's own value, bit for bit.
    """
    out = np.array(volume, copy=True)
    missed = 0
    for gen, crop in zip(generated, crops):
        ji = np.argwhere(mask[crop.k])
        if not len(ji):
            continue
        cc = crop.to_crop_coords(ji.astype(np.float64))
        inside = np.all((cc >= -0.5) & (cc <= crop.size - 0.5), axis=0)
        values = norm.inverse(ndimage.map_coordinates(gen.astype(np.float64), cc[:, inside], order=1, mode="nearest"))
        if np.issubdtype(out.dtype, np.integer):
            info = np.iinfo(out.dtype)
            values = np.clip(np.round(values), info.min, info.max)
        out[crop.k, ji[inside, 0], ji[inside, 1]] = values.astype(out.dtype)
        missed += int((~inside).sum())
    return out, missed
