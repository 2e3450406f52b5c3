"""SMILE's segment selection: the AHA-17 adjacency graph, and adjacent segments chosen by hand, at random, or
grown inside a coronary territory. Pure numpy; all randomness from the ``numpy.random.Generator`` passed in."""
from __future__ import annotations

import numpy as np

from .aha17 import TERRITORIES

# Culprit arteries of myocardial infarction, roughly as often as they occur (LAD most often, then RCA, then LCX).
TERRITORY_PREVALENCE = {"LAD": 0.5, "RCA": 0.3, "LCX": 0.2}


# ---------------------------------------------------------------------------------------------- adjacency
def _sector_arcs(segment: int) -> tuple[int, float, float]:
    """(ring, start, end) angle arc (deg from the septum toward anterior) of a ring segment."""
    if segment <= 12:
        ring = 0 if segment <= 6 else 1
        mids = {2: 30, 1: 90, 6: 150, 5: 210, 4: 270, 3: 330}
        m = mids[(segment - 1) % 6 + 1]
        return ring, m - 30.0, m + 30.0
    mids = {14: 0, 13: 90, 16: 180, 15: 270}
    return 2, mids[segment] - 45.0, mids[segment] + 45.0


def _arcs_touch(a0, a1, b0, b1) -> bool:
    """Do two arcs share more than a point (angles mod 360)?"""
    for shift in (-360.0, 0.0, 360.0):
        if min(a1, b1 + shift) - max(a0, b0 + shift) > 1e-6:
            return True
    return False


def _build_adjacency() -> dict:
    adj = {s: set() for s in range(1, 18)}
    for a in range(1, 17):
        ra, a0, a1 = _sector_arcs(a)
        for b in range(a + 1, 17):
            rb, b0, b1 = _sector_arcs(b)
            same_ring_neighbours = ra == rb and (abs(a0 - b1) % 360 < 1e-6 or abs(b0 - a1) % 360 < 1e-6)
            next_ring_overlap = abs(ra - rb) == 1 and _arcs_touch(a0, a1, b0, b1)
            if same_ring_neighbours or next_ring_overlap:
                adj[a].add(b)
                adj[b].add(a)
    for s in (13, 14, 15, 16):
        adj[17].add(s)
        adj[s].add(17)
    return {s: frozenset(v) for s, v in adj.items()}


ADJACENCY = _build_adjacency()


def is_connected(segments) -> bool:
    segments = set(segments)
    if not segments:
        return False
    seen, todo = set(), [next(iter(segments))]
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        todo.extend(ADJACENCY[s] & segments)
    return seen == segments


def grow_segments(rng: np.random.Generator, size: int, allowed=range(1, 18), start: int | None = None) -> list[int]:
    """A random connected set of ``size`` segments within ``allowed`` (a random walk on the adjacency graph)."""
    start = int(start) if start is not None else int(rng.choice(sorted(set(allowed))))
    return _extend(rng, [start], size, allowed)


def _extend(rng: np.random.Generator, chosen: list, size: int, allowed) -> list:
    chosen = list(chosen)
    allowed = set(allowed)
    while len(chosen) < size:
        frontier = sorted(set().union(*(ADJACENCY[s] for s in chosen)) & allowed - set(chosen))
        if not frontier:
            break
        chosen.append(int(rng.choice(frontier)))
    return sorted(chosen)


def select_segments(rng: np.random.Generator, segments=None, territory: str | None = None,
                    max_segments: int = 4, available=range(1, 18), size: int | None = None) -> list[int]:
    """Explicit segments, a random connected part of a coronary territory, or 1..max_segments adjacent ones.

    Random choices stay within ``available`` (the segments the subject's myocardium holds: a stack that stops
    short of the apex has no segment 17). ``size`` fixes how many (capped by ``max_segments``); by default it is
    drawn uniformly.
    """
    available = set(available)
    if segments:
        segs = sorted(set(int(s) for s in segments))
        bad = [s for s in segs if not 1 <= s <= 17]
        if bad:
            raise ValueError(f"AHA segments are 1-17, not {bad}")
        return segs
    if territory:
        key = territory.upper()
        culprit = key == "RANDOM"
        if culprit:  # a culprit artery drawn by how often each causes infarcts
            names = sorted(TERRITORY_PREVALENCE)
            key = str(rng.choice(names, p=[TERRITORY_PREVALENCE[n] for n in names]))
        if key not in TERRITORIES:
            raise ValueError(f"unknown territory '{territory}'; use LAD, RCA, LCX or random")
        allowed = set(TERRITORIES[key]) & available
        if not allowed:
            raise ValueError(f"no segment of the {key} territory holds myocardium")
        if size is None:
            n = int(rng.integers(1, min(max_segments, len(allowed)) + 1))
        else:
            n = min(size, max_segments)
        chosen = grow_segments(rng, min(n, len(allowed)), allowed)
        if culprit and n > len(chosen):
            # an infarct too large for the nominal bed reaches the neighbouring segments (perfusion beds vary)
            chosen = _extend(rng, chosen, n, available)
        return chosen
    n = int(rng.integers(1, max_segments + 1)) if size is None else min(size, max_segments)
    return grow_segments(rng, n, available)
