"""SMILE: scar masks guided by clinical knowledge (CLAIM, Ramzan et al. 2025), done right.

The default mask is one infarct-like lesion grown as an ischaemic wavefront (``smile_lesion``): one 3D piece,
sized as a fraction of the subject's LV myocardium drawn from published infarct sizes, subendocardial when small
and transmural in its core when large. This module holds the subject (wall depth, chords), the spec, and the
per-segment textured patterns, which stay available explicitly:

1. **Segments**: adjacent AHA segments chosen at random (any of the 17, rings spanned), given explicitly, or grown
   inside a coronary territory (LAD, RCA, LCX).
2. **Volume** in mL, in total or per segment, or drawn (a fraction of the heart, as above). A search on the
   threshold of the texture makes every segment hit its target (never a saturating porosity); a target larger
   than 90% of what the segment can hold is lowered and flagged.
3. **Texture**: a smoothed random field (anisotropic sigmas in mm, in plane and through plane) thresholded to a
   porosity, then erosion with a random kernel (1x1 to 7x7 in plane), hole filling, Gaussian smoothing, removal of
   isolated bits, and intersection with the myocardium.
4. **Transmurality** on the normalised wall depth (0 endocardium, 1 epicardium), chord by chord:
   ``subendocardial:e`` (from the endocardium to depth <= e), ``transmural``, ``midwall`` (0.25-0.75) and
   ``epicardial:e`` (from the epicardium inward, non-ischaemic).
5. **MVO**: optionally a dark core in the deepest, most central part of a large scar (EMIDEC label 4).

All randomness comes from the ``numpy.random.Generator`` passed in: same seed, same mask.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .aha import aha_segments
from .smile_lesion import grow, lesion_record, plan_lesions, total_volume
from .smile_segments import (ADJACENCY, TERRITORY_PREVALENCE, grow_segments, is_connected,  # noqa: F401
                             select_segments)

EMIDEC_SCAR_ML = (23.68, 15.81)  # mean, sd of scar volume per case (Lalande et al. 2020)
DEFAULT_VOLUME_RANGE = (EMIDEC_SCAR_ML[0] - EMIDEC_SCAR_ML[1], EMIDEC_SCAR_ML[0] + EMIDEC_SCAR_ML[1])
PATTERNS = ("wavefront", "subendocardial", "transmural", "midwall", "epicardial")
MAX_FILL = 0.9  # a segment's scar never fills more than this fraction of what the pattern lets it hold


def parse_pattern(text: str | None) -> tuple[str, float | None]:
    """``subendocardial:0.5`` -> ("subendocardial", 0.5); extent None means drawn at random. The default is
    ``wavefront`` (one infarct-like lesion, ``smile_lesion``), which takes no extent."""
    if not text:
        return "wavefront", None
    name, _, extent = text.partition(":")
    name = name.strip().lower()
    if name not in PATTERNS:
        raise ValueError(f"unknown transmurality '{text}'; use {', '.join(PATTERNS)} (e.g. subendocardial:0.5)")
    if extent and name == "wavefront":
        raise ValueError(f"'{text}': wavefront takes no extent (its depth grows with its size)")
    if extent:
        try:
            e = float(extent)
        except ValueError:
            raise ValueError(f"'{text}': the extent after ':' must be a number in (0, 1]") from None
        if not 0 < e <= 1:
            raise ValueError(f"'{text}': the extent must be in (0, 1]")
        return name, e
    return name, None


# ---------------------------------------------------------------------------------------------- the subject
@dataclass
class Subject:
    """What SMILE needs of one subject, computed once (the Slicer module caches it per input)."""

    geometry: object
    myocardium: np.ndarray
    aha: np.ndarray  # 1..17 on the myocardium
    depth: np.ndarray  # normalised wall depth on the myocardium (0 endo, 1 epi), nan elsewhere
    chord: np.ndarray  # chord id per voxel (-1 outside the myocardium)
    bbox: tuple  # slices of the myocardium's bounding box
    segment_ml: dict  # segment -> myocardium volume (mL)
    septum: np.ndarray | None = None  # the orientation used (LPS), recorded in sidecars
    axis: int = 0  # the stack axis (numpy order): slices are np.take(..., k, axis)

    @property
    def voxel_ml(self) -> float:
        return self.geometry.voxel_volume_ml


def wall_depth(myocardium: np.ndarray, cavity: np.ndarray, geometry, axis: int = 0) -> np.ndarray:
    """Normalised depth of each myocardium voxel: d_endo / (d_endo + d_epi), slice by slice (in-plane mm).

    Slices without cavity (the apical cap) measure from the outside in, the centre counting as endocardium.
    Rounded to 1e-9, so that a grid off by rounding (read back from Slicer) keeps exact fractions such as 0.6.
    """
    depth = np.full(myocardium.shape, np.nan)
    sampling = np.delete(np.asarray(geometry.spacing)[::-1], axis)
    for k in range(myocardium.shape[axis]):
        myo = np.take(myocardium, k, axis=axis)
        if not myo.any():
            continue
        cav = np.take(cavity, k, axis=axis)
        lv = ndimage.binary_fill_holes(myo | cav)
        d_epi = ndimage.distance_transform_edt(lv, sampling=sampling)
        if cav.any():
            d_endo = ndimage.distance_transform_edt(~cav, sampling=sampling)
            d = d_endo / np.maximum(d_endo + d_epi, 1e-9)
        else:
            d = 1.0 - d_epi / max(float(d_epi[myo].max()), 1e-9)
        target = [slice(None)] * 3
        target[axis] = k
        view = depth[tuple(target)]
        view[myo] = np.clip(d[myo], 0.0, 1.0)
    return np.round(depth, 9)


def prepare_subject(myocardium: np.ndarray, cavity: np.ndarray | None, geometry, aha_result) -> Subject:
    """Wall depth and chords for a subject whose AHA labels are known (``aha.aha_segments``)."""
    myocardium = np.asarray(myocardium, bool)
    cavity = np.zeros_like(myocardium) if cavity is None else np.asarray(cavity, bool)
    la = aha_result.axis
    axis = la.order.axis
    depth = wall_depth(myocardium, cavity, geometry, axis)
    chord = np.full(myocardium.shape, -1, np.int64)
    pixel = float(np.min(np.delete(np.asarray(geometry.spacing)[::-1], axis)))
    from .aha import angles_deg

    next_id = 0
    for k in la.slices:
        m2 = np.take(myocardium, k, axis=axis)
        idx = np.argwhere(m2)
        pts = geometry.index_to_physical(np.insert(idx, axis, k, axis=1))
        ang = angles_deg(pts, la.centres[k], aha_result.orientation.septum, la.base_to_apex)
        radius = np.linalg.norm(pts - la.centres[k], axis=1)
        bins = int(np.clip(round(2 * np.pi * np.median(radius) / pixel), 24, 720))
        b = (np.mod(ang, 360.0) / 360.0 * bins).astype(np.int64) % bins
        target = [slice(None)] * 3
        target[axis] = k
        view = chord[tuple(target)]
        view[idx[:, 0], idx[:, 1]] = next_id + b
        next_id += bins
    idx = np.argwhere(myocardium)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    bbox = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    vox = geometry.voxel_volume_ml
    segment_ml = {s: float(np.count_nonzero(aha_result.labels == s) * vox) for s in range(1, 18)}
    return Subject(geometry, myocardium, aha_result.labels, depth, chord, bbox, segment_ml,
                   np.asarray(aha_result.orientation.septum), axis)


# ---------------------------------------------------------------------------------------------- generation
@dataclass
class SmileSpec:
    segments: tuple | None = None
    territory: str | None = None
    max_segments: int = 4
    volume_ml: float | dict | None = None  # total, or {segment: mL}
    volume_fraction: float | None = None  # of the subject's LV myocardium (default: drawn from published sizes)
    volume_range_ml: tuple | None = None  # draw the total uniformly in this mL range instead
    transmurality: str | None = None  # default wavefront; e.g. "subendocardial:0.5" (extent drawn in [0.3, 1])
    lesions: int | None = None  # wavefront lesions (default 1, or drawn from the priors)
    priors: object = None  # smile_priors.SmilePriors learned from a user's own scars
    sigma_mm: tuple = (4.0, 6.0)  # texture smoothness in plane, through plane
    mvo: bool = False
    min_component_voxels: int = 4
    allow_less: bool = True  # False: an asked-for volume the segments cannot hold is an error (workflows.masks)


@dataclass
class SmileResult:
    scar: np.ndarray  # bool, MVO included
    mvo: np.ndarray  # bool
    record: dict = field(default_factory=dict)



def case_subject(case, aha_result=None) -> Subject:
    """The SMILE subject of a case (``labels.Case``): ``prepare_subject`` on its AHA segments, ``aha_result`` when
    given (``workflows.aha.case_aha`` takes every orientation source), else found from its own labels, image and RV
    mask (when it has one)."""
    cavity = case.masks.get("cavity")
    if aha_result is None:
        aha_result = aha_segments(case.myocardium, cavity, case.geometry, image=case.float_image,
                                  rv=case.masks.get("rv"))
    return prepare_subject(case.myocardium, cavity, case.geometry, aha_result)


def _pattern_region(subject: Subject, pattern: str, extent: float) -> np.ndarray:
    d = subject.depth
    with np.errstate(invalid="ignore"):
        if pattern == "subendocardial":
            return subject.myocardium & (d <= extent)
        if pattern == "epicardial":
            return subject.myocardium & (d >= 1.0 - extent)
        if pattern == "midwall":
            half = 0.25 * extent / 0.5 if extent else 0.25
            return subject.myocardium & (d >= 0.5 - half) & (d <= 0.5 + half)
    return subject.myocardium.copy()


def _fill_chords(blob: np.ndarray, subject: Subject, region: np.ndarray, pattern: str) -> np.ndarray:
    """Make the pattern hold chord by chord: subendocardial scars reach down to the endocardium, epicardial ones
    out to the epicardium, transmural ones through the whole wall where they appear."""
    if pattern == "midwall" or not blob.any():
        return blob & region
    ids = subject.chord[blob]
    ok = ids >= 0
    ids, depths = ids[ok], subject.depth[blob][ok]
    n = int(subject.chord.max()) + 1
    in_region = region & (subject.chord >= 0)
    chord = subject.chord[in_region]
    depth = subject.depth[in_region]
    out = np.zeros_like(blob)
    if pattern == "subendocardial":
        reach = np.full(n, -1.0)
        np.maximum.at(reach, ids, depths)
        out[in_region] = depth <= reach[chord]
    elif pattern == "epicardial":
        reach = np.full(n, 2.0)
        np.minimum.at(reach, ids, depths)
        out[in_region] = depth >= reach[chord]
    else:  # transmural
        hit = np.zeros(n, bool)
        hit[ids] = True
        out[in_region] = hit[chord]
    return out


def _texture_to_mask(field_: np.ndarray, threshold: float, region: np.ndarray, kernel: np.ndarray,
                     smooth_px: tuple, min_voxels: int) -> np.ndarray:
    blob = field_ > threshold  # over the whole box: erosion shapes the texture, not the thin wall band
    if kernel.shape[1] > 1:
        blob = ndimage.binary_erosion(blob, kernel[None], border_value=1)
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    blob = ndimage.binary_fill_holes(blob, in_plane)
    blob = (ndimage.gaussian_filter(blob.astype(np.float32), smooth_px) > 0.5) & region
    if min_voxels > 1 and blob.any():
        lab, n = ndimage.label(blob)
        if n > 1:
            sizes = np.bincount(lab.ravel())
            keep = sizes >= min_voxels
            keep[0] = False
            blob = keep[lab]
    return blob & region


@dataclass
class Plan:
    """What to grow: segments, pattern and per-segment targets (mL), decided in the subject's space."""

    segments: list
    pattern: str
    extent: float
    targets: dict  # segment -> mL
    total: float


def make_plan(rng: np.random.Generator, subject: Subject, spec: SmileSpec) -> Plan:
    pattern, extent = parse_pattern(spec.transmurality)
    if extent is None:
        extent = 1.0 if pattern == "transmural" else float(rng.uniform(0.3, 1.0)) if pattern != "midwall" else 0.5
    available = [s for s in range(1, 18) if subject.segment_ml[s] > 0]
    if isinstance(spec.volume_ml, dict):
        segments = select_segments(rng, spec.segments or sorted(spec.volume_ml), None, 17, available)
        targets = {int(k): float(v) for k, v in spec.volume_ml.items() if int(k) in available}
        if not targets:
            raise ValueError(f"segments {sorted(spec.volume_ml)} hold no myocardium in this subject")
        return Plan(segments, pattern, extent, targets, sum(targets.values()))
    drawn = spec.volume_ml is None
    total = total_volume(rng, spec, float(sum(subject.segment_ml.values())))[0]
    # Random segments: as many as a scar of this volume fills to a plausible 15-45% (a big infarct spans more
    # segments), within the limit.
    mean_ml = float(np.mean([subject.segment_ml[s] for s in available]))
    fill = _pattern_share(pattern, extent) * rng.uniform(0.15, 0.45)
    size = int(np.clip(round(total / max(fill * mean_ml, 1e-6)), 1, 17))
    segments = select_segments(rng, spec.segments, spec.territory, spec.max_segments, available, size=size)
    present = [s for s in segments if s in available]
    if not present:
        raise ValueError(f"segments {segments} hold no myocardium in this subject")
    capacity = pattern_capacity(subject, pattern, extent, present)
    if drawn:  # a drawn volume stays in the range the chosen segments can hold
        total = min(total, 0.6 * sum(capacity.values()))
    # split between segments at random around their size
    weights = np.array([capacity[k] for k in present]) * rng.uniform(0.6, 1.4, len(present))
    weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(present), 1 / len(present))
    return Plan(segments, pattern, extent, {k: total * w for k, w in zip(present, weights)}, total)


def _pattern_share(pattern: str, extent: float) -> float:
    """About what fraction of the wall a pattern can hold."""
    return {"transmural": 1.0, "midwall": 0.5}.get(pattern, extent)


def pattern_capacity(subject: Subject, pattern: str, extent: float, segments) -> dict:
    region = _pattern_region(subject, pattern, extent)
    return {k: float(np.count_nonzero(region & (subject.aha == k)) * subject.voxel_ml) for k in segments}


def generate(rng: np.random.Generator, subject: Subject, spec: SmileSpec = SmileSpec()) -> SmileResult:
    """One SMILE scar mask, grown directly on the subject's own AHA segments: by default one wavefront lesion
    (``smile_lesion``); with an explicit pattern or per-segment volumes, the textured per-segment growth."""
    if parse_pattern(spec.transmurality)[0] == "wavefront" and not isinstance(spec.volume_ml, dict):
        result = _generate_wavefront(rng, subject, spec)
    else:
        result = realize(rng, subject, make_plan(rng, subject, spec), spec)
    result.record["mode"] = "direct"
    return result


def _generate_wavefront(rng: np.random.Generator, subject: Subject, spec: SmileSpec) -> SmileResult:
    plan = plan_lesions(rng, subject, spec, spec.priors)
    scar, lesions = grow(rng, subject, plan, depth_target=plan.get("depth_target"))
    mvo = mvo_core(rng, scar, subject) if spec.mvo and scar.any() else np.zeros_like(scar)
    return SmileResult(scar, mvo, lesion_record(subject, plan, scar, mvo, lesions))


def realize(rng: np.random.Generator, subject: Subject, plan: Plan, spec: SmileSpec) -> SmileResult:
    """Grow the planned scar: shared texture, per-segment threshold search, clean-up, pattern, MVO."""
    g = subject.geometry
    bb = subject.bbox
    vox = subject.voxel_ml
    pattern, extent = plan.pattern, plan.extent
    region_all = _pattern_region(subject, pattern, extent)
    capacity = pattern_capacity(subject, pattern, extent, plan.targets)
    limited = {k: plan.targets[k] > MAX_FILL * capacity[k] for k in plan.targets}
    goal = {k: min(plan.targets[k], MAX_FILL * capacity[k]) for k in plan.targets}

    # one texture over the bounding box, shared by all segments so that blobs run across their borders
    shape = tuple(b.stop - b.start for b in bb)
    sig_in, sig_through = spec.sigma_mm
    sigma_px = (sig_through / g.spacing[2], sig_in / g.spacing[1], sig_in / g.spacing[0])
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="nearest")
    texture = (texture - texture.mean()) / max(float(texture.std()), 1e-9)
    k = int(rng.integers(0, 4)) * 2 + 1  # 1x1, 3x3, 5x5 or 7x7, in plane
    smooth_px = (0.0, 0.7, 0.7)

    scar = np.zeros(subject.myocardium.shape, bool)
    achieved, kernels = {}, {}
    for s in sorted(goal):
        seg_region = region_all[bb] & (subject.aha[bb] == s)
        if goal[s] <= 0 or not seg_region.any():
            achieved[s] = 0.0
            continue
        # work on the segment's own box (a margin for the erosion kernel): the search runs many times
        idx = np.argwhere(seg_region)
        pad = np.array([1, 5, 5])
        lo_i, hi_i = np.maximum(idx.min(axis=0) - pad, 0), np.minimum(idx.max(axis=0) + 1 + pad, shape)
        sb = tuple(slice(int(a), int(b_)) for a, b_ in zip(lo_i, hi_i))
        gb = tuple(slice(o.start + i.start, o.start + i.stop) for o, i in zip(bb, sb))  # in the full volume
        region, tex = seg_region[sb], texture[sb]
        vals = np.sort(tex[region])
        best = None
        want = int(round(goal[s] / vox))  # counts, not mL: a grid off by rounding breaks no tie differently
        # a large erosion kernel makes the volume jump with the threshold on small segments: fall back to smaller
        for kk in range(k, 0, -2):
            kern = np.ones((kk, kk), bool)
            lo, hi = 0.0, 1.0  # porosity: the fraction of the region above the threshold, before clean-up
            for _ in range(12):
                p = 0.5 * (lo + hi)
                thr = float(vals[min(int((1.0 - p) * len(vals)), len(vals) - 1)])
                blob = _texture_to_mask(tex, thr, region, kern, smooth_px, spec.min_component_voxels)
                blob = _fill_chords_sub(blob, subject, region, pattern, gb)
                v = int(np.count_nonzero(blob))
                if best is None or abs(v - want) < abs(best[0] - want):
                    best = (v, blob, kk)
                if abs(v - want) <= 0.05 * want:
                    break
                if v < want:
                    lo = p
                else:
                    hi = p
            if abs(best[0] - want) <= 0.1 * want:
                break
        blob = _fine_adjust(best[1], region, _priority(pattern, tex, subject, gb), want)
        scar[gb] |= blob
        achieved[s] = float(np.count_nonzero(blob) * vox)
        kernels[s] = best[2]

    mvo = np.zeros_like(scar)
    if spec.mvo and scar.any():
        mvo = mvo_core(rng, scar, subject)
    record = {
        "segments": plan.segments,
        "pattern": pattern, "extent": round(extent, 3),
        "target_total_ml": round(plan.total, 4),
        "achieved_total_ml": round(float(np.count_nonzero(scar) * vox), 4),
        "per_segment": {str(s): {"target_ml": round(plan.targets[s], 4), "achieved_ml": round(achieved.get(s, 0.0), 4),
                                 "segment_ml": round(subject.segment_ml[s], 4),
                                 "capacity_ml": round(capacity[s], 4), "capacity_limited": bool(limited[s])}
                        for s in sorted(plan.targets)},
        "erosion_kernel": {str(s): kernels.get(s, k) for s in sorted(goal)}, "sigma_mm": list(spec.sigma_mm),
        "mvo_ml": round(float(np.count_nonzero(mvo) * vox), 4),
    }
    return SmileResult(scar, mvo, record)


def _priority(pattern: str, texture: np.ndarray, subject: Subject, box) -> np.ndarray:
    """Which rim voxels the fine adjustment adds first (and removes last), so the pattern survives it:
    shallow ones for subendocardial scars, deep ones for epicardial scars, whole chords for transmural ones."""
    depth = np.nan_to_num(subject.depth[box], nan=0.5)
    small = 1e-3 * texture
    if pattern == "subendocardial":
        return 1.0 - depth + small
    if pattern == "epicardial":
        return depth + small
    if pattern == "transmural":
        chord = subject.chord[box]
        ok = chord >= 0
        ids, inv = np.unique(chord[ok], return_inverse=True)
        mean = np.bincount(inv, weights=texture[ok]) / np.bincount(inv)
        out = np.full(texture.shape, -1e9)
        out[ok] = mean[inv]
        return out + small * 1e-3
    return texture


def _fine_adjust(blob: np.ndarray, region: np.ndarray, texture: np.ndarray, target: int,
                 tolerance: float = 0.05) -> np.ndarray:
    """Grow or trim the blob's rim, in priority order (``texture``: high first in, last out), when the threshold
    search leaves it more than 5% off."""
    count = int(np.count_nonzero(blob))
    if target <= 0 or abs(count - target) <= tolerance * target:
        return blob
    blob = blob.copy()
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    for _ in range(20):
        need = target - int(np.count_nonzero(blob))
        if abs(need) <= tolerance * target:
            break
        if need > 0:
            rim = ndimage.binary_dilation(blob, in_plane) & region & ~blob if blob.any() else region.copy()
            rim = rim if rim.any() else ndimage.binary_dilation(blob) & region & ~blob  # on into the next slice
            if not rim.any():
                break
            idx = np.flatnonzero(rim)
            pick = idx[np.argsort(-texture.ravel()[idx])[:need]]
            blob.ravel()[pick] = True
        else:
            rim = blob & ~ndimage.binary_erosion(blob, in_plane)
            idx = np.flatnonzero(rim)
            pick = idx[np.argsort(texture.ravel()[idx])[:-need]]
            blob.ravel()[pick] = False
    return blob


def _fill_chords_sub(blob, subject: Subject, region, pattern, bb):
    """``_fill_chords`` on the bounding box."""
    if pattern == "midwall" or not blob.any():
        return blob & region
    sub = Subject(subject.geometry, subject.myocardium[bb], subject.aha[bb], subject.depth[bb], subject.chord[bb],
                  bb, subject.segment_ml)
    return _fill_chords(blob, sub, region, pattern)


def mvo_core(rng, scar: np.ndarray, subject: Subject) -> np.ndarray:
    """The most central, subendocardial part of the largest scar component: 3-15% of the scar, as one blob."""
    lab, n = ndimage.label(scar)
    if n == 0:
        return np.zeros_like(scar)
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    main = lab == int(np.argmax(sizes))
    if np.count_nonzero(main) * subject.voxel_ml < 1.0:  # only larger scars hold MVO
        return np.zeros_like(scar)
    idx = np.argwhere(main)  # work on the component's box (one voxel of margin: distances stay exact)
    box = tuple(slice(max(int(a) - 1, 0), int(b) + 2) for a, b in zip(idx.min(axis=0), idx.max(axis=0)))
    part = main[box]
    sampling = np.asarray(subject.geometry.spacing)[::-1].copy()
    sampling[subject.axis] = 1e6  # in-plane distance only
    inner = ndimage.distance_transform_edt(part, sampling=sampling)
    depth = np.nan_to_num(subject.depth[box], nan=1.0)
    score = inner * (1.2 - depth) * part
    frac = float(rng.uniform(0.03, 0.15))
    count = max(1, int(round(frac * np.count_nonzero(part))))
    seed = np.zeros_like(part)
    seed.ravel()[int(np.argmax(score))] = True
    out = np.zeros_like(scar)
    out[box] = _fine_adjust(seed, part, score, count, tolerance=0.0)  # one blob grown from the core in score order
    return out
