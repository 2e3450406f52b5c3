"""A trained nnU-Net v2 model folder: the one rule for what such a folder is, and what its files say.

A model folder (``nnUNet_results/DatasetNNN_Name/TRAINER__PLANS__CONFIG``) holds ``plans.json``, ``dataset.json`` and
``fold_F/<checkpoint>`` for each trained fold F (0-4 or ``all``). The folder name gives the trainer, the plans and
the configuration; a folder named otherwise (e.g. CLAIM's joint ``segmenter/``) gets them from its first fold's
checkpoint, as nnU-Net's own predictor does. Labels come from ``dataset.json`` by NAME, so a model whose label values
differ from CLAIM's export still maps onto the canonical structures. Cheap to build: no torch, no nnU-Net import
(except to read a checkpoint's header when the folder name does not tell).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..labels import LabelScheme, structure_for_segment_name

CHECKPOINT = "checkpoint_final.pth"
# The values CLAIM's export (``claim export-nnunet``) gives each structure; "normal" is myocardium without scar.
CLAIM_VALUES = {"cavity": 1, "normal": 2, "scar": 3, "mvo": 4}


def _fold_key(fold):
    return (1, 0) if fold == "all" else (0, int(fold))


def _read_json(folder: Path, name: str, keys: tuple) -> dict:
    """The dict in ``folder/name`` holding ``keys``; InputError(folder, "<name> ...") otherwise."""
    path = folder / name
    if not path.is_file():
        raise InputError(folder, f"is not a trained nnU-Net model folder (no {name})")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise InputError(folder, f"{name} is not valid JSON ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(data, dict):
        raise InputError(folder, f"{name} must hold a JSON object")
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(folder, f"{name} has no '{missing[0]}' entry (not written by nnU-Net v2)")
    return data


def _label_values(dataset: dict, folder: Path) -> dict:
    """dataset.json's ``labels`` as name -> int. A one-value list counts as that value; regions (several values per
    label, nnU-Net's region-based training) have no single value per voxel, and are refused."""
    raw = dataset["labels"]
    if not isinstance(raw, dict) or not raw:
        raise InputError(folder, "dataset.json: 'labels' must map label names to values")
    out = {}
    for name, value in raw.items():
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise InputError(folder, f"dataset.json: label '{name}' is a region ({list(value)}); region-based "
                                         f"nnU-Net models are not supported")
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(folder, f"dataset.json: label '{name}' has the value {value!r} (label values are "
                                     f"whole numbers >= 0)")
        out[str(name)] = int(value)
    if 0 not in out.values():
        raise InputError(folder, "dataset.json has no background label (value 0)")
    if len(set(out.values())) != len(out):
        raise InputError(folder, "dataset.json: two labels share one value")
    return out


class ModelFolder:
    """A validated trained nnU-Net model folder; InputError(path, one-line reason) when it is not one."""

    def __init__(self, path, checkpoint: str = CHECKPOINT):
        from ..model_home import resolve

        self.path = resolve(path, "segmenter")  # a folder, or the name of an installed segmenter
        self.checkpoint = str(checkpoint)
        if not self.path.is_dir():
            raise InputError(self.path, "is a file, not an nnU-Net model folder" if self.path.exists()
                             else "no such nnU-Net model folder or installed model (claim models list)")
        self.plans_json = _read_json(self.path, "plans.json", ("configurations",))
        self.dataset_json = _read_json(self.path, "dataset.json", ("labels",))
        if not isinstance(self.plans_json["configurations"], dict) or not self.plans_json["configurations"]:
            raise InputError(self.path, "plans.json: 'configurations' must name at least one configuration")
        self.labels = _label_values(self.dataset_json, self.path)
        self.folds = self._trained_folds()
        if not self.folds:
            raise InputError(self.path, f"holds no fold_*/{self.checkpoint}: not a trained nnU-Net model folder")
        parts = self.path.name.split("__")
        self._named = dict(zip(("trainer", "plans", "configuration"), parts)) if len(parts) == 3 and all(parts) \
            else None
        self._header = None
        if self._named and self.configuration not in self.plans_json["configurations"]:
            raise InputError(self.path, f"its name asks for configuration '{self.configuration}', which plans.json "
                                        f"does not define ({', '.join(self.plans_json['configurations'])})")

    @classmethod
    def problem(cls, path, checkpoint: str = CHECKPOINT) -> str | None:
        """Why ``path`` is not a trained nnU-Net model folder (the one-line reason), or None when it is one."""
        try:
            cls(path, checkpoint)
        except InputError as e:
            return e.problem
        return None

    def __repr__(self) -> str:
        return f"ModelFolder({str(self.path)!r}, folds={self.folds})"

    # ------------------------------------------------------------------------------------------------ folds
    def _trained_folds(self) -> list:
        folds = []
        for d in self.path.glob("fold_*"):
            name = d.name[5:]
            if (name == "all" or (name.isdigit() and str(int(name)) == name)) and (d / self.checkpoint).is_file():
                folds.append(name if name == "all" else int(name))
        return sorted(folds, key=_fold_key)

    @staticmethod
    def parse_fold(fold):
        """0-4 (int or text) or "all" -> the fold as nnU-Net names it (int or "all")."""
        text = str(fold).strip()
        if text == "all":
            return "all"
        if text.isdigit():
            return int(text)
        raise InputError("--fold", f"'{fold}' is not a fold (0, 1, ... or all)")

    def checkpoint_path(self, fold) -> Path:
        """``fold_F/<checkpoint>`` of a trained fold; InputError when the fold was not trained."""
        fold = self.parse_fold(fold)
        if fold not in self.folds:
            raise InputError(self.path, f"has no trained fold {fold} with {self.checkpoint} "
                                        f"(trained: {', '.join(str(f) for f in self.folds)})")
        return self.path / f"fold_{fold}" / self.checkpoint

    # ------------------------------------------------------------------------------------------------ names
    def _checkpoint_header(self) -> dict:
        """trainer_name and init_args of the first fold's checkpoint (for a folder not named TRAINER__PLANS__CONFIG)."""
        if self._header is None:
            import torch

            file = self.checkpoint_path(self.folds[0])
            try:
                try:
                    ckpt = torch.load(file, map_location="cpu", weights_only=False, mmap=True)
                except RuntimeError:  # not in the zip format, which mmap needs
                    ckpt = torch.load(file, map_location="cpu", weights_only=False)
            except Exception as e:  # a file torch cannot read
                raise InputError(self.path, f"{file.parent.name}/{file.name} cannot be read as an nnU-Net "
                                            f"checkpoint ({type(e).__name__})") from None
            if not isinstance(ckpt, dict):
                raise InputError(self.path, f"{file.parent.name}/{file.name} is not an nnU-Net checkpoint")
            self._header = {"trainer": ckpt.get("trainer_name"),
                            "configuration": (ckpt.get("init_args") or {}).get("configuration")}
        return self._header

    @property
    def trainer(self) -> str:
        """The trainer class name nnU-Net trained this model with."""
        if self._named:
            return self._named["trainer"]
        return self._checkpoint_header()["trainer"] or "nnUNetTrainer"

    @property
    def plans(self) -> str:
        """The plans identifier (``nnUNetPlans`` ...)."""
        if self._named:
            return self._named["plans"]
        return str(self.plans_json.get("plans_name", "nnUNetPlans"))

    @property
    def configuration(self) -> str:
        """The nnU-Net configuration (``2d``, ``3d_fullres`` ...)."""
        if self._named:
            return self._named["configuration"]
        found = self._checkpoint_header()["configuration"]
        if found:
            return found
        configurations = list(self.plans_json["configurations"])
        if len(configurations) == 1:
            return configurations[0]
        raise InputError(self.path, "its name (TRAINER__PLANS__CONFIG) and its checkpoint do not say which "
                                    "configuration it was trained with")

    # ------------------------------------------------------------------------------------------------ labels
    def segments(self) -> list:
        """(name, value, structure) of each non-background label, by value; ``structure`` as
        ``labels.structure_for_segment_name`` reads the name ("normal" for myocardium without scar) or None."""
        return [(name, value, structure_for_segment_name(name))
                for name, value in sorted(self.labels.items(), key=lambda kv: kv[1]) if value != 0]

    def segment_styles(self) -> list:
        """(value, (segment name, colour, terminology)) of each non-background label: the name as dataset.json
        gives it, its colour from dataset.json's optional ``colors`` (label name -> [r, g, b] or '#rrggbb') or else
        the structure's, and the structure's standard terminology (``terminology``: SNOMED CT)."""
        from ..terminology import colour_of, segment_style

        colours = self.dataset_json.get("colors") if isinstance(self.dataset_json.get("colors"), dict) else {}
        return [(value, segment_style(structure, name, i, colour_of(colours.get(name))))
                for i, (name, value, structure) in enumerate(self.segments())]

    @property
    def has_mvo(self) -> bool:
        return any(structure == "mvo" for _, _, structure in self.segments())

    @property
    def claim_values(self) -> bool:
        """Whether the labels are CLAIM's export values: cavity 1, myocardium 2, scar 3 (and MVO 4), nothing else."""
        segments = self.segments()
        found = {structure: value for _, value, structure in segments}
        return (len(found) == len(segments) and {"cavity", "normal", "scar"} <= set(found)
                and all(CLAIM_VALUES.get(s) == v for s, v in found.items()))

    def label_scheme(self) -> LabelScheme:
        """The canonical structures of the model's label map: ``myocardium`` = normal + scar + MVO values, ``scar`` =
        scar + MVO, ``cavity``, ``mvo``, ``rv`` as named. InputError when no label is recognised as myocardium."""
        by = {}
        for _, value, structure in self.segments():
            if structure is not None:
                by.setdefault(structure, []).append(value)
        if not by.get("normal") and not by.get("scar"):
            raise InputError(self.path, f"dataset.json: no label is recognised as myocardium or scar (labels: "
                                        f"{', '.join(self.labels)})")
        values = {}
        if by.get("cavity"):
            values["cavity"] = tuple(by["cavity"])
        values["myocardium"] = tuple(sorted(by.get("normal", []) + by.get("scar", []) + by.get("mvo", [])))
        scar = tuple(sorted(by.get("scar", []) + by.get("mvo", [])))
        if scar:
            values["scar"] = scar
        for structure in ("mvo", "rv"):
            if by.get(structure):
                values[structure] = tuple(by[structure])
        return LabelScheme(f"nnU-Net model {self.path.name}", values)
