"""Classic LGE scar quantification: thresholds relative to remote myocardium (n-SD, FWHM, Otsu), clean-up as
clinicians do it, MVO and the gray zone. Arrays in, masks and a record out.

- **Remote myocardium** (``remote_region``): the reference of every threshold. Automatic: the AHA segment of
  lowest median intensity, over myocardium voxels away from the blood pool and the epicardium (one pixel in-plane
  is partial volume). Or given: AHA segments, or a mask.
- **Methods** (``Method``):
  - ``nsd:N``: remote mean + N remote SDs (N from 2 to 6);
  - ``fwhm``: half of the peak enhancement. The peak is that of the enhanced region itself: the largest connected
    component above remote mean + 5 SD, found away from the partial-volume rims (or the component under a seed
    point), never a myocardium percentile. The image's zero is not trusted (EMIDEC's intensities carry an offset
    of thousands), so enhancement is measured from the remote mean: threshold = remote + 50% x (peak - remote),
    which is the classic 50%-of-maximum when the remote myocardium is nulled;
  - ``otsu``: Otsu's threshold over the myocardium's distinct intensities.
  A voxel at or above the threshold is enhanced.
- **Clean-up**: 3D components below ``min_size_ml`` are dropped; optionally only components that touch the
  endocardium (ischaemic scar) are kept.
- **MVO**: a hypo-enhanced core enclosed by scar: a non-enhanced in-plane island of the myocardium whose border,
  the blood pool aside, is scar. Islands of at least ``mvo_min_mm2`` are MVO (counted in the infarct); smaller
  ones are noise holes and filled as scar.
- **Gray zone** (peri-infarct): enhanced between two levels (FWHM: 35-50% of the peak enhancement; n-SD: between
  two SD multiples, e.g. 2-3), outside the core, and touching it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from .errors import InputError
from .geometry import Geometry

SEED_SD = 5.0  # FWHM's enhanced region: its largest component above remote mean + SEED_SD remote SDs
MIN_REMOTE_VOXELS = 20
MIN_SIZE_ML = 0.05
SEAL_MM = 3.0  # gaps in a scar ring narrower than about twice this are closed before MVO islands are sought
MVO_MIN_MM2 = 8.0
SENSITIVITY_METHODS = ("nsd:2", "nsd:3", "nsd:5", "nsd:6", "fwhm")
DEFAULT_GRAY_ZONE = {"fwhm": (35.0, 50.0), "nsd": (2.0, 3.0)}


# ------------------------------------------------------------------------------------------------ methods
@dataclass(frozen=True)
class Method:
    """A threshold method: ``kind`` nsd, fwhm or otsu; ``n`` the SD multiple of nsd."""

    kind: str
    n: float | None = None

    def __str__(self) -> str:
        return f"nsd:{self.n:g}" if self.kind == "nsd" else self.kind

    def describe(self) -> str:
        if self.kind == "nsd":
            return f"remote mean + {self.n:g} SD"
        if self.kind == "fwhm":
            return "50% of the peak enhancement of the enhanced region (full width at half maximum)"
        return "Otsu's threshold within the myocardium"


def parse_method(text, source="--method") -> Method:
    """``fwhm``, ``otsu`` or ``nsd:N`` (N from 2 to 6)."""
    key = str(text).strip().lower()
    if key in ("fwhm", "otsu"):
        return Method(key)
    if key.startswith("nsd"):
        _, _, n = key.partition(":")
        try:
            value = float(n)
        except ValueError:
            raise InputError(source, f"'{text}': write nsd:N with N a number from 2 to 6, e.g. nsd:3") from None
        if not 2.0 <= value <= 6.0:
            raise InputError(source, f"'{text}': N must lie between 2 and 6 (got {value:g})")
        return Method("nsd", value)
    raise InputError(source, f"unknown method '{text}'; use fwhm, otsu or nsd:N (N from 2 to 6)")


def parse_gray_zone(text, method: Method, source="--gray-zone") -> tuple[float, float] | None:
    """The gray zone's two levels: percent of the peak enhancement (fwhm) or SD multiples (nsd). ``text``: None
    (no gray zone), "" or "default" (35:50 for fwhm, 2:3 for nsd), or "LO:HI"."""
    if text is None:
        return None
    if method.kind not in DEFAULT_GRAY_ZONE:
        raise InputError(source, f"the gray zone is defined for fwhm and nsd:N, not {method}")
    key = str(text).strip().lower()
    if key in ("", "default"):
        return DEFAULT_GRAY_ZONE[method.kind]
    lo, sep, hi = key.partition(":")
    try:
        lo_v, hi_v = float(lo), float(hi)
    except ValueError:
        lo_v = hi_v = None
    if not sep or lo_v is None or not lo_v < hi_v:
        unit = "percent of the peak, e.g. 35:50" if method.kind == "fwhm" else "SD multiples, e.g. 2:3"
        raise InputError(source, f"'{text}': give LO:HI with LO < HI ({unit})")
    if method.kind == "fwhm" and not (0 < lo_v and hi_v <= 100):
        raise InputError(source, f"'{text}': percentages of the peak lie in 0-100")
    if method.kind == "nsd" and not (0 < lo_v and hi_v <= 10):
        raise InputError(source, f"'{text}': SD multiples lie in 0-10")
    return lo_v, hi_v


# ------------------------------------------------------------------------------------------------ remote
@dataclass
class Remote:
    """The remote (healthy) myocardium every threshold is relative to."""

    mask: np.ndarray
    mean: float
    sd: float
    source: str  # automatic, segments or mask
    segments: list = field(default_factory=list)
    volume_ml: float = 0.0

    def to_dict(self) -> dict:
        return {"source": self.source, "segments": list(self.segments), "mean": self.mean, "sd": self.sd,
                "voxels": int(np.count_nonzero(self.mask)), "volume_ml": self.volume_ml}

    def describe(self) -> str:
        where = {"automatic": f"AHA segment {', '.join(map(str, self.segments))} (automatic: lowest median)",
                 "segments": f"AHA segments {', '.join(map(str, self.segments))}",
                 "mask": "a given mask"}[self.source]
        return f"{where}: mean {self.mean:.4g}, SD {self.sd:.4g}, {self.volume_ml:.2f} mL"


def _in_plane(axis: int) -> np.ndarray:
    """A 3x3 in-plane structuring element for stacks along ``axis``."""
    s = np.zeros((3, 3, 3), bool)
    idx = [slice(None)] * 3
    idx[axis] = 1
    s[tuple(idx)] = ndi.generate_binary_structure(2, 1)
    return s


def inner_myocardium(myocardium: np.ndarray, axis: int) -> np.ndarray:
    """Myocardium away from its borders: one pixel in-plane is eroded (partial volume with blood and fat)."""
    return ndi.binary_erosion(myocardium, _in_plane(axis))


def remote_region(image, myocardium, aha, geometry: Geometry, segments=None, mask=None, source="remote") -> Remote:
    """The remote myocardium: ``mask`` (within the myocardium), ``segments`` (AHA numbers), or the AHA segment of
    lowest median intensity. Voxels at the myocardium's borders are left out unless nothing else remains."""
    from .longaxis import stack_axis

    image = np.asarray(image, np.float64)
    myocardium = np.asarray(myocardium, bool)
    inner = inner_myocardium(myocardium, stack_axis(geometry))

    def core(region):
        c = region & inner
        return c if np.count_nonzero(c) >= MIN_REMOTE_VOXELS else region

    if mask is not None:
        region = np.asarray(mask, bool) & myocardium
        if np.count_nonzero(region) < MIN_REMOTE_VOXELS:
            raise InputError(source, f"the remote mask holds {int(np.count_nonzero(region))} myocardium voxels; "
                                     f"at least {MIN_REMOTE_VOXELS} are needed")
        kind, chosen = "mask", []
        region = core(region)
    elif segments:
        chosen = sorted(set(int(s) for s in segments))
        empty = [s for s in chosen if not np.any((aha == s) & myocardium)]
        if empty:
            raise InputError(source, f"AHA segment{'s' if len(empty) > 1 else ''} {', '.join(map(str, empty))} "
                                     f"hold{'s' if len(empty) == 1 else ''} no myocardium in this case")
        region = core(np.isin(aha, chosen) & myocardium)
        if np.count_nonzero(region) < MIN_REMOTE_VOXELS:
            raise InputError(source, f"segments {', '.join(map(str, chosen))} hold only "
                                     f"{int(np.count_nonzero(region))} myocardium voxels; at least "
                                     f"{MIN_REMOTE_VOXELS} are needed")
        kind = "segments"
    else:
        medians = {}
        for s in range(1, 18):
            c = (aha == s) & inner
            if np.count_nonzero(c) >= MIN_REMOTE_VOXELS:
                medians[s] = float(np.median(image[c]))
        if not medians:
            raise InputError(source, "no AHA segment holds enough myocardium away from its borders to serve as "
                                     "remote myocardium; give --remote-segments or a remote mask")
        best = min(medians, key=medians.get)
        chosen, kind = [best], "automatic"
        region = (aha == best) & inner
    values = image[region]
    return Remote(region, float(values.mean()), float(values.std()), kind, chosen,
                  float(np.count_nonzero(region)) * geometry.voxel_volume_ml)


# ------------------------------------------------------------------------------------------------ thresholds
def fwhm_peak(image, myocardium, remote: Remote, geometry: Geometry, seed_point=None) -> dict:
    """The peak of the enhanced region: the largest 3D component of inner myocardium above remote mean + 5 SD (or
    the component of myocardium above that level under ``seed_point``, an index (k, j, i)); its 95th percentile,
    so that a few noisy voxels do not set the threshold."""
    from .longaxis import stack_axis

    seed_level = remote.mean + SEED_SD * remote.sd
    axis = stack_axis(geometry)
    if seed_point is not None:
        candidates = myocardium & (image >= seed_level)
        lab, _ = ndi.label(candidates, np.ones((3, 3, 3), bool))
        value = lab[tuple(int(v) for v in seed_point)]
        if value == 0:
            raise InputError("seed point", f"lies on no myocardium brighter than remote + {SEED_SD:g} SD "
                                           f"({seed_level:.4g})")
        component = lab == value
    else:
        candidates = inner_myocardium(myocardium, axis) & (image >= seed_level)
        lab, n = ndi.label(candidates, np.ones((3, 3, 3), bool))
        if n == 0:
            return {"peak": None, "seed_level": seed_level, "component_ml": 0.0}
        sizes = np.bincount(lab.ravel())[1:]
        component = lab == (int(np.argmax(sizes)) + 1)
    peak = float(np.percentile(image[component], 95))
    return {"peak": peak, "seed_level": seed_level,
            "component_ml": float(np.count_nonzero(component)) * geometry.voxel_volume_ml}


def level(method: Method, remote: Remote, image=None, myocardium=None, peak=None, fraction: float = 0.5):
    """The threshold of ``method``: nsd from the remote; fwhm from ``peak`` (``fraction`` of the enhancement above
    the remote mean; None without an enhanced region); otsu from the myocardium's intensities."""
    if method.kind == "nsd":
        return remote.mean + method.n * remote.sd
    if method.kind == "fwhm":
        return None if peak is None else remote.mean + fraction * (peak - remote.mean)
    from skimage.filters import threshold_otsu

    values, counts = np.unique(np.asarray(image)[myocardium], return_counts=True)
    if len(values) < 2:
        return float(values[-1]) + 1.0
    lower = threshold_otsu(hist=(counts, values))  # exact: over the distinct values, not 256 bins
    return float(values[min(np.searchsorted(values, lower, side="right"), len(values) - 1)])  # lowest enhanced


# ------------------------------------------------------------------------------------------------ clean-up, MVO
def endocardial_border(myocardium, cavity, axis: int) -> np.ndarray:
    """Myocardium voxels next to the blood pool in-plane (the pool filled from the myocardium when not given)."""
    if cavity is None or not np.any(cavity):
        filled = np.stack([ndi.binary_fill_holes(s) for s in np.moveaxis(myocardium, axis, 0)])
        cavity = np.moveaxis(filled, 0, axis) & ~myocardium
    return myocardium & ndi.binary_dilation(cavity, _in_plane(axis))


def clean(enhanced, geometry: Geometry, min_size_ml: float, endocardial=None) -> tuple[np.ndarray, dict]:
    """Drop 3D components below ``min_size_ml`` (and, with ``endocardial``, those not touching it)."""
    lab, n = ndi.label(enhanced, np.ones((3, 3, 3), bool))
    if n == 0:
        return enhanced, {"components": 0, "dropped_small": 0, "dropped_not_endocardial": 0}
    sizes = np.bincount(lab.ravel(), minlength=n + 1) * geometry.voxel_volume_ml
    keep = sizes >= min_size_ml
    small = int(np.count_nonzero(~keep[1:]))
    not_endo = 0
    if endocardial is not None:
        touching = np.zeros(n + 1, bool)
        touching[np.unique(lab[endocardial & (lab > 0)])] = True
        not_endo = int(np.count_nonzero(keep[1:] & ~touching[1:]))
        keep &= touching
    keep[0] = False
    return keep[lab], {"components": int(np.count_nonzero(keep)), "dropped_small": small,
                       "dropped_not_endocardial": not_endo}


def _islands(walls, my, cav, four):
    """In-plane islands of ``my & ~walls`` whose border, the blood pool aside, is all wall."""
    lab, n = ndi.label(my & ~walls, four)
    for i in range(1, n + 1):
        island = lab == i
        ring = ndi.binary_dilation(island, four) & ~island & ~cav
        if ring.any() and np.all(walls[ring]):
            yield island


def enclosed_cores(scar, myocardium, cavity, geometry: Geometry, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(MVO, holes): in-plane islands of non-scar myocardium whose border outside the blood pool is all scar, as
    the scar stands and once gaps in it narrower than about ``2 x SEAL_MM`` are closed (a threshold rarely rings a
    core perfectly; the voxels that seal a core belong to it). Islands of at least ``MVO_MIN_MM2`` are MVO; smaller
    ones are holes (noise) to fill."""
    from skimage.morphology import disk

    spacing = np.delete(np.asarray(geometry.spacing)[::-1], axis)
    pixel_mm2 = float(spacing[0] * spacing[1])
    seal = disk(max(1, int(round(SEAL_MM / float(min(spacing))))))
    cavity = np.zeros_like(scar) if cavity is None else cavity
    mvo, holes = np.zeros_like(scar), np.zeros_like(scar)
    four = ndi.generate_binary_structure(2, 1)
    pad = seal.shape[0] + 1
    for k in np.flatnonzero(np.moveaxis(scar, axis, 0).reshape(scar.shape[axis], -1).any(axis=1)):
        sc, my, cav = (np.take(a, k, axis=axis) for a in (scar, myocardium, cavity))
        (j0, i0), (j1, i1) = np.argwhere(my).min(0), np.argwhere(my).max(0)  # work on the heart's box
        box = (slice(max(j0 - pad, 0), j1 + pad + 1), slice(max(i0 - pad, 0), i1 + pad + 1))
        sc, my, cav = sc[box], my[box], cav[box]
        sealed = sc | (ndi.binary_closing(sc, seal) & my)
        found = list(_islands(sc, my, cav, four))
        found += [i | (ndi.binary_dilation(i, seal) & sealed & ~sc) for i in _islands(sealed, my, cav, four)]
        view = [slice(None)] * 3
        view[axis] = k
        for island in found:
            target = mvo if np.count_nonzero(island) * pixel_mm2 >= MVO_MIN_MM2 else holes
            target[tuple(view)][box] |= island
    holes &= ~mvo
    return mvo, holes


# ------------------------------------------------------------------------------------------------ one method
@dataclass
class ScarMasks:
    """A threshold's answer: scar (MVO included), MVO, gray zone (or None) and the record of how."""

    scar: np.ndarray
    mvo: np.ndarray
    gray_zone: np.ndarray | None
    record: dict


def threshold_scar(image, myocardium, cavity, remote: Remote, method: Method, geometry: Geometry,
                   gray_zone: tuple | None = None, min_size_ml: float = MIN_SIZE_ML, endocardial_only: bool = False,
                   seed_point=None) -> ScarMasks:
    """Scar, MVO and gray zone of one method on one case (masks on the image's grid)."""
    from .longaxis import stack_axis

    image = np.asarray(image, np.float64)
    myocardium = np.asarray(myocardium, bool)
    cavity = None if cavity is None else np.asarray(cavity, bool)
    axis = stack_axis(geometry)
    record = {"method": str(method), "definition": method.describe()}
    peak = None
    if method.kind == "fwhm":
        info = fwhm_peak(image, myocardium, remote, geometry, seed_point)
        peak = info["peak"]
        record["fwhm"] = info
    threshold = level(method, remote, image, myocardium, peak)
    record["threshold"] = threshold
    record["threshold_sd"] = None if threshold is None or remote.sd <= 0 else (threshold - remote.mean) / remote.sd
    empty = np.zeros_like(myocardium)
    if threshold is None:  # FWHM without an enhanced region: no scar
        record["cleanup"] = {"components": 0, "dropped_small": 0, "dropped_not_endocardial": 0}
        record["mvo"] = {"islands_ml": 0.0, "holes_filled": 0}
        return ScarMasks(empty, empty.copy(), None if gray_zone is None else empty.copy(), record)
    endo = endocardial_border(myocardium, cavity, axis) if endocardial_only else None
    scar, record["cleanup"] = clean(myocardium & (image >= threshold), geometry, min_size_ml, endo)
    mvo, holes = enclosed_cores(scar, myocardium, cavity, geometry, axis)
    scar = scar | holes | mvo
    record["mvo"] = {"volume_ml": float(np.count_nonzero(mvo)) * geometry.voxel_volume_ml,
                     "holes_filled": int(np.count_nonzero(holes))}
    gz = None
    if gray_zone is not None:
        lo, hi = gray_zone
        if method.kind == "fwhm":
            lo_t, hi_t = (level(method, remote, peak=peak, fraction=f / 100.0) for f in (lo, hi))
        else:
            lo_t, hi_t = remote.mean + lo * remote.sd, remote.mean + hi * remote.sd
        band = myocardium & ~scar & (image >= lo_t) & (image < hi_t)
        lab, n = ndi.label(band, np.ones((3, 3, 3), bool))
        touching = np.unique(lab[ndi.binary_dilation(scar, np.ones((3, 3, 3), bool)) & (lab > 0)])
        gz = np.isin(lab, touching[touching > 0])
        record["gray_zone"] = {"levels": [lo, hi], "unit": "% of peak" if method.kind == "fwhm" else "SD",
                               "thresholds": [lo_t, hi_t]}
    return ScarMasks(scar, mvo, gz, record)


def burden_ml(image, myocardium, cavity, remote: Remote, geometry: Geometry, methods=SENSITIVITY_METHODS,
              min_size_ml: float = MIN_SIZE_ML, endocardial_only: bool = False) -> list[dict]:
    """The scar burden (mL and % of myocardium) under several methods: how much the number depends on the
    method."""
    total = float(np.count_nonzero(myocardium)) * geometry.voxel_volume_ml
    out = []
    for text in methods:
        m = threshold_scar(image, myocardium, cavity, remote, parse_method(text), geometry,
                           min_size_ml=min_size_ml, endocardial_only=endocardial_only)
        ml = float(np.count_nonzero(m.scar)) * geometry.voxel_volume_ml
        out.append({"method": text, "threshold": m.record["threshold"], "scar_ml": ml,
                    "scar_percent": 100.0 * ml / total if total else 0.0})
    return out
