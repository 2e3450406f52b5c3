"""Image grid geometry: spacing, origin and direction, in ITK's LPS convention.

Arrays are indexed ``[k, j, i]`` (slice, row, column) as SimpleITK and Slicer's ``arrayFromVolume`` return them;
a physical point is ``origin + direction @ (spacing * (i, j, k))``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk

_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Geometry:
    shape: tuple[int, int, int]  # array shape (nk, nj, ni)
    spacing: tuple[float, float, float]  # mm along i, j, k
    origin: tuple[float, float, float]  # LPS mm of voxel (0, 0, 0)
    direction: tuple[float, ...]  # 3x3 row-major; column c is the physical direction of index axis c

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_sitk(cls, image: sitk.Image) -> "Geometry":
        size = image.GetSize()
        return cls(
            shape=(int(size[2]), int(size[1]), int(size[0])),
            spacing=tuple(float(s) for s in image.GetSpacing()),
            origin=tuple(float(o) for o in image.GetOrigin()),
            direction=tuple(float(d) for d in image.GetDirection()),
        )

    @classmethod
    def from_matrix(cls, ijk_to_lps: np.ndarray, shape) -> "Geometry":
        """From a 4x4 voxel-to-LPS matrix (slicerio's ``ijkToLPS``)."""
        m = np.asarray(ijk_to_lps, dtype=float)
        spacing = np.linalg.norm(m[:3, :3], axis=0)
        direction = m[:3, :3] / spacing
        return cls(tuple(int(s) for s in shape), tuple(spacing.tolist()), tuple(m[:3, 3].tolist()),
                   tuple(direction.ravel().tolist()))

    @classmethod
    def from_ijk_to_ras(cls, ijk_to_ras: np.ndarray, shape) -> "Geometry":
        """From Slicer's 4x4 IJKToRAS matrix (a volume node's ``GetIJKToRASMatrix``)."""
        return cls.from_matrix(_LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float), shape)

    # ----------------------------------------------------------------- views
    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def ijk_to_lps(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix * np.asarray(self.spacing)
        m[:3, 3] = self.origin
        return m

    @property
    def ijk_to_ras(self) -> np.ndarray:
        return _LPS_TO_RAS @ self.ijk_to_lps

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    @property
    def slice_normal(self) -> np.ndarray:
        """Physical direction of increasing slice index k."""
        return self.direction_matrix[:, 2].copy()

    def index_to_physical(self, kji: np.ndarray) -> np.ndarray:
        """Physical LPS points (N, 3) of array indices ``(k, j, i)`` (N, 3); fractional indices allowed."""
        kji = np.atleast_2d(np.asarray(kji, dtype=float))
        ijk = kji[:, ::-1]
        return ijk @ (self.direction_matrix * np.asarray(self.spacing)).T + np.asarray(self.origin)

    def physical_to_index(self, points: np.ndarray) -> np.ndarray:
        """Fractional array indices ``(k, j, i)`` of physical LPS points (N, 3)."""
        pts = np.atleast_2d(np.asarray(points, dtype=float)) - np.asarray(self.origin)
        ijk = np.linalg.solve(self.direction_matrix * np.asarray(self.spacing), pts.T).T
        return ijk[:, ::-1]

    def to_sitk(self, array: np.ndarray) -> sitk.Image:
        array = np.asarray(array)
        if array.shape != tuple(self.shape):
            raise ValueError(f"array shape {array.shape} does not match the grid {self.shape}")
        image = sitk.GetImageFromArray(array)
        self.apply_to(image)
        return image

    def apply_to(self, image: sitk.Image) -> None:
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)

    # ----------------------------------------------------------------- comparison
    def differences(self, other: "Geometry", rtol: float = 1e-4) -> list[str]:
        """Human-readable differences; empty when both describe the same grid (within rounding)."""
        out = []
        if tuple(self.shape) != tuple(other.shape):
            out.append(f"size {_fmt_size(self.shape)} vs {_fmt_size(other.shape)}")
        if not np.allclose(self.spacing, other.spacing, rtol=rtol, atol=1e-6):
            out.append(f"spacing {_fmt(self.spacing)} vs {_fmt(other.spacing)} mm")
        tol = rtol * 100 * min(min(self.spacing), min(other.spacing))  # 1% of a voxel
        if not np.allclose(self.origin, other.origin, atol=max(tol, 1e-4)):
            out.append(f"origin {_fmt(self.origin)} vs {_fmt(other.origin)} mm")
        if not np.allclose(self.direction, other.direction, atol=1e-4):
            out.append("direction differs")
        return out

    def to_dict(self) -> dict:
        return {"shape": list(self.shape), "spacing": list(self.spacing), "origin": list(self.origin),
                "direction": list(self.direction)}


def _fmt(values) -> str:
    return "x".join(f"{v:.6g}" for v in values)


def _fmt_size(shape_kji) -> str:
    return "x".join(str(int(s)) for s in tuple(shape_kji)[::-1])
