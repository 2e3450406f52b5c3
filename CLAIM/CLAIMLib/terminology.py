"""Standard terminology for the structures CLAIM segments: SNOMED CT codes in DICOM's coded-concept form, as
Slicer's Segment Editor and DICOM SEG export read them, and each structure's default segment name and colour.

An entry is Slicer's terminology string ``context~category~type~type modifier~anatomic context~region~region
modifier``, each coded part ``scheme^code^meaning``. The codes: LV (SCT 87878005, left cardiac ventricular
structure), myocardium (SCT 74281007), infarct (SCT 55641003, morphologically altered structure), right ventricle
(SCT 53085002), in the anatomic region of the heart (SCT 80891009) or of the myocardium. SNOMED CT has no concept
for LGE's microvascular obstruction or peri-infarct gray zone, so those use a private scheme (``99CLAIM``; DICOM
reserves the ``99`` prefix for private coding schemes). Pure Python: the Slicer layer and ``ModelFolder`` share it.
"""
from __future__ import annotations

CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMY = "Anatomic codes - DICOM master list"
STRUCTURE = "SCT^123037004^Anatomical Structure"
ALTERED = "SCT^49755003^Morphologically Altered Structure"
MYOCARDIUM = "SCT^74281007^Myocardium"
HEART = "SCT^80891009^Heart"
TISSUE = "SCT^85756007^Tissue"


def terminology(category: str, type_: str, region: str = "") -> str:
    """A terminology entry string: context~category~type~modifier~anatomic context~region~region modifier."""
    return "~".join([CONTEXT, category, type_, "^^", ANATOMY, region or "^^", "^^"])


# Structures CLAIM writes as segments: key -> (segment name, colour, terminology). Names are matched back by
# labels.SEGMENT_NAMES. Scar is yellow-orange, MVO (the dark core of an infarct on LGE) dark purple.
STRUCTURE_SEGMENTS = {
    "cavity": ("Cavity", (0.85, 0.33, 0.25), terminology(STRUCTURE, "SCT^87878005^Left ventricle", HEART)),
    "normal": ("Myocardium", (0.55, 0.27, 0.07), terminology(STRUCTURE, MYOCARDIUM, HEART)),
    "scar": ("Scar", (1.0, 0.78, 0.15), terminology(ALTERED, "SCT^55641003^Infarct", MYOCARDIUM)),
    "mvo": ("MVO", (0.27, 0.05, 0.32), terminology(ALTERED, "99CLAIM^MVO^Microvascular obstruction", MYOCARDIUM)),
    "rv": ("RV", (0.6, 0.3, 0.7), terminology(STRUCTURE, "SCT^53085002^Right ventricle", HEART)),
    "gray_zone": ("Gray zone", (0.62, 0.62, 0.75),
                  terminology(ALTERED, "99CLAIM^GZ^Peri-infarct gray zone", MYOCARDIUM)),
}
PALETTE = ((0.3, 0.6, 0.9), (0.5, 0.8, 0.4), (0.9, 0.5, 0.8), (0.6, 0.6, 0.6))


def colour_of(value) -> tuple | None:
    """An (r, g, b) in 0-1 from [r, g, b] (0-1 or 0-255) or '#rrggbb'; None when it is neither."""
    if isinstance(value, str) and len(value) == 7 and value.startswith("#"):
        try:
            return tuple(int(value[i:i + 2], 16) / 255 for i in (1, 3, 5))
        except ValueError:
            return None
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value):
        scale = 255.0 if max(value) > 1 else 1.0
        return tuple(min(max(float(v) / scale, 0.0), 1.0) for v in value)
    return None


def segment_style(structure: str | None, name: str, index: int = 0, colour=None) -> tuple:
    """(segment name, colour, terminology) of a label called ``name`` that stands for ``structure`` (or None): the
    name as given, ``colour`` when given, else the structure's; a structure CLAIM does not know gets a palette
    colour and the generic 'Tissue' entry."""
    known = STRUCTURE_SEGMENTS.get(structure)
    if known is None:
        return name, colour or PALETTE[index % len(PALETTE)], terminology(STRUCTURE, TISSUE, HEART)
    return name, colour or known[1], known[2]
