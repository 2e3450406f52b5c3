"""nnU-Net v2 datasets: any set of cases (real, synthetic or mixed) as a raw dataset stock nnU-Net accepts.

Labels (consecutive, as nnU-Net requires): 0 background, 1 LV cavity, 2 myocardium (without scar), 3 scar, and
4 MVO when any case has one. Images are ``imagesTr/<id>_0000.nii.gz`` (one LGE channel), labels
``labelsTr/<id>.nii.gz``, on each case's own grid.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..devices import resolve_device
from ..errors import InputError
from ..io import atomic_dir, write_json, write_volume
from ..labels import LabelScheme
from .model_folder import ModelFolder

NNUNET_LABELS = ("background", "cavity", "myocardium", "scar", "mvo")


def dataset_name(dataset_id: int, name: str) -> str:
    if not 1 <= int(dataset_id) <= 999:
        raise InputError("--id", f"nnU-Net dataset ids are 1-999 (got {dataset_id})")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise InputError("--name", f"'{name}': use letters, digits, '_' and '-' only")
    return f"Dataset{int(dataset_id):03d}_{name}"


def labels_scheme(with_mvo: bool) -> LabelScheme:
    values = {"cavity": (1,), "myocardium": (2, 3, 4) if with_mvo else (2, 3), "scar": (3, 4) if with_mvo else (3,)}
    if with_mvo:
        values["mvo"] = (4,)
    return LabelScheme("nnU-Net", values)


def export_dataset(cases: list, raw_root, dataset_id: int, name: str) -> Path:
    """Write cases (with images) as ``raw_root/DatasetNNN_Name``; returns its folder. Written as one atomic folder."""
    folder = Path(raw_root) / dataset_name(dataset_id, name)
    cases = [c for c in cases if c.image is not None]
    if not cases:
        raise InputError(raw_root, "no case with an image to export")
    with_mvo = any(c.mask("mvo").any() for c in cases)
    scheme = labels_scheme(with_mvo)
    ids, seen = [], {}
    for c in cases:  # identifiers unique across the sources
        base = re.sub(r"[^A-Za-z0-9_\-]", "_", c.case_id)
        seen[base] = seen.get(base, 0) + 1
        ids.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    from ..progress import track

    with atomic_dir(folder) as tmp:
        for cid, c in track(list(zip(ids, cases)), stage="exporting the dataset"):
            write_volume(tmp / "imagesTr" / f"{cid}_0000.nii.gz", c.image.astype(np.float32), c.geometry)
            write_volume(tmp / "labelsTr" / f"{cid}.nii.gz", scheme.encode(c.masks, c.geometry.shape), c.geometry,
                         np.uint8)
        labels = {n: i for i, n in enumerate(NNUNET_LABELS[:5 if with_mvo else 4])}
        write_json(tmp / "dataset.json", {
            "channel_names": {"0": "LGE"}, "labels": labels, "numTraining": len(cases), "file_ending": ".nii.gz",
            "name": name, "description": "exported by CLAIM (claim export-nnunet)",
            "cases": {cid: c.case_id for cid, c in zip(ids, cases)}})
    return folder


def ensure_torchvision() -> None:
    """Make ``import torchvision`` work beside a CPU torch build that lacks its operators.

    nnU-Net's trainer lookup imports every trainer variant, some of which import timm and so torchvision. With the
    CPU build of torch 2.13.0, torchvision 0.28.0 fails on import ("operator torchvision::nms does not exist"); the
    two operator schemas it looks up are registered first, which is all its import needs (CLAIM never calls them).
    """
    import sys

    import torch

    try:
        import torchvision  # noqa: F401
        return
    except RuntimeError as e:
        if "torchvision::" not in str(e):
            raise
    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[mod]
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for op in ("nms", "qnms"):
        try:
            lib.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except RuntimeError:
            pass
    ensure_torchvision._lib = lib  # keep the registration alive
    import torchvision  # noqa: F401,F811


TRAINERS = Path(__file__).with_name("trainers")


def with_claim_trainers(value: str | None) -> str:
    """An ``nnUNet_extTrainer`` value (nnU-Net reads it as folders joined by ``os.pathsep``) with CLAIM's trainers
    folder first and the user's folders after it, in their order."""
    paths = [p for p in (value or "").split(os.pathsep) if p.strip() and Path(p) != TRAINERS]
    return os.pathsep.join([str(TRAINERS)] + paths)


@contextmanager
def claim_trainers():
    """``nnUNet_extTrainer`` with CLAIM's trainers prepended, for the duration of a trainer lookup."""
    old = os.environ.get("nnUNet_extTrainer")
    os.environ["nnUNet_extTrainer"] = with_claim_trainers(old)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("nnUNet_extTrainer", None)
        else:
            os.environ["nnUNet_extTrainer"] = old


def trainer_class(name: str, source="--trainer"):
    """nnU-Net's trainer class ``name``, looked up as nnU-Net does: in ``nnunetv2.training.nnUNetTrainer``, then in
    the folders of ``nnUNet_extTrainer`` (CLAIM's trainers first). InputError(source, ...) when there is none."""
    import io
    from contextlib import redirect_stdout

    ensure_torchvision()
    from nnunetv2.utilities.find_objects import recursive_find_trainer_class_by_name

    try:
        with claim_trainers(), redirect_stdout(io.StringIO()):  # nnU-Net narrates its search on stdout
            return recursive_find_trainer_class_by_name(name)
    except RuntimeError:
        raise InputError(source, f"no nnU-Net trainer class '{name}' in nnU-Net, CLAIM's trainers or the folders "
                                 f"of nnUNet_extTrainer") from None
    except AssertionError:
        raise InputError(source, f"'{name}' is not an nnU-Net trainer (it must derive from nnUNetTrainer)") from None


@contextmanager
def nnunet_environment(root=None, raw=None, preprocessed=None, results=None):
    """nnU-Net's folders (``root/nnUNet_raw`` ... unless given), its process count (the user's
    ``nnUNet_def_n_proc``, else the CPU count), and CLAIM's trainers before the user's ``nnUNet_extTrainer``."""
    root = Path(root) if root else None
    env = {
        "nnUNet_raw": str(raw or (root / "nnUNet_raw" if root else os.environ.get("nnUNet_raw", ""))),
        "nnUNet_preprocessed": str(preprocessed or (root / "nnUNet_preprocessed" if root
                                                    else os.environ.get("nnUNet_preprocessed", ""))),
        "nnUNet_results": str(results or (root / "nnUNet_results" if root else os.environ.get("nnUNet_results", ""))),
        "nnUNet_def_n_proc": os.environ.get("nnUNet_def_n_proc") or str(os.cpu_count() or 1),
        "nnUNet_extTrainer": with_claim_trainers(os.environ.get("nnUNet_extTrainer")),
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v})
    try:
        yield env
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------------------ training
def preprocessed(dataset_id: int, configuration: str = "2d") -> bool:
    root = os.environ.get("nnUNet_preprocessed")
    if not root:
        return False
    found = list(Path(root).glob(f"Dataset{int(dataset_id):03d}_*/nnUNetPlans_{configuration}"))
    return bool(found) and not any((f.parent / _PREPROCESSING.format(configuration)).exists() for f in found)


_PREPROCESSING = ".claim-preprocessing-{}"  # present while (or when a killed run stopped) preprocessing


def plan_and_preprocess(dataset_id: int, configuration: str = "2d", processes: int | None = None, log=None) -> None:
    """nnU-Net's fingerprint, plans and preprocessing (with its dataset integrity check), through its API; nnU-Net's
    own output goes to ``log`` (``progress.quiet``), the terminal shows one bar for the three steps."""
    from ..progress import Stage, quiet

    n = processes or int(os.environ.get("nnUNet_def_n_proc", os.cpu_count() or 1))
    with quiet(log), Stage("planning and preprocessing", 3) as stage:
        from nnunetv2.experiment_planning.plan_and_preprocess_api import (extract_fingerprints, plan_experiments,
                                                                          preprocess)

        raw = list(Path(os.environ["nnUNet_raw"]).glob(f"Dataset{int(dataset_id):03d}_*"))
        marker = Path(os.environ["nnUNet_preprocessed"]) / (raw[0].name if raw else f"Dataset{int(dataset_id):03d}") \
            / _PREPROCESSING.format(configuration)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()  # a run killed before the end is preprocessed again
        extract_fingerprints([int(dataset_id)], num_processes=n, check_dataset_integrity=True)
        stage.advance(step="fingerprint")
        plan_experiments([int(dataset_id)])
        stage.advance(step="plans")
        preprocess([int(dataset_id)], configurations=(configuration,), num_processes=(n,))
        marker.unlink()
        stage.advance(step="preprocessed")


def train(dataset_id: int, configuration: str = "2d", fold="0", trainer: str = "nnUNetTrainer",
          device: str | None = None, resume: bool = False, log=None) -> Path:
    """Train one fold (or ``all``) with nnU-Net; returns the trained model folder. nnU-Net's own output goes to
    ``log``; the terminal shows one bar: epoch, loss, pseudo-Dice and ETA (``progress.Stage``).

    ``resume``: continue from the fold's latest checkpoint when there is one (nnU-Net's ``--c``). Runs nnU-Net's
    own single-process path (``get_trainer_from_args``, ``maybe_load_checkpoint``, ``run_training``, final
    validation), with a hook on the trainer's ``on_epoch_end`` for the bar.
    """
    from ..progress import quiet

    dev = resolve_device(device)
    trainer_class(trainer)  # a one-line error for a trainer nnU-Net cannot find
    fold = fold if fold == "all" else int(fold)
    cont = False
    if resume:
        try:
            done = model_folder(dataset_id, configuration, trainer) / f"fold_{fold}"
            cont = any((done / f).is_file() for f in ("checkpoint_latest.pth", "checkpoint_final.pth"))
        except InputError:
            cont = False
    with quiet(log), claim_trainers():
        from nnunetv2.run.run_training import get_trainer_from_args, maybe_load_checkpoint

        nn_trainer = get_trainer_from_args(str(int(dataset_id)), configuration, fold, trainer, "nnUNetPlans", cont,
                                           device=dev)
        maybe_load_checkpoint(nn_trainer, cont, False)
        atomic_checkpoints(nn_trainer)
        with epoch_progress(nn_trainer):
            nn_trainer.run_training()
        nn_trainer.perform_actual_validation(False)
    return model_folder(dataset_id, configuration, trainer)


def atomic_checkpoints(nn_trainer) -> None:
    """nnU-Net writes its checkpoints in place; a run killed while writing one would leave it truncated for
    ``--resume``. Each is written to a temporary name beside it and renamed."""
    save = nn_trainer.save_checkpoint

    def save_atomically(filename: str) -> None:
        tmp = os.path.join(os.path.dirname(filename), f".tmp-{os.path.basename(filename)}")
        save(tmp)
        if os.path.isfile(tmp):  # rank 0 writes; checkpointing may be off
            os.replace(tmp, filename)

    nn_trainer.save_checkpoint = save_atomically


@contextmanager
def epoch_progress(nn_trainer):
    """A ``progress.Stage`` over the trainer's epochs, advanced after each with its train loss and mean pseudo-Dice
    (read from the trainer's own logger)."""
    from ..progress import Stage

    original = nn_trainer.on_epoch_end
    stage = Stage("training nnU-Net", nn_trainer.num_epochs, nn_trainer.current_epoch)

    def on_epoch_end():
        original()
        value = nn_trainer.logger.get_value
        dice = value("dice_per_class_or_region", step=-1)
        stage.advance(epoch=nn_trainer.current_epoch, loss=round(float(value("train_losses", step=-1)), 4),
                      pseudo_dice=round(float(np.mean(dice)), 4) if len(dice) else None)

    nn_trainer.on_epoch_end = on_epoch_end
    try:
        yield stage
    finally:
        nn_trainer.on_epoch_end = original
        stage.close()


def model_folder(dataset_id: int, configuration: str = "2d", trainer: str = "nnUNetTrainer",
                 plans: str = "nnUNetPlans") -> Path:
    root = os.environ.get("nnUNet_results")
    if not root:
        raise InputError("nnUNet_results", "is not set")
    found = sorted(Path(root).glob(f"Dataset{int(dataset_id):03d}_*/{trainer}__{plans}__{configuration}"))
    if not found:
        raise InputError(root, f"no trained model for dataset {dataset_id}, {trainer}, {configuration}")
    return found[0]


# ------------------------------------------------------------------------------------------------ prediction
def _readable_checkpoint(path: Path) -> bool:
    import torch

    try:
        return isinstance(torch.load(path, map_location="cpu", weights_only=False), dict)
    except Exception:
        return False


class Predictor:
    """An nnU-Net model loaded once, segmenting many volumes in this process, on each input's exact grid.

    Labels out: the model's values (``self.model``, its ``ModelFolder``, names them); for CLAIM's exports 0
    background, 1 cavity, 2 myocardium, 3 scar, 4 MVO. Post-processing (on by default, for models with CLAIM's label
    values): scar not touching the myocardium, and scar components under ``min_scar_voxels``, become myocardium or
    background.

    Many volumes (``predict_many``) go through nnU-Net's batched API (``predict_batch``: preprocessing and export in
    worker processes beside the network) when ``batch`` is on, by default on CUDA: on a CPU the network takes
    about 95% of a case's time and the workers compete with it for the cores (measured in bench_segment.py), so
    there the cases go one by one through the loaded model.
    """

    def __init__(self, model_dir, folds=None, device: str | None = None, checkpoint: str = "checkpoint_final.pth",
                 postprocess: bool = True, min_scar_voxels: int = 10, batch: bool | None = None):
        self.model = ModelFolder(model_dir, checkpoint)
        folds = [ModelFolder.parse_fold(f) for f in folds] if folds else list(self.model.folds)  # default: all trained
        for f in folds:
            self.model.checkpoint_path(f)  # InputError for a fold that was not trained
        dev = resolve_device(device)
        from ..progress import quiet

        with quiet():
            self._load(folds, dev, checkpoint)
        self.has_mvo = self.model.has_mvo
        self.postprocess = bool(postprocess) and self.model.claim_values  # clean_scar knows CLAIM's values only
        self.min_scar_voxels = int(min_scar_voxels)
        self.batched = dev.type == "cuda" if batch is None else bool(batch)

    def predict_many(self, volumes, on_case=None) -> list:
        """Label maps of (image, geometry) pairs: ``predict_batch`` when ``self.batched``, else one by one."""
        volumes = list(volumes)
        if self.batched and len(volumes) > 1:
            return self.predict_batch(volumes, on_case=on_case)
        out = []
        for i, (image, geometry) in enumerate(volumes):
            if on_case is not None:
                on_case(i)
            out.append(self.predict(image, geometry))
        return out

    def _load(self, folds, dev, checkpoint) -> None:
        ensure_torchvision()
        from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor

        self.predictor = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=dev.type == "cuda",
                                         perform_everything_on_device=dev.type == "cuda", device=dev,
                                         verbose=False, verbose_preprocessing=False, allow_tqdm=False)
        try:
            with claim_trainers():
                self.predictor.initialize_from_trained_model_folder(str(self.model.path), use_folds=tuple(folds),
                                                                    checkpoint_name=checkpoint)
        except InputError:
            raise
        except Exception as e:  # a missing, truncated or foreign file in the model folder
            bad = next((f"fold_{f}/{checkpoint}" for f in folds if not _readable_checkpoint(
                self.model.path / f"fold_{f}" / checkpoint)), None)
            raise InputError(self.model.path, f"{bad} cannot be read as an nnU-Net checkpoint" if bad else
                             f"cannot load the model ({type(e).__name__}: {' '.join(str(e).split())[:160]})") \
                from None

    def predict_batch(self, volumes, workers: int | None = None, on_case=None) -> list:
        """Label maps (uint8) of many volumes, (image [k, j, i], geometry) pairs, through nnU-Net's batched API:
        preprocessing in ``workers`` background processes (default ``nnUNet_def_n_proc``) while the network runs,
        resampling back to each grid in a pool of as many. The same labels as ``predict`` case by case.
        ``on_case(i)`` hears each case as the network takes it."""
        from ..progress import quiet

        volumes = list(volumes)
        if not volumes:
            return []
        n = workers or int(os.environ.get("nnUNet_def_n_proc", os.cpu_count() or 1))
        images = [np.asarray(image, np.float32)[None] for image, _ in volumes]
        props = [{"spacing": [float(s) for s in g.spacing[::-1]]} for _, g in volumes]

        def counted(items):
            for i, item in enumerate(items):
                if on_case is not None:
                    on_case(i)
                yield item

        with quiet():
            items = self.predictor.get_data_iterator_from_raw_npy_data(images, None, props, None, max(1, n))
            segs = self.predictor.predict_from_data_iterator(counted(items), False, max(1, n))
        return [self._finish(seg) for seg in segs]

    def _finish(self, seg) -> np.ndarray:
        seg = np.asarray(seg, np.uint8)
        return clean_scar(seg, self.min_scar_voxels) if self.postprocess else seg

    def predict(self, image: np.ndarray, geometry) -> np.ndarray:
        """Label map (uint8) of one volume [k, j, i] on its own grid."""
        from ..progress import quiet

        props = {"spacing": [float(s) for s in geometry.spacing[::-1]]}
        with quiet():
            seg = self.predictor.predict_single_npy_array(np.asarray(image, np.float32)[None], props)
        return self._finish(seg)


def clean_scar(labels: np.ndarray, min_voxels: int = 10) -> np.ndarray:
    """Scar (3, 4) components that do not touch the myocardium go to background; tiny ones to myocardium."""
    from scipy import ndimage

    out = labels.copy()
    scar = (out == 3) | (out == 4)
    if not scar.any():
        return out
    lab, n = ndimage.label(scar, np.ones((3, 3, 3), bool))
    near_myo = ndimage.binary_dilation(out == 2, np.ones((3, 3, 3), bool))
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    touching = np.zeros(n + 1, bool)
    touching[np.unique(lab[near_myo & scar])] = True
    for comp in range(1, n + 1):
        if not touching[comp]:
            out[lab == comp] = 0
        elif sizes[comp] < min_voxels:
            out[lab == comp] = 2
    return out
