"""Joint training's data: crops of a case's myocardium slices with what the segmenter needs to see them."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Batch:
    """Crops (N, 1, S, S) at the generator's grid with what the segmenter needs to see them as nnU-Net would."""

    image: torch.Tensor  # [-1, 1]
    scar: torch.Tensor  # 0/1, MVO excluded
    mvo: torch.Tensor
    labels: torch.Tensor  # (N, 1, S, S) long: 0 background, 1 cavity, 2 myocardium, 3 scar, 4 MVO
    hist: torch.Tensor  # (N, 16), NaN rows without scar
    lo: torch.Tensor  # (N,) crop normalisation: scanner = lo + (x + 1) / 2 (hi - lo)
    hi: torch.Tensor
    mean: torch.Tensor  # (N,) case statistics for nnU-Net's z-score
    std: torch.Tensor

    def take(self, idx) -> "Batch":
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return Batch(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))

    @staticmethod
    def cat(parts: list) -> "Batch":
        return Batch(*(torch.cat([getattr(p, f) for p in parts]) for f in Batch.__dataclass_fields__))

    def to(self, device) -> "Batch":
        return Batch(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def __len__(self) -> int:
        return int(self.image.shape[0])


def case_batch(case, cfg: dict, scar=None, mvo=None, only_scarred: bool = False, with_mvo: bool = True) -> Batch:
    """A case's myocardium slices as a Batch (``scar``/``mvo``: a mask to paint, else the case's own)."""
    from ..diffusion.data import case_slices

    scar = case.mask("scar") if scar is None else np.asarray(scar, bool) | case.mask("scar")
    mvo = case.mask("mvo") if mvo is None else np.asarray(mvo, bool) | case.mask("mvo")
    sl = case_slices(case, cfg["size"], cfg["spacing_mm"], scar=scar, mvo=mvo, only_scarred=only_scarred)
    n = len(sl.crops)
    cavity = case.mask("cavity")
    labels = np.zeros((n, cfg["size"], cfg["size"]), np.int64)
    for i, c in enumerate(sl.crops):
        labels[i][c.crop(cavity[c.k], 1) > 0.5] = 1
    labels[sl.myocardium > 0] = 2
    labels[sl.scar > 0] = 3
    labels[sl.mvo > 0] = 4 if with_mvo else 3
    f = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))[:, None]  # noqa: E731
    image = case.image.astype(np.float64)
    stats = torch.full((n,), float(image.mean())), torch.full((n,), float(image.std()))
    return Batch(f(sl.image), f(sl.scar), f(sl.mvo), torch.from_numpy(labels)[:, None], torch.from_numpy(sl.hist),
                 torch.tensor([nm.lo for nm in sl.norms], dtype=torch.float32),
                 torch.tensor([nm.hi for nm in sl.norms], dtype=torch.float32), *stats)


def lesion(batch: Batch) -> torch.Tensor:
    """The lesion (scar or MVO) of a batch, 0/1."""
    return torch.clamp(batch.scar + batch.mvo, 0, 1)
