"""Installed models: install a model someone shared (an nnU-Net export zip, a CLAIM generator checkpoint, a folder,
a URL or a registry entry), list what is installed, and export a segmenter in nnU-Net's own zip format.

nnU-Net's format is what ``nnUNetv2_export_model_to_zip`` writes and ``nnUNetv2_install_pretrained_model_from_zip``
extracts into ``nnUNet_results``: paths ``DatasetNNN_Name/TRAINER__PLANS__CONFIG/{plans.json, dataset.json,
dataset_fingerprint.json, fold_F/checkpoint_final.pth, ...}``. A registry is a JSON list (or ``{"models": [...]}``)
of entries ``{name, url, sha256, kind, description}``, in the spirit of MONAIAuto3DSeg's model list; ``$CLAIM_REGISTRY``
names a default one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
import zipfile
from pathlib import Path

from ..errors import InputError
from ..model_home import KINDS, RECORD, check_name, installed, lookup, models_dir

CHECKPOINT_FILES = ("checkpoint_final.pth", "debug.json", "progress.png", "validation/summary.json")
DATASET_FILES = ("plans.json", "dataset.json", "dataset_fingerprint.json")


# ------------------------------------------------------------------------------------------------ registry
def read_registry(path) -> dict:
    """{name: entry} of a registry file; InputError naming it when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "no such registry file") from None
    except (OSError, ValueError) as e:
        raise InputError(path, f"is not a JSON registry ({' '.join(str(e).split())[:100]})") from None
    entries = data.get("models") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise InputError(path, "a registry is a JSON list of {name, url, sha256, kind, description} entries")
    out = {}
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not isinstance(e.get("url"), str):
            raise InputError(path, f"entry {i + 1} needs a name and a url")
        if e.get("kind", "segmenter") not in KINDS:
            raise InputError(path, f"entry '{e['name']}': kind must be {' or '.join(KINDS)}")
        out[e["name"]] = {"kind": "segmenter", "sha256": None, "description": "", **e}
    return out


def default_registry():
    return os.environ.get("CLAIM_REGISTRY") or None


# ------------------------------------------------------------------------------------------------ install
def sha256_of(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_url(text: str) -> bool:
    return bool(re.match(r"^(https?|file)://", str(text)))


def _download(url: str, target: Path) -> Path:
    """``url`` into ``target`` with progress (``file://`` works offline)."""
    import urllib.request

    from ..progress import emit

    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(target, "wb") as f:
            total, done = int(r.headers.get("Content-Length") or 0), 0
            for block in iter(lambda: r.read(1 << 20), b""):
                f.write(block)
                done += len(block)
                emit(done / total if total else 0.0, "downloading")
    except (OSError, ValueError) as e:
        raise InputError(url, f"cannot be downloaded ({' '.join(str(e).split())[:120]})") from None
    return target


def _safe_extract(zip_path: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(zip_path) as z:
            for member in z.namelist():
                target = (dest / member).resolve()
                if not str(target).startswith(str(dest.resolve())):
                    raise InputError(zip_path, f"holds a path outside its folder ({member})")
            z.extractall(dest)
    except zipfile.BadZipFile:
        raise InputError(zip_path, "is not a readable zip file") from None


def _model_folders(root: Path) -> list[Path]:
    """The trained nnU-Net model folders under ``root`` (``ModelFolder``'s rule), shallowest first."""
    from ..segmentation.model_folder import ModelFolder

    found = []
    for plans in sorted(root.rglob("plans.json")):
        folder = plans.parent
        if any(folder.glob("fold_*")) and ModelFolder.problem(folder) is None:
            found.append(folder)
    return found


def _checkpoint_summary(file: Path, label) -> dict:
    """What a CLAIM generator checkpoint holds (config, step); InputError when it is not one."""
    import torch

    try:
        ckpt = torch.load(file, map_location="cpu", weights_only=False)
        summary = {"config": ckpt["config"] if isinstance(ckpt["config"], str) else ckpt["config"].get("name"),
                   "step": int(ckpt.get("step", 0))}
        ckpt["ema"], ckpt["bank"]  # noqa: B018 - a generator checkpoint has both
    except Exception as e:  # a file that is not one of our checkpoints
        raise InputError(label, f"is neither an nnU-Net model nor a CLAIM generator checkpoint "
                               f"({type(e).__name__})") from None
    return summary


def _is_archive(file: Path) -> bool:
    """A zip archive of files (a torch checkpoint is a zip too: one holding ``data.pkl``)."""
    if not (file.is_file() and zipfile.is_zipfile(file)):
        return False
    with zipfile.ZipFile(file) as z:
        return not any(n.endswith("/data.pkl") or n == "data.pkl" for n in z.namelist())


def _place(source: Path, staging: Path, label) -> dict:
    """Put the model at ``source`` (an extracted zip, a folder or a checkpoint file) into ``staging``; returns the
    record's content part (kind and what it holds). Errors name ``label``, what the user gave."""
    folders = _model_folders(source) if source.is_dir() else []
    if folders:
        entries = []
        for folder in folders:
            rel = Path("nnUNet_results") / _nnunet_path(folder)
            shutil.copytree(folder, staging / rel)
            entries.append(rel.as_posix())
        return {"kind": "segmenter", "folders": entries}
    ckpts = [source] if source.is_file() else sorted(source.rglob("checkpoint.pt"))
    if not ckpts:
        raise InputError(label, "holds neither a trained nnU-Net model folder (plans.json, dataset.json, "
                                 "fold_*/checkpoint_final.pth) nor a CLAIM generator checkpoint.pt")
    summary = _checkpoint_summary(ckpts[0], label)
    shutil.copy2(ckpts[0], staging / "checkpoint.pt")
    return {"kind": "generator", "checkpoint": "checkpoint.pt", **summary}


def _nnunet_path(folder) -> str:
    """``DatasetNNN_Name/TRAINER__PLANS__CONFIG`` of a model folder, as nnU-Net lays it out under nnUNet_results:
    its own names, from its checkpoint where its folder does not say (as nnU-Net does), and ``Dataset999_<name in
    dataset.json>`` for a folder outside a dataset folder (e.g. joint training's ``segmenter/``)."""
    from ..segmentation.model_folder import ModelFolder

    m = folder if isinstance(folder, ModelFolder) else ModelFolder(folder)
    dataset = m.path.parent.name if re.match(r"Dataset\d{3}_", m.path.parent.name) else \
        f"Dataset999_{re.sub(r'[^A-Za-z0-9_-]', '_', str(m.dataset_json.get('name') or 'CLAIM'))}"
    return f"{dataset}/{m.trainer}__{m.plans}__{m.configuration}"


def install_model(source: str, name: str | None = None, sha256: str | None = None, registry=None,
                  overwrite: bool = False, description: str | None = None) -> dict:
    """Install ``source`` (a zip, checkpoint or folder path, a URL, or a registry entry's name) as ``name``; returns
    its record. Checked, verified and built in a temporary folder beside the home's models, renamed into place at
    the end: nothing is left behind on failure."""
    entry = None
    registry = registry or default_registry()
    if not Path(source).exists() and not _is_url(source) and registry:
        entry = read_registry(registry).get(source)
        if entry is None:
            raise InputError(source, f"is no file, folder or URL, and no entry of {registry}")
        url, sha256 = entry["url"], sha256 or entry.get("sha256")
        name, description = name or entry["name"], description or entry.get("description")
    else:
        url = source if _is_url(source) else None
        if url is None and not Path(source).exists():
            raise InputError(source, "no such file, folder or URL" + ("" if registry else
                                                                      " (no --registry to look the name up in)"))
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise InputError("--sha256", f"'{sha256}' is not a SHA256 (64 hexadecimal digits)")
    if url is None and Path(source).is_dir() and sha256:
        raise InputError("--sha256", "applies to a file or a URL, not a folder")
    base = re.sub(r"(\.zip|\.pt|\.pth)$", "", Path(url.rstrip("/") if url else Path(source).resolve()).name)
    name = check_name(name or base)
    final = models_dir() / name
    if final.exists() and not overwrite:
        raise InputError(final, "a model with this name is installed; choose another --name or pass --overwrite")
    models_dir().mkdir(parents=True, exist_ok=True)
    work = models_dir() / f".install-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        file = Path(source) if url is None else _download(url, work / (Path(url).name or "download"))
        if sha256 is not None:
            got = sha256_of(file)
            if got.lower() != sha256.lower():
                raise InputError(source, f"SHA256 mismatch: expected {sha256.lower()}, got {got}")
        unpacked = file
        if _is_archive(file):
            unpacked = work / "unpacked"
            _safe_extract(file, unpacked)
        staging = work / "model"
        staging.mkdir()
        record = {"name": name, **_place(unpacked, staging, source), "description": description or "",
                  "source": url or str(Path(source).resolve()),
                  "sha256": sha256_of(file) if file.is_file() else None,
                  "installed": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (staging / RECORD).write_text(json.dumps(record, indent=2) + "\n")
        if final.exists():
            old = work / "old"
            os.replace(final, old)
        os.replace(staging, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {**record, "path": str(final)}


# ------------------------------------------------------------------------------------------------ list
def describe(record: dict) -> dict:
    """A record with what ``claim models list`` shows: labels, configuration and folds (segmenters) or the
    generator's config and training steps."""
    from ..segmentation.model_folder import ModelFolder

    out = {"name": record["name"], "kind": record["kind"], "description": record.get("description", ""),
           "installed": True}
    if record["kind"] == "generator":
        return {**out, "labels": "scar, mvo (painted)", "configuration": record.get("config", "?"),
                "folds": f"{record.get('step', '?')} steps"}
    configs, folds, labels = [], [], ""
    for rel in record.get("folders", []):
        problem = ModelFolder.problem(Path(record["path"]) / rel)
        if problem:
            return {**out, "labels": "", "configuration": "", "folds": f"broken: {problem}"}
        m = ModelFolder(Path(record["path"]) / rel)
        configs.append(m.configuration)
        folds.append(",".join(str(f) for f in m.folds))
        labels = ", ".join(n for n, v in sorted(m.labels.items(), key=lambda kv: kv[1]) if v)
    return {**out, "labels": labels, "configuration": " / ".join(configs), "folds": " / ".join(folds)}


def list_models(registry=None) -> list[dict]:
    """Installed models (described), then the registry's entries that are not installed."""
    rows = [describe(r) for r in installed()]
    registry = registry or default_registry()
    if registry:
        names = {r["name"] for r in rows}
        rows += [{"name": n, "kind": e["kind"], "description": e.get("description", ""), "installed": False,
                  "labels": "", "configuration": "", "folds": "", "url": e["url"]}
                 for n, e in read_registry(registry).items() if n not in names]
    return rows


# ------------------------------------------------------------------------------------------------ export
def export_model(model, out) -> Path:
    """Write a segmenter (an installed name or a model folder) as nnU-Net's export zip at ``out``, atomically."""
    from ..io import atomic_path
    from ..segmentation.model_folder import ModelFolder

    if not str(out).lower().endswith(".zip"):
        raise InputError(out, "--out must end with .zip")
    record = lookup(str(model).partition(":")[0]) if not Path(model).exists() else None
    if record is not None and record["kind"] != "segmenter":
        raise InputError(model, "is a generator; nnU-Net's zip format holds segmenters (copy its checkpoint.pt)")
    folder = ModelFolder(model)  # a folder, or an installed segmenter's NAME[:CONFIG]
    prefix = _nnunet_path(folder)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for name in DATASET_FILES:
            if (folder.path / name).is_file():
                z.write(folder.path / name, f"{prefix}/{name}")
        for fold in folder.folds:
            for name in CHECKPOINT_FILES:
                f = folder.path / f"fold_{fold}" / name
                if f.is_file():
                    z.write(f, f"{prefix}/fold_{fold}/{name}")
    return Path(out)
