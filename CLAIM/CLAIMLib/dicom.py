"""DICOM series folders as images: found and read with SimpleITK's GDCM series reader, geometry as the scanner wrote
it (image position and orientation of every slice), one series chosen by UID when a folder holds several.

``io.read_volume`` calls ``read_series`` for a folder, so every command that reads an image takes a series folder.
The series to read in a folder with several is set for a whole command by ``selected_series(uid)`` (the CLI's
``--series``); without it such a folder is an error listing the series (UID, description, slice count).
"""
from __future__ import annotations

import contextlib
import contextvars
import locale
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import InputError

_SERIES = contextvars.ContextVar("claim_dicom_series", default=None)
_DESCRIPTION, _POSITION, _ORIENTATION = "0008|103e", "0020|0032", "0020|0037"


@contextlib.contextmanager
def keeping_locale():
    """GDCM sets the process's C locale and leaves it so (after which Python reads text files as ASCII); the block's
    locale is put back as it was."""
    saved = locale.setlocale(locale.LC_ALL)
    try:
        yield
    finally:
        if locale.setlocale(locale.LC_ALL) != saved:
            locale.setlocale(locale.LC_ALL, saved)


@contextlib.contextmanager
def selected_series(uid: str | None):
    """Within the block, folders holding several series are read as series ``uid``."""
    token = _SERIES.set(uid)
    try:
        yield
    finally:
        _SERIES.reset(token)


def is_dicom_file(path) -> bool:
    """A DICOM Part 10 file ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def is_series_folder(path) -> bool:
    """A folder (or its subfolders) holding DICOM files rather than volume files."""
    path = Path(path)
    if not path.is_dir():
        return False
    for root, _, files in os.walk(path):
        for name in sorted(files)[:20]:
            if is_dicom_file(Path(root) / name):
                return True
    return False


@dataclass(frozen=True)
class Series:
    uid: str
    description: str
    files: tuple

    def __str__(self) -> str:
        return f"{self.uid} ('{self.description or 'no description'}', {len(self.files)} slices)"


def find_series(folder) -> list[Series]:
    """The DICOM series in a folder and its subfolders, in UID order."""
    found = {}
    with keeping_locale():
        for root, _, _ in os.walk(folder):
            for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(root) or ():
                files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(root, uid)
                if files:
                    found.setdefault(uid, []).extend(files)
    return [Series(uid, _tag(files[0], _DESCRIPTION), tuple(files)) for uid, files in sorted(found.items())]


def _tag(file, key: str) -> str:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(file))
    try:
        with keeping_locale():
            reader.ReadImageInformation()
    except RuntimeError:
        return ""
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def choose_series(folder, uid: str | None = None) -> Series:
    """The one series of ``folder``, or series ``uid`` (default: ``selected_series``); InputError otherwise."""
    uid = uid if uid is not None else _SERIES.get()
    series = find_series(folder)
    if not series:
        raise InputError(folder, "is a folder with no DICOM series (and not a volume file)")
    if uid is not None:
        match = [s for s in series if s.uid == uid]
        if not match:
            raise InputError("--series", f"no series {uid} in {folder} (it holds: {'; '.join(map(str, series))})")
        return match[0]
    if len(series) > 1:
        raise InputError(folder, f"holds {len(series)} DICOM series; pick one with --series UID: "
                                 f"{'; '.join(map(str, series))}")
    return series[0]


def read_series(folder, uid: str | None = None) -> sitk.Image:
    """One series as a 3D image. Slices are ordered along the stack by GDCM; their positions must lie on one line
    at a regular step (a gap or an irregular step would give a grid that is not the scanner's)."""
    series = choose_series(folder, uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(series.files))
    try:
        with keeping_locale():
            image = reader.Execute()
    except RuntimeError as e:
        raise InputError(folder, f"DICOM series {series.uid} cannot be read ({' '.join(str(e).split())[-120:]})") \
            from None
    _check_positions(folder, series, image)
    return image


def _check_positions(folder, series: Series, image: sitk.Image) -> None:
    if len(series.files) < 3:
        return
    points = []
    for f in series.files:
        text = _tag(f, _POSITION)
        try:
            points.append([float(v) for v in text.split("\\")])
        except ValueError:
            return  # no positions to check: GDCM fell back on its own ordering
    points = np.asarray(points)
    if points.shape[1:] != (3,):
        return
    normal = np.asarray(image.GetDirection()).reshape(3, 3)[:, 2]
    steps = np.diff(np.sort(points @ normal))
    if steps.size and (np.ptp(steps) > max(1e-3, 0.01 * abs(float(np.median(steps)))) or np.min(steps) <= 0):
        raise InputError(folder, f"DICOM series {series.uid}: slices are not evenly spaced along the stack (steps "
                                 f"{', '.join(f'{s:.3g}' for s in steps)} mm): missing or duplicate slices?")


def write_series(folder, array: np.ndarray, geometry, description: str = "CLAIM", series_uid: str | None = None,
                 study_uid: str | None = None) -> list[Path]:
    """Write a [k, j, i] integer volume as a DICOM MR series (one file per slice), with each slice's image position,
    the orientation, spacing and slice thickness of ``geometry``: what a scanner writes for a 2D short-axis stack."""
    import time

    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise InputError(folder, "DICOM series are written from integer voxels (cast the image first)")
    image = geometry.to_sitk(array.astype(np.int16))
    stamp = time.strftime("%Y%m%d%H%M%S")
    series_uid = series_uid or f"1.2.826.0.1.3680043.2.1125.{stamp}.{os.getpid()}.{np.random.randint(1 << 30)}"
    study_uid = study_uid or f"{series_uid}.0"
    d = geometry.direction
    orientation = "\\".join(repr(float(v)) for v in (d[0], d[3], d[6], d[1], d[4], d[7]))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    out = []
    for k in range(image.GetDepth()):
        piece = image[:, :, k]
        tags = {"0008|0060": "MR", "0008|0008": "DERIVED\\SECONDARY", "0020|000d": study_uid,
                "0020|000e": series_uid, "0008|103e": description, "0020|0037": orientation,
                "0020|0032": "\\".join(repr(float(v)) for v in image.TransformIndexToPhysicalPoint((0, 0, k))),
                "0020|0013": str(k + 1), "0018|0050": repr(float(geometry.spacing[2])),
                "0008|0018": f"{series_uid}.{k + 1}"}
        for key, value in tags.items():
            piece.SetMetaData(key, value)
        path = folder / f"{description}_{k + 1:04d}.dcm"
        writer.SetFileName(str(path))
        with keeping_locale():
            writer.Execute(piece)
        out.append(path)
    return out
