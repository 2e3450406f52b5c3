"""Label schemes and the ``Case``: one image, its canonical masks and its grid.

A label scheme maps a label file's values to anatomy. Canonical structures:

- ``cavity``: LV blood pool;
- ``myocardium``: the whole LV myocardium, scar and MVO included;
- ``scar``: infarct / enhancement, MVO included;
- ``mvo``: microvascular obstruction (EMIDEC "no-reflow");
- ``rv``: RV blood pool;
- ``edema``: myocardial oedema (MyoPS), kept for completeness.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .geometry import Geometry

STRUCTURES = ("cavity", "myocardium", "scar", "mvo", "rv", "edema")
# Order in which structures are painted when a case is written back as one label map:
# later structures overwrite earlier ones, so scar lands on top of myocardium and MVO on top of scar.
_PAINT_ORDER = ("cavity", "myocardium", "edema", "scar", "mvo", "rv")


@dataclass(frozen=True)
class LabelScheme:
    name: str
    values: dict  # structure -> tuple of label values that belong to it

    @property
    def allowed(self) -> set[int]:
        out = {0}
        for vals in self.values.values():
            out.update(vals)
        return out

    def mask(self, labels: np.ndarray, structure: str) -> np.ndarray | None:
        vals = self.values.get(structure)
        if not vals:
            return None
        return np.isin(labels, vals)

    def encode(self, masks: dict, shape) -> np.ndarray:
        """One label map from canonical masks; each structure is written with its first value."""
        dtype = np.uint16 if max(self.allowed) > 255 else np.uint8
        out = np.zeros(shape, dtype=dtype)
        for structure in _PAINT_ORDER:
            m = masks.get(structure)
            vals = self.values.get(structure)
            if m is not None and vals:
                out[m] = vals[0]
        return out

    def describe(self) -> str:
        return ",".join(f"{s}={'+'.join(str(v) for v in vals)}" for s, vals in self.values.items())


EMIDEC = LabelScheme("EMIDEC", {"cavity": (1,), "myocardium": (2, 3, 4), "scar": (3, 4), "mvo": (4,)})
MYOPS = LabelScheme("MyoPS", {"cavity": (500,), "myocardium": (200, 1220, 2221), "scar": (2221,),
                              "rv": (600,), "edema": (1220,)})
KNOWN_SCHEMES = {"emidec": EMIDEC, "myops": MYOPS}

# Labels written by CLAIM itself when it builds a map from named masks (Slicer segments, .seg.nrrd):
# EMIDEC's values plus 5 for the RV.
NAMED = LabelScheme("named segments", {"cavity": (1,), "myocardium": (2, 3, 4), "scar": (3, 4), "mvo": (4,),
                                       "rv": (5,)})

# Segment names (lower case, punctuation ignored) that mean each structure. "normal" is EMIDEC's class 2.
SEGMENT_NAMES = {
    "cavity": ("lv cavity", "cavity", "lv blood pool", "blood pool", "left ventricle", "lv", "lv bloodpool"),
    "normal": ("myocardium", "lv myocardium", "normal myocardium", "myo", "healthy myocardium"),
    "scar": ("scar", "infarct", "infarction", "myocardial infarction", "enhancement", "lge", "fibrosis"),
    "mvo": ("mvo", "no reflow", "noreflow", "microvascular obstruction"),
    "rv": ("rv", "right ventricle", "rv cavity", "rv blood pool"),
}


def parse_scheme(text: str) -> LabelScheme:
    """``emidec``, ``myops`` or a mapping such as ``cavity=1,myocardium=2+3+4,scar=3+4,mvo=4,rv=5``."""
    key = text.strip().lower()
    if key in KNOWN_SCHEMES:
        return KNOWN_SCHEMES[key]
    values = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([A-Za-z_]+)\s*=\s*([0-9+\s]+)", part)
        if not m:
            raise InputError("--scheme", f"cannot parse '{part}'; expected structure=value[+value...], "
                                         f"e.g. 'cavity=1,myocardium=2+3+4,scar=3+4,mvo=4,rv=5'")
        name = m.group(1).lower()
        if name not in STRUCTURES:
            raise InputError("--scheme", f"unknown structure '{name}'; use {', '.join(STRUCTURES)}")
        vals = tuple(int(v) for v in m.group(2).replace(" ", "").split("+") if v)
        if not vals or 0 in vals:
            raise InputError("--scheme", f"'{part}' needs non-zero label values (0 is background)")
        values[name] = vals
    if "myocardium" not in values:
        raise InputError("--scheme", "the mapping must name the myocardium, e.g. 'myocardium=2+3+4'")
    return LabelScheme("custom", values)


def label_values(labels: np.ndarray, source) -> np.ndarray:
    """Distinct integer values of a label map; float maps (EMIDEC stores float64) must hold whole numbers."""
    vals = np.unique(labels)
    if np.issubdtype(vals.dtype, np.floating):
        if not np.all(np.isfinite(vals)):
            raise InputError(source, "label map contains NaN or inf values")
        frac = np.abs(vals - np.round(vals))
        if np.any(frac > 1e-3):
            bad = vals[frac > 1e-3][:5]
            raise InputError(source, f"label map has non-integer values ({', '.join(f'{v:g}' for v in bad)}); "
                                     f"is this an image rather than labels?")
        vals = np.unique(np.round(vals))
    return vals.astype(np.int64)


def detect_scheme(values, source) -> LabelScheme:
    present = set(int(v) for v in values)
    for scheme in (EMIDEC, MYOPS):
        if present <= scheme.allowed:
            return scheme
    raise InputError(source, f"label values {_fmt_values(present)} match no known scheme "
                             f"(EMIDEC {_fmt_values(EMIDEC.allowed)}; MyoPS {_fmt_values(MYOPS.allowed)}); "
                             f"pass --scheme, e.g. 'cavity=1,myocardium=2+3+4,scar=3+4,mvo=4'")


def _fmt_values(values) -> str:
    values = sorted(values)
    if len(values) > 12:  # an image given as labels: say so in one readable line
        return "{" + ", ".join(str(v) for v in values[:8]) + f", ... {values[-1]}}} ({len(values)} values: an image?)"
    return "{" + ", ".join(str(v) for v in values) + "}"


def structure_for_segment_name(name: str) -> str | None:
    """Canonical structure a segment name stands for (``normal`` = myocardium without scar), or None."""
    key = re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()
    for structure, names in SEGMENT_NAMES.items():
        if key in names:
            return structure
    return None


def labels_from_named_masks(named: dict, shape, source) -> np.ndarray:
    """One label map in the ``NAMED`` scheme from masks keyed by segment name."""
    out = np.zeros(shape, dtype=np.uint8)
    found = {}
    for name, mask in named.items():
        structure = structure_for_segment_name(name)
        if structure is not None:
            found.setdefault(structure, np.zeros(shape, bool))
            found[structure] |= np.asarray(mask, bool)
    if "normal" not in found and "scar" not in found:
        raise InputError(source, f"no segment is recognised as myocardium (segments: {', '.join(named) or 'none'}); "
                                 f"name it 'Myocardium' (or 'Scar', 'MVO', 'LV cavity', 'RV')")
    for structure, value in (("cavity", 1), ("normal", 2), ("scar", 3), ("mvo", 4), ("rv", 5)):
        if structure in found:
            out[found[structure]] = value
    return out


@dataclass
class Case:
    """One subject: the LGE image (may be None for label-only cases), canonical boolean masks and the grid.

    ``image`` is the image as read, in its file's own dtype (EMIDEC's float64, a scanner's int16 ...), so that a
    path that must stay bit-exact (synthesis writes only the mask's voxels) needs no second read. Algorithms that
    want floating point take ``float_image`` (float32, computed once).
    """

    case_id: str
    geometry: Geometry
    image: np.ndarray | None
    masks: dict = field(default_factory=dict)  # structure -> bool array [k, j, i]
    scheme: LabelScheme = EMIDEC
    sources: dict = field(default_factory=dict)  # "image"/"labels" -> path
    _float: tuple | None = field(default=None, init=False, repr=False, compare=False)  # (image, its float32)

    @property
    def float_image(self) -> np.ndarray | None:
        """The image as float32 (the same array when it already is), for algorithms; None without an image."""
        if self.image is None:
            return None
        if self._float is None or self._float[0] is not self.image:  # recomputed when the image is replaced
            self._float = (self.image, np.asarray(self.image, dtype=np.float32))
        return self._float[1]

    def with_image(self, image: np.ndarray | None, case_id: str | None = None, masks: dict | None = None) -> "Case":
        """A copy with another image (and optionally another id and masks); the float view is recomputed."""
        from dataclasses import replace

        return replace(self, image=image, case_id=case_id or self.case_id,
                       masks=self.masks if masks is None else masks)

    @property
    def myocardium(self) -> np.ndarray:
        return self.masks["myocardium"]

    def mask(self, structure: str) -> np.ndarray:
        """The structure's mask, all False when the labels do not have it."""
        m = self.masks.get(structure)
        return m if m is not None else np.zeros(self.geometry.shape, bool)

    def volume_ml(self, structure: str) -> float:
        return float(np.count_nonzero(self.mask(structure))) * self.geometry.voxel_volume_ml

    def volumes_ml(self) -> dict:
        return {s: self.volume_ml(s) for s in STRUCTURES if s in self.masks}

    def labels(self, scheme: LabelScheme = EMIDEC) -> np.ndarray:
        return scheme.encode(self.masks, self.geometry.shape)


def case_from_arrays(case_id: str, image: np.ndarray | None, labels: np.ndarray, geometry: Geometry,
                     scheme: LabelScheme | None = None, labels_source="labels",
                     sources: dict | None = None, allow_empty: bool = False) -> Case:
    """Validate a label map (and image) on one grid and build the Case. Raises InputError naming the file.
    ``allow_empty``: a map without myocardium is a valid answer (a segmenter's prediction), not bad input."""
    labels = np.asarray(labels)
    if labels.shape != tuple(geometry.shape):
        raise InputError(labels_source, f"label array shape {labels.shape} does not match its grid {geometry.shape}")
    values = label_values(labels, labels_source)
    if scheme is None:
        scheme = detect_scheme(values, labels_source)
    outside = sorted(set(values.tolist()) - scheme.allowed)
    if outside:
        raise InputError(labels_source, f"label values {_fmt_values(outside)} are outside the {scheme.name} scheme "
                                        f"({scheme.describe()})")
    if np.issubdtype(labels.dtype, np.floating):
        labels = np.round(labels).astype(np.int64)
    masks = {}
    for structure in STRUCTURES:
        m = scheme.mask(labels, structure)
        if m is not None:
            masks[structure] = m
    # Canonical nesting: MVO lies inside scar, scar inside the whole myocardium.
    if "mvo" in masks:
        masks["scar"] = masks.get("scar", np.zeros_like(masks["mvo"])) | masks["mvo"]
    if "scar" in masks:
        masks["myocardium"] = masks["myocardium"] | masks["scar"]
    if not masks["myocardium"].any() and not allow_empty:
        raise InputError(labels_source, "the myocardium is empty "
                                        f"(no voxel has a myocardium value {'+'.join(map(str, scheme.values['myocardium']))})")
    if image is not None:
        image = np.asarray(image)
        if image.shape != labels.shape:
            raise InputError(labels_source, f"image and labels differ in shape {image.shape} vs {labels.shape}")
    return Case(case_id, geometry, image, masks, scheme, dict(sources or {}))


def scar_from_labels(array: np.ndarray, geometry: Geometry, scheme: LabelScheme | None = None,
                     source="mask") -> tuple[np.ndarray, np.ndarray]:
    """(scar, MVO) of a scar mask or label map on ``geometry``: values 0/1 are a plain scar mask (no MVO); other
    values are read as labels (EMIDEC, MyoPS or ``scheme``), scar being infarct + MVO."""
    array = np.asarray(array)
    if set(np.unique(array).tolist()) <= {0, 1}:
        return array > 0, np.zeros(array.shape, bool)
    m = case_from_arrays(str(source), None, array, geometry, scheme, labels_source=source)
    return m.mask("scar"), m.mask("mvo")


def check_scar_mask(scar: np.ndarray, myocardium: np.ndarray, source, empty_ok: bool = False) -> None:
    """Refuse a scar mask (to paint, or to quantify) that reaches outside the myocardium, or is empty unless
    ``empty_ok`` (InputError naming ``source``)."""
    if not scar.any() and not empty_ok:
        raise InputError(source, "holds no scar voxel")
    outside = scar & ~myocardium
    if outside.any():
        raise InputError(source, f"{int(outside.sum())} scar voxels lie outside the myocardium")
