"""Reading and writing volumes (SimpleITK), atomic writes, and finding cases on disk.

Files are read and written only here and at the edges (CLI, Slicer Logic). Every problem with an input
becomes an ``InputError`` naming the file.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import shutil
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dicom import is_series_folder, read_series
from .errors import InputError
from .geometry import Geometry
from .labels import EMIDEC, NAMED, Case, LabelScheme, case_from_arrays, labels_from_named_masks
from .outputs import staged as atomic_path  # a temporary beside the file, renamed on success (or at the command's end)

# EMIDEC's sform has "unexpected scales" that ITK warns about on every read; the spacing is read right.
sitk.ProcessObject_SetGlobalWarningDisplay(False)

VOLUME_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
WRITE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")  # single-file formats, so that a rename is atomic


def volume_suffix(path) -> str | None:
    name = Path(path).name.lower()
    for suffix in VOLUME_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def stem(path) -> str:
    """File name without its volume suffix (``Case_P100.nii.gz`` -> ``Case_P100``)."""
    name = Path(path).name
    suffix = volume_suffix(path)
    return name[: -len(suffix)] if suffix else Path(path).stem


# ----------------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_dir(path):
    """Yield a temporary folder that replaces ``path`` (a folder) as a whole on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".old-{uuid.uuid4().hex[:8]}-{path.name}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_volume(path, array: np.ndarray, geometry: Geometry, dtype=None) -> Path:
    """Write an array on a grid as NIfTI/NRRD/MHA (by suffix), atomically, geometry kept exactly."""
    array = np.asarray(array)
    if dtype is not None:
        array = array.astype(dtype)
    elif array.dtype == bool:
        array = array.astype(np.uint8)
    if volume_suffix(path) not in WRITE_SUFFIXES:
        raise InputError(path, f"cannot write this format; use one of {', '.join(WRITE_SUFFIXES)}")
    image = geometry.to_sitk(array)
    with atomic_path(path) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)
    return Path(path)


# ----------------------------------------------------------------------------------------------- reading
def _check_file(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder; expected a volume file")
    if volume_suffix(path) is None:
        raise InputError(path, f"unsupported file type; use {', '.join(VOLUME_SUFFIXES)}")
    if path.stat().st_size == 0:
        raise InputError(path, "is empty (0 bytes)")
    return path


def _as_3d(image: sitk.Image, path) -> sitk.Image:
    dim = image.GetDimension()
    size = image.GetSize()
    if dim == 4 and size[3] == 1:
        image = sitk.Extract(image, list(size[:3]) + [0], [0, 0, 0, 0])
        dim, size = 3, image.GetSize()
    if dim != 3:
        raise InputError(path, f"is {dim}D ({'x'.join(map(str, size))}); expected a 3D short-axis stack")
    if size[2] < 2:
        raise InputError(path, f"has a single slice ({size[0]}x{size[1]}x{size[2]}); "
                               "expected a 3D short-axis stack (2D input)")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(path, f"has {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                               "expected a scalar volume")
    return image


def _check_nifti(path: Path) -> None:
    """Checks ITK skips on NIfTI: it reads a truncated file without complaint (missing voxels become zeros)
    and turns NaN into 0. So check the length against the header, and scan float data for NaN and inf."""
    suffix = volume_suffix(path)
    if suffix not in (".nii", ".nii.gz"):
        return
    opener = gzip.open if suffix == ".nii.gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, OSError, zlib.error):
        raise InputError(path, "is truncated or corrupt (the compressed stream ends early)") from None
    header = _nifti_header(data)
    if header is None:
        raise InputError(path, "is not a NIfTI file (bad header)")
    endian, datatype, bitpix, offset, nvox = header
    need = offset + nvox * max(1, bitpix) // 8
    if len(data) < need:
        raise InputError(path, f"is truncated: {len(data)} bytes of the {need} its header announces")
    float_types = {16: "f4", 64: "f8"}
    if datatype in float_types:
        voxels = np.frombuffer(data, dtype=endian + float_types[datatype], count=nvox, offset=offset)
        bad = int(np.count_nonzero(~np.isfinite(voxels)))
        if bad:
            raise InputError(path, f"contains {bad} NaN or inf voxel{'s' if bad > 1 else ''}")


def _nifti_header(data: bytes):
    """(endian, datatype, bitpix, vox_offset, voxel count) of a NIfTI-1 or NIfTI-2 header, or None."""
    for endian in "<>":
        if len(data) >= 348 and struct.unpack(endian + "i", data[:4])[0] == 348:  # NIfTI-1
            dim = struct.unpack(endian + "8h", data[40:56])
            datatype, bitpix = struct.unpack(endian + "2h", data[70:74])
            offset = int(struct.unpack(endian + "f", data[108:112])[0])
            break
        if len(data) >= 540 and struct.unpack(endian + "i", data[:4])[0] == 540:  # NIfTI-2
            datatype, bitpix = struct.unpack(endian + "2h", data[12:16])
            dim = struct.unpack(endian + "8q", data[16:80])
            offset = int(struct.unpack(endian + "q", data[168:176])[0])
            break
    else:
        return None
    ndim = max(1, min(int(dim[0]), 7))
    nvox = int(np.prod([max(1, int(d)) for d in dim[1:ndim + 1]], dtype=np.int64))
    return endian, int(datatype), int(bitpix), offset, nvox


def read_volume(path) -> tuple[np.ndarray, Geometry]:
    """A scalar 3D volume as (array [k, j, i], geometry); checks readability, dimension, NaN and inf. A folder is
    read as a DICOM series (``dicom.read_series``: the one it holds, or the one ``--series`` picked)."""
    if Path(path).is_dir():
        image = read_series(path)
    else:
        path = _check_file(path)
        if volume_suffix(path) == ".seg.nrrd":
            raise InputError(path, "is a Slicer segmentation; give it as the labels, not the image")
        try:
            _check_nifti(path)
            image = sitk.ReadImage(str(path))
        except RuntimeError:
            raise InputError(path, "cannot be read: truncated, corrupt or not a valid volume file") from None
    image = _as_3d(image, path)
    try:
        array = sitk.GetArrayFromImage(image)
    except RuntimeError:
        raise InputError(path, "cannot be read: truncated or corrupt voxel data") from None
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(path, f"contains {bad} NaN or inf voxel{'s' if bad > 1 else ''}")
    return array, Geometry.from_sitk(image)


def read_labels(path) -> tuple[np.ndarray, Geometry, LabelScheme | None]:
    """A label map (NIfTI/NRRD, or a Slicer ``.seg.nrrd`` whose segments are matched by name).

    Returns (labels [k, j, i], geometry, scheme or None). For a ``.seg.nrrd`` the scheme is ``NAMED``.
    """
    path = _check_file(path)
    if volume_suffix(path) != ".seg.nrrd":
        labels, geometry = read_volume(path)
        return labels, geometry, None
    import slicerio

    try:
        seg = slicerio.read_segmentation(str(path))
    except Exception:  # slicerio raises several types for corrupt headers and data
        raise InputError(path, "cannot be read as a Slicer segmentation (.seg.nrrd)") from None
    voxels = seg.get("voxels")
    if voxels is None or voxels.ndim not in (3, 4):
        raise InputError(path, "segmentation has no 3D voxel data")
    shape_ijk = voxels.shape[-3:]
    geometry = Geometry.from_matrix(seg["ijkToLPS"], shape_ijk[::-1])
    named = {s.get("name", s["id"]): np.transpose(slicerio.segment_mask(seg, s), (2, 1, 0))
             for s in seg.get("segments", [])}
    labels = labels_from_named_masks(named, geometry.shape, path)
    return labels, geometry, NAMED


def resample_to(labels: np.ndarray, geometry: Geometry, reference: Geometry) -> np.ndarray:
    """Nearest-neighbour resampling of a label map onto a reference grid (outside: 0)."""
    image = geometry.to_sitk(labels)
    ref = reference.to_sitk(np.zeros(reference.shape, dtype=labels.dtype))
    out = sitk.Resample(image, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, image.GetPixelID())
    return sitk.GetArrayFromImage(out)


# ----------------------------------------------------------------------------------------------- cases on disk
@dataclass(frozen=True)
class CaseFiles:
    case_id: str
    image: Path | None
    labels: Path | None


_LABEL_SUFFIXES = ("_label", "_labels", "_seg", "_gt", "_mask", "_contours", "_gd")
_MYOPS = re.compile(r"(.+)_(LGE|DE)$", re.IGNORECASE)


def _volumes(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and volume_suffix(p) and not p.name.startswith("."))


def _emidec_case(folder: Path) -> CaseFiles | None:
    images, contours = folder / "Images", folder / "Contours"
    if not (images.is_dir() or contours.is_dir()):
        return None

    def pick(sub: Path):
        if not sub.is_dir():
            return None
        vols = _volumes(sub)
        named = [p for p in vols if stem(p) == folder.name]
        if not vols and sub.name == "Images" and is_series_folder(sub):
            return sub  # the image as a DICOM series
        return (named or vols or [None])[0]

    image, labels = pick(images), pick(contours)
    if image is None and labels is None:
        return None
    return CaseFiles(folder.name, image, labels)


def discover_cases(path) -> list[CaseFiles]:
    """Cases under ``path``: an EMIDEC case folder or dataset root, MyoPS files, nnU-Net raw, or plain pairs."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_file():
        return [CaseFiles(stem(path), path, None)]
    single = _emidec_case(path)
    if single:
        return [single]
    cases = [c for c in (_emidec_case(d) for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith('.'))
             if c]  # hidden: a temporary of an unfinished write
    if cases:
        return cases
    for img_dir, lab_dir in (("imagesTr", "labelsTr"), ("imagesTs", "labelsTs"), ("images", "labels")):
        if (path / img_dir).is_dir():
            out = []
            for img in _volumes(path / img_dir):
                cid = re.sub(r"_0000$", "", stem(img))
                if re.search(r"_000[1-9]$", stem(img)):
                    continue  # other nnU-Net channels
                labs = [p for p in (_volumes(path / lab_dir) if (path / lab_dir).is_dir() else [])
                        if stem(p) in (cid, stem(img))]
                out.append(CaseFiles(cid, img, labs[0] if labs else None))
            if out:
                return out
    vols = _volumes(path)
    by_stem = {stem(p): p for p in vols}
    out, used = [], set()
    for p in vols:
        s = stem(p)
        m = _MYOPS.match(s)
        if m:
            lab = by_stem.get(f"{m.group(1)}_gd")
            out.append(CaseFiles(m.group(1), p, lab))
            used.update({p, lab})
    for p in vols:
        s = stem(p)
        if p in used or any(s.lower().endswith(x) for x in _LABEL_SUFFIXES) or _MYOPS.match(s):
            continue
        lab = next((q for x in _LABEL_SUFFIXES for q in vols if stem(q) == s + x), None)
        if lab is not None:
            out.append(CaseFiles(s, p, lab))
            used.update({p, lab})
    if not out:
        raise InputError(path, "no cases found (expected EMIDEC Case_X/Images + Case_X/Contours, "
                               "MyoPS CaseN_LGE + CaseN_gd, nnU-Net imagesTr/labelsTr, or IMAGE + IMAGE_label pairs)")
    return sorted(out, key=lambda c: c.case_id)


def load_case(files: CaseFiles, scheme: LabelScheme | None = None) -> Case:
    """Read and validate one case: labels required, image optional (label-only cases such as EMIDEC N016)."""
    if files.labels is None:
        raise InputError(files.image or files.case_id, "no label map found for this case")
    labels, geometry, file_scheme = read_labels(files.labels)
    image = None
    if files.image is not None:
        image, image_geometry = read_volume(files.image)
        diffs = image_geometry.differences(geometry)
        if diffs and file_scheme is NAMED and _same_lattice(image_geometry, geometry):
            labels, geometry = resample_to(labels, geometry, image_geometry), image_geometry
            diffs = []
        if diffs:
            raise InputError(files.labels, f"labels and image {Path(files.image).name} are not on one grid: "
                                           f"{'; '.join(diffs)}")
    return case_from_arrays(files.case_id, image, labels, geometry, scheme or file_scheme,
                            labels_source=files.labels,
                            sources={"image": files.image, "labels": files.labels})


def _same_lattice(a: Geometry, b: Geometry) -> bool:
    """Same spacing and direction, origins a whole number of voxels apart (a cropped Slicer segmentation)."""
    if not (np.allclose(a.spacing, b.spacing, rtol=1e-4) and np.allclose(a.direction, b.direction, atol=1e-4)):
        return False
    offset = a.physical_to_index(np.asarray(b.origin)[None])[0]
    return bool(np.allclose(offset, np.round(offset), atol=1e-2))


def load_cases(path, scheme: LabelScheme | None = None) -> list[Case]:
    return [load_case(f, scheme) for f in discover_cases(path)]


def write_case(case: Case, out_dir, scheme: LabelScheme | None = None, record: dict | None = None) -> Path:
    """Write a case in the EMIDEC layout (``<id>/Images/<id>.nii.gz``, ``<id>/Contours/<id>.nii.gz``, and
    ``<id>/<id>.json`` holding ``record`` when given), atomically: the case folder appears whole or not at all.

    Labels use EMIDEC's values (0-4), and 5 for the RV when the case has one, unless ``scheme`` says otherwise.
    """
    if scheme is None:
        scheme = NAMED if case.masks.get("rv") is not None and case.masks["rv"].any() else EMIDEC
    final = Path(out_dir) / case.case_id
    with atomic_dir(final) as tmp:
        if case.image is not None:
            write_volume(tmp / "Images" / f"{case.case_id}.nii.gz", case.image, case.geometry)
        write_volume(tmp / "Contours" / f"{case.case_id}.nii.gz", case.labels(scheme), case.geometry)
        if record is not None:
            write_json(tmp / f"{case.case_id}.json", record)
    return final

