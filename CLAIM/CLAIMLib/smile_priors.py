"""SMILE priors learned from a user's own scars (``claim smile-priors``), and drawing from them.

From each reference case with scar (``maskstats.case_stats``): its volume as a fraction of the myocardium, its mean
normalised wall depth (transmural extent), its number of lesions (3D components holding at least 5% of the scar)
and its share of scar per AHA segment. The priors keep those per-case values and their summaries:

- ``centre_frequency``: how often each segment holds the largest share (where lesions are centred);
- ``segment_share``: the mean share per segment (where scar lies), and ``involvement`` (how often each segment is
  involved);
- per case: fraction, depth, lesion count, centre segment and involved segments, drawn together so that their
  correlations survive (large infarcts are the transmural ones; the inferior wall is the RCA's). A drawn mask
  grows from that case's centre segment inside its involved segments (widened when the subject's are too small),
  to its size (jittered, log-normal 15%) and depth (jittered, +-0.03).

CLAIM's paper draws segments uniformly; these reproduce a population.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

VERSION = 1
LESION_SHARE = 0.05  # a component is a lesion when it holds at least this share of the scar
SIZE_JITTER = 0.15
DEPTH_JITTER = 0.03


@dataclass
class SmilePriors:
    cases: list  # [{"case_id", "fraction", "mean_depth", "lesions", "volume_ml"}]
    centre_frequency: list  # 17 values summing to 1
    segment_share: list  # 17 values summing to 1
    involvement: list  # 17 case fractions
    normal_cases: int = 0
    source: str = ""
    version: int = VERSION
    summary: dict = field(default_factory=dict)

    def draw_case(self, rng: np.random.Generator) -> dict:
        """One reference case's size (jittered), depth (jittered), lesion count, centre segment and involved
        segments (the bed a drawn lesion grows in)."""
        c = self.cases[int(rng.integers(len(self.cases)))]
        fraction = float(np.clip(c["fraction"] * np.exp(SIZE_JITTER * rng.standard_normal()), 0.005, 0.8))
        depth = float(np.clip(c["mean_depth"] + DEPTH_JITTER * rng.standard_normal(), 0.05, 0.6))
        return {"fraction": fraction, "mean_depth": depth, "lesions": int(c["lesions"]),
                "centre_segment": int(c["centre_segment"]), "segments": [int(v) for v in c["segments"]]}

    def draw_centre(self, rng: np.random.Generator, available) -> int:
        """A centre segment among ``available``, by how often the reference centres its scar there (a little of
        the mean share mixed in, so that no available segment is impossible)."""
        available = sorted(int(s) for s in available)
        p = np.array([self.centre_frequency[s - 1] + 0.1 * self.segment_share[s - 1] + 1e-6 for s in available])
        return int(available[int(rng.choice(len(available), p=p / p.sum()))])

    def to_dict(self) -> dict:
        return asdict(self)


def learn(stats: list[dict], lesions: list[int], case_ids: list[str], source: str = "") -> SmilePriors:
    """Priors from per-case ``maskstats.case_stats`` (and each case's lesion count); cases without scar are
    counted as normal."""
    from .maskstats import involvement_frequency, mean_share

    keep = [i for i, st in enumerate(stats) if st["volume_ml"] > 0]
    if not keep:
        raise ValueError("no case has scar")
    scarred = [stats[i] for i in keep]
    centre = np.zeros(17)
    for st in scarred:
        centre[int(np.argmax(st["segment_share"]))] += 1
    cases = [{"case_id": case_ids[i], "fraction": round(stats[i]["volume_fraction"], 5),
              "mean_depth": round(stats[i]["mean_depth"], 5), "lesions": max(1, int(lesions[i])),
              "volume_ml": round(stats[i]["volume_ml"], 4),
              "centre_segment": int(np.argmax(stats[i]["segment_share"])) + 1,
              "segments": sorted(set(stats[i]["involved"]) | {int(np.argmax(stats[i]["segment_share"])) + 1})}
             for i in keep]
    fr = np.array([c["fraction"] for c in cases])
    dp = np.array([c["mean_depth"] for c in cases])
    summary = {"fraction_median": round(float(np.median(fr)), 4),
               "fraction_iqr": [round(float(v), 4) for v in np.percentile(fr, [25, 75])],
               "mean_depth_median": round(float(np.median(dp)), 4),
               "lesions": {str(k): int(v) for k, v in zip(*np.unique([c["lesions"] for c in cases],
                                                                     return_counts=True))}}
    return SmilePriors(cases=cases, centre_frequency=(centre / centre.sum()).round(6).tolist(),
                       segment_share=mean_share(scarred).round(6).tolist(),
                       involvement=involvement_frequency(scarred).round(6).tolist(),
                       normal_cases=len(stats) - len(keep), source=source, summary=summary)


def count_lesions(scar: np.ndarray) -> int:
    """3D components (26-connectivity) holding at least ``LESION_SHARE`` of the scar."""
    from scipy import ndimage

    lab, n = ndimage.label(np.asarray(scar, bool), np.ones((3, 3, 3), bool))
    if n == 0:
        return 0
    sizes = np.bincount(lab.ravel())[1:]
    return int(np.count_nonzero(sizes >= LESION_SHARE * sizes.sum()))


def from_dict(data: dict) -> SmilePriors:
    """Checked priors from their JSON; raises ValueError saying what is wrong."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not CLAIM SMILE priors (version {VERSION}); make them with claim smile-priors")
    try:
        priors = SmilePriors(**{k: data[k] for k in ("cases", "centre_frequency", "segment_share", "involvement")},
                             normal_cases=int(data.get("normal_cases", 0)), source=str(data.get("source", "")),
                             summary=dict(data.get("summary", {})))
        ok = (len(priors.cases) > 0 and all(len(v) == 17 for v in (priors.centre_frequency, priors.segment_share,
                                                                       priors.involvement))
              and all(0 < float(c["fraction"]) < 1 and 0 <= float(c["mean_depth"]) <= 1 and int(c["lesions"]) >= 1
                      and 1 <= int(c["centre_segment"]) <= 17 and all(1 <= int(v) <= 17 for v in c["segments"])
                      for c in priors.cases)
              and abs(sum(priors.centre_frequency) - 1) < 1e-3)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError("malformed SMILE priors (cases, centre_frequency, segment_share, involvement)")
    return priors


def load(path) -> SmilePriors:
    """Priors from a JSON file; raises ValueError (unreadable or malformed)."""
    try:
        data = json.loads(open(path, encoding="utf-8").read())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read SMILE priors ({e.__class__.__name__})") from None
    return from_dict(data)
