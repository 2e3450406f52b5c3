"""The models home: where installed models live, and how a model NAME becomes a path.

``$CLAIM_HOME`` (default: the user's data folder, e.g. ``~/.local/share/claim``) holds ``models/<name>/``, each with
``claim-model.json``: its name, kind (``segmenter``: nnU-Net model folders, kept as nnU-Net lays them out under
``nnUNet_results/``; ``generator``: a CLAIM diffusion ``checkpoint.pt``), source, SHA256 and what it holds.
``claim models install|list|export`` (``workflows.models``) fill and read it; ``resolve`` lets every option that
takes a model path take an installed name instead (``NAME``, or ``NAME:CONFIG`` for a segmenter that holds
several nnU-Net configurations). Cheap: no torch, no nnU-Net.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from .errors import InputError

RECORD = "claim-model.json"
KINDS = ("segmenter", "generator")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def home() -> Path:
    """``$CLAIM_HOME``, else the platform's per-user data folder."""
    if os.environ.get("CLAIM_HOME"):
        return Path(os.environ["CLAIM_HOME"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local")) / "CLAIM"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "CLAIM"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "claim"


def models_dir() -> Path:
    return home() / "models"


def check_name(name: str, option: str = "--name") -> str:
    if not NAME.fullmatch(name or ""):
        raise InputError(option, f"'{name}': a model name uses letters, digits, '.', '_' and '-' and starts with a "
                                 "letter or digit")
    return name


def installed() -> list[dict]:
    """The records of the installed models, by name (unreadable folders are skipped)."""
    folder = models_dir()
    out = []
    if folder.is_dir():
        for d in sorted(folder.iterdir()):
            if d.is_dir() and not d.name.startswith(".") and (d / RECORD).is_file():
                try:
                    record = json.loads((d / RECORD).read_text())
                except (OSError, ValueError):
                    continue
                if isinstance(record, dict) and record.get("kind") in KINDS:
                    out.append({**record, "name": d.name, "path": str(d)})
    return out


def lookup(name: str) -> dict | None:
    return next((r for r in installed() if r["name"] == name), None)


def model_path(record: dict, configuration: str | None = None) -> Path:
    """The path an installed model stands for: its generator checkpoint, or its nnU-Net model folder (the one of
    ``configuration`` when it holds several)."""
    root = Path(record["path"])
    if record["kind"] == "generator":
        return root / record.get("checkpoint", "checkpoint.pt")
    folders = [root / f for f in record.get("folders", [])]
    if configuration is not None:
        match = [f for f in folders if f.name.split("__")[-1] == configuration]
        if not match:
            raise InputError(record["name"], f"holds no configuration '{configuration}' (it holds "
                                             f"{', '.join(f.name.split('__')[-1] for f in folders)})")
        return match[0]
    if len(folders) != 1:
        raise InputError(record["name"], f"holds {len(folders)} nnU-Net configurations; name one as "
                                         f"{record['name']}:CONFIG ({', '.join(f.name.split('__')[-1] for f in folders)})")
    return folders[0]


def resolve(value, kind: str, base=None) -> Path:
    """A model path, or the path of the installed model named ``value`` (``NAME`` or ``NAME:CONFIG``) when no
    such path exists. ``base``: the folder a relative path is read from (a config file's). Unknown names come back
    as paths, for the caller's own "no such ..." error."""
    path = Path(value)
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    if path.exists():
        return path
    name, _, configuration = str(value).partition(":")
    if not NAME.fullmatch(name):
        return path
    record = lookup(name)
    if record is None:
        return path
    if record["kind"] != kind:
        raise InputError(value, f"is an installed {record['kind']}, not a {kind}")
    return model_path(record, configuration or None)
