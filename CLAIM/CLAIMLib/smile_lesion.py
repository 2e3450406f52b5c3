"""SMILE's default scar: one infarct-like lesion, grown as an ischaemic wavefront from its centre.

Infarct physiology (Reimer & Jennings 1977): necrosis starts in the subendocardium at the centre of the ischaemic
bed and spreads toward the epicardium and sideways with time. So small infarcts are subendocardial, large ones
transmural in their core and thinner toward their borders, and an infarct is one contiguous lesion inside the
perfusion bed of its culprit artery.

The lesion is a sublevel set of a geodesic distance (``skimage.graph.MCP_Geometric``) from an endocardial seed,
through the myocardium of the allowed segments. Each step costs its length in mm times ``1 + k * depth`` (depth 0
at the endocardium, 1 at the epicardium; a larger ``k`` keeps the lesion shallower for longer) times a smooth
log-normal texture (irregular borders). Every voxel's shortest path runs through voxels reached earlier, so the
first N voxels are one 26-connected lesion at any slice thickness; in-plane holes are filled.

Size: by default a fraction of the subject's LV myocardium, drawn from published infarct sizes (reperfused STEMI,
CMR-LGE: median 17.9% of LV mass, IQR 8.0-29.9%, Stone et al., JACC 2016;67:1674), not from one dataset's mL.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .aha17 import TERRITORIES
from .smile_segments import ADJACENCY, TERRITORY_PREVALENCE

# log-normal infarct size as a fraction of the LV myocardium: median, sigma, and the range kept
INFARCT_FRACTION = {"median": 0.179, "sigma": 0.7, "low": 0.03, "high": 0.55}
DEPTH_COST = (8.0, 40.0)  # k drawn log-uniformly in this range: how much harder the wavefront spreads into depth
TEXTURE = {"sigma_mm": (5.0, 8.0), "strength": 0.6}  # smoothness (in plane, through plane) and log-amplitude
MAX_FILL = 0.9  # a lesion fills at most this fraction of its allowed myocardium


def draw_fraction(rng: np.random.Generator, prior: dict = INFARCT_FRACTION) -> float:
    p = prior
    f = float(p["median"] * np.exp(p["sigma"] * rng.standard_normal()))
    return float(np.clip(f, p["low"], p["high"]))


def total_volume(rng: np.random.Generator, spec, myocardium_ml: float, drawn: dict | None = None) -> tuple:
    """(mL, where it came from) of a mask: given in mL or as a fraction of the myocardium, uniform in a given mL
    range, from a reference case drawn from the priors (``drawn``, or drawn here), or from published sizes."""
    if spec.volume_ml is not None:
        return float(spec.volume_ml), "given mL"
    if spec.volume_fraction is not None:
        return float(spec.volume_fraction) * myocardium_ml, "given fraction"
    if spec.volume_range_ml is not None:
        return float(rng.uniform(*spec.volume_range_ml)), "given mL range"
    if drawn is None and spec.priors is not None:
        drawn = spec.priors.draw_case(rng)
    if drawn is not None:
        return drawn["fraction"] * myocardium_ml, "learned priors"
    return draw_fraction(rng) * myocardium_ml, "published infarct sizes"


def territory_segments(name: str, available) -> set:
    return set(TERRITORIES[name]) & set(available)


def draw_territory(rng: np.random.Generator) -> str:
    names = sorted(TERRITORY_PREVALENCE)
    return str(rng.choice(names, p=[TERRITORY_PREVALENCE[n] for n in names]))


def home_territory(segment: int) -> str:
    """The territory a segment belongs to (the apex, 17, is the LAD's)."""
    return next(n for n, segs in TERRITORIES.items() if segment in segs)


def widen(allowed: set, available, need_ml: float, segment_ml: dict) -> set:
    """Add the neighbouring segments ring by ring until the allowed segments can hold ``need_ml`` (an infarct too
    large for its nominal bed reaches the neighbouring segments: perfusion beds vary)."""
    allowed = set(allowed)
    available = set(available)
    while sum(segment_ml[s] for s in allowed) * MAX_FILL < need_ml:
        ring = set().union(*(ADJACENCY[s] for s in allowed)) & available - allowed
        if not ring:
            break
        allowed |= ring
    return allowed


def smooth_texture(rng: np.random.Generator, shape, spacing_zyx, axis: int = 0,
                   sigma_mm=TEXTURE["sigma_mm"]) -> np.ndarray:
    """A zero-mean, unit-SD smooth random field (sigma in mm: in plane, and through plane along ``axis``)."""
    sig_in, sig_through = sigma_mm
    sigma_px = tuple((sig_through if a == axis else sig_in) / spacing_zyx[a] for a in range(3))
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_px, mode="nearest")
    return (field - field.mean()) / max(float(field.std()), 1e-9)


def wavefront_order(allowed: np.ndarray, depth: np.ndarray, seed_index, spacing_zyx, depth_cost: float,
                    texture: np.ndarray | None = None, strength: float = TEXTURE["strength"]) -> np.ndarray:
    """The geodesic arrival cost of the wavefront at each allowed voxel (inf where it never arrives)."""
    from skimage.graph import MCP_Geometric

    d = np.nan_to_num(depth, nan=0.5)
    cost = 1.0 + depth_cost * d
    if texture is not None:
        cost = cost * np.exp(strength * texture)
    cost = np.where(allowed, cost, np.inf)
    mcp = MCP_Geometric(cost, sampling=tuple(float(s) for s in spacing_zyx))
    arrival, _ = mcp.find_costs([tuple(int(i) for i in seed_index)])
    return np.where(allowed, arrival, np.inf)


def first_voxels(arrival: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` voxels the wavefront reaches first (a connected set: each one's path runs through earlier
    ones)."""
    reached = np.flatnonzero(np.isfinite(arrival))
    count = int(min(max(count, 0), len(reached)))
    out = np.zeros(arrival.shape, bool)
    if count:
        order = reached[np.argsort(arrival.ravel()[reached], kind="stable")[:count]]
        out.ravel()[order] = True
    return out


def fill_in_plane(mask: np.ndarray, inside: np.ndarray, axis: int = 0) -> np.ndarray:
    """Fill holes of the mask slice by slice (holes only: what the mask encloses, within ``inside``)."""
    structure = np.zeros((3, 3, 3), bool)
    idx = [slice(None)] * 3
    idx[axis] = 1
    structure[tuple(idx)] = ndimage.generate_binary_structure(2, 1)
    return mask | (ndimage.binary_fill_holes(mask, structure) & inside)


def pick_seed(rng: np.random.Generator, region: np.ndarray, depth: np.ndarray, spacing_zyx,
              central: bool = False) -> tuple:
    """An endocardial voxel of the region: at random, or the one nearest the region's centre (``central``)."""
    d = np.nan_to_num(depth, nan=1.0)
    idx = np.argwhere(region)
    shallow = idx[d[tuple(idx.T)] <= max(0.15, float(np.min(d[tuple(idx.T)])) + 1e-6)]
    if central:
        pts = shallow * np.asarray(spacing_zyx)
        centre = (idx * np.asarray(spacing_zyx)).mean(axis=0)
        return tuple(int(v) for v in shallow[int(np.argmin(np.linalg.norm(pts - centre, axis=1)))])
    return tuple(int(v) for v in shallow[int(rng.integers(len(shallow)))])


# ---------------------------------------------------------------------------------------------- plan and growth
def plan_lesions(rng: np.random.Generator, subject, spec, priors=None) -> dict:
    """Where and how large: the total volume, and per lesion a centre segment, its allowed segments and mL.

    Explicit segments and a named territory bound every lesion (a drawn volume is then kept to 60% of what they
    hold; a given one too large is flagged ``capacity_limited``). A territory drawn by infarct prevalence, or the
    bed of a learned reference case, widens to the neighbouring segments when it is too small for the volume."""
    available = [s for s in range(1, 18) if subject.segment_ml[s] > 0]
    if not available:
        raise ValueError("the myocardium is empty")
    myo_ml = float(sum(subject.segment_ml.values()))
    drawn = priors.draw_case(rng) if priors is not None else None
    total, source = total_volume(rng, spec, myo_ml, drawn)
    named = bool(spec.segments) or bool(spec.territory and spec.territory.upper() != "RANDOM")
    if named and spec.volume_ml is None and spec.volume_fraction is None:
        bed = set(spec.segments) if spec.segments else set(TERRITORIES.get(spec.territory.upper(), ()))
        total = min(total, 0.6 * sum(subject.segment_ml[s] for s in bed & set(available)))
    n = spec.lesions if spec.lesions is not None else (drawn["lesions"] if drawn is not None else 1)
    shares = rng.dirichlet(np.full(n, 2.0)) if n > 1 else np.ones(1)
    lesions = []
    for share in shares:
        need = float(total * share)
        if spec.segments:
            allowed = set(spec.segments) & set(available)
            if not allowed:
                raise ValueError(f"segments {sorted(spec.segments)} hold no myocardium in this subject")
            centre = _central_segment(allowed) if not lesions else int(rng.choice(sorted(allowed)))
            territory = None
        else:
            if spec.territory and spec.territory.upper() != "RANDOM":
                territory = spec.territory.upper()
                if territory not in TERRITORIES:
                    raise ValueError(f"unknown territory '{spec.territory}'; use LAD, RCA, LCX or random")
            elif priors is not None and not spec.territory:
                territory = None
            else:
                territory = draw_territory(rng)
            if territory is None:  # the drawn reference case's centre and involved segments
                bed = set(drawn["segments"]) & set(available)
                centre = drawn["centre_segment"] if drawn["centre_segment"] in bed and not lesions else \
                    priors.draw_centre(rng, sorted(bed) or available)
                territory = home_territory(centre)
                bed = bed | {centre}
            else:
                bed = territory_segments(territory, available)
                if not bed:
                    raise ValueError(f"no segment of the {territory} territory holds myocardium")
                centre = priors.draw_centre(rng, sorted(bed)) if priors is not None else int(rng.choice(sorted(bed)))
            allowed = bed if named else widen(bed, available, need, subject.segment_ml)
        lesions.append({"centre_segment": int(centre), "territory": territory, "allowed": sorted(allowed),
                        "target_ml": need, "fixed": named})
    return {"total_ml": float(total), "fraction": float(total / myo_ml), "volume_source": source,
            "lesions": lesions, "myocardium_ml": myo_ml,
            "depth_target": drawn["mean_depth"] if drawn is not None else None}


def _picked(lesion: dict) -> bool:
    """Was the lesion bounded by picked segments (seeded in their middle) rather than a territory?"""
    return lesion["fixed"] and lesion["territory"] is None


def _central_segment(segments: set) -> int:
    """The chosen segment with the most chosen neighbours (the middle of a picked group)."""
    return max(sorted(segments), key=lambda s: len(ADJACENCY[s] & segments))


def grow(rng: np.random.Generator, subject, plan: dict, depth_cost=None, depth_target=None) -> tuple:
    """Grow the planned lesions on the subject's bounding box; (scar, per-lesion records)."""
    bb = subject.bbox
    g = subject.geometry
    spacing = tuple(float(s) for s in np.asarray(g.spacing)[::-1])
    vox = subject.voxel_ml
    myo, aha, depth = subject.myocardium[bb], subject.aha[bb], subject.depth[bb]
    scar = np.zeros(myo.shape, bool)
    records = []
    available = [s for s in range(1, 18) if subject.segment_ml[s] > 0]
    for lesion in plan["lesions"]:
        segments = list(lesion["allowed"])
        allowed = myo & np.isin(aha, segments)
        want = int(round(lesion["target_ml"] / vox))
        seed = pick_seed(rng, allowed & (aha == lesion["centre_segment"]), depth, spacing,
                         central=_picked(lesion) and len(segments) > 1 and not records)
        texture = smooth_texture(rng, myo.shape, spacing, subject.axis)
        k = float(np.exp(rng.uniform(*np.log(DEPTH_COST)))) if depth_cost is None else float(depth_cost)
        for _ in range(4):  # a bed the wavefront cannot reach all of (a gap in the wall) widens when it may
            allowed = myo & np.isin(aha, segments)
            goal = int(min(want, MAX_FILL * np.count_nonzero(allowed)))
            if depth_target is not None:
                k = _match_depth(allowed, depth, seed, spacing, texture, goal, depth_target)
            arrival = wavefront_order(allowed, depth, seed, spacing, k, texture)
            reachable = int(np.count_nonzero(np.isfinite(arrival)))
            if reachable >= want / MAX_FILL or lesion["fixed"]:  # picked segments and named territories stay
                break
            wider = sorted(set(segments) | (set().union(*(ADJACENCY[s] for s in segments)) & set(available)))
            if wider == segments:
                break
            segments = wider
        limited = goal < want
        blob = first_voxels(arrival, goal)
        blob = fill_in_plane(blob, allowed, subject.axis)
        scar |= blob
        records.append({"centre_segment": lesion["centre_segment"], "territory": lesion["territory"],
                        "allowed_segments": segments, "target_ml": round(lesion["target_ml"], 4),
                        "achieved_ml": round(float(np.count_nonzero(blob) * vox), 4),
                        "depth_cost": round(k, 4), "capacity_limited": bool(limited or np.count_nonzero(blob) < goal)})
    full = np.zeros(subject.myocardium.shape, bool)
    full[bb] = scar
    return full & subject.myocardium, records


def _match_depth(allowed, depth, seed, spacing, texture, count, target, iterations: int = 6) -> float:
    """The depth cost whose lesion of ``count`` voxels has the mean normalised depth ``target`` (bisection on
    log k: a larger k keeps the lesion shallower)."""
    d = np.nan_to_num(depth, nan=0.5)
    lo, hi = np.log(0.05), np.log(40.0)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        blob = first_voxels(wavefront_order(allowed, depth, seed, spacing, float(np.exp(mid)), texture), count)
        mean = float(d[blob].mean()) if blob.any() else 0.0
        if mean > target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def lesion_record(subject, plan: dict, scar: np.ndarray, mvo: np.ndarray, lesions: list) -> dict:
    """The sidecar record of a wavefront mask, with the keys every SMILE record has."""
    vox = subject.voxel_ml
    d = subject.depth[scar]
    per_segment = {}
    total = max(int(np.count_nonzero(scar)), 1)
    limited = any(r["capacity_limited"] for r in lesions)
    for s in range(1, 18):
        n = int(np.count_nonzero(scar & (subject.aha == s)))
        if n:
            per_segment[str(s)] = {"achieved_ml": round(n * vox, 4), "share": round(n / total, 4),
                                   "segment_ml": round(subject.segment_ml[s], 4), "capacity_limited": limited}
    segments = [int(s) for s, v in per_segment.items() if v["share"] >= 0.02]
    return {
        "segments": segments, "pattern": "wavefront",
        "extent": round(float(np.percentile(d, 90)), 3) if d.size else 0.0,  # how deep the lesion reaches
        "mean_depth": round(float(d.mean()), 4) if d.size else 0.0,
        "target_total_ml": round(plan["total_ml"], 4),
        "achieved_total_ml": round(float(np.count_nonzero(scar) * vox), 4),
        "target_fraction": round(plan["fraction"], 4),
        "achieved_fraction": round(float(np.count_nonzero(scar) * vox / plan["myocardium_ml"]), 4),
        "volume_source": plan["volume_source"],
        "lesions": lesions,
        "per_segment": per_segment,
        "mvo_ml": round(float(np.count_nonzero(mvo) * vox), 4),
    }
