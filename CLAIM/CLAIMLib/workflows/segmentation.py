"""nnU-Net for scar: train a segmenter on cases (export, plan and preprocess, train: each step skipped when done),
segment images with a loaded model (evaluation: ``workflows.evaluation``)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError


def nnunet_log(log=None) -> Path:
    """Where nnU-Net's own output goes: ``log``, else ``nnunet.log`` beside ``nnUNet_results`` (in the run folder
    that holds nnU-Net's three folders)."""
    import os

    if log:
        return Path(log)
    return Path(os.environ.get("nnUNet_results") or os.environ.get("nnUNet_raw", ".")).parent / "nnunet.log"


def train_segmenter(dataset_id: int, configuration: str = "2d", fold="all", trainer: str = "nnUNetTrainer",
                    device: str | None = None, cases=None, name: str | None = None, resume: bool = False,
                    on_stage=None, log=None) -> Path:
    """Train nnU-Net on dataset ``dataset_id`` inside ``segmentation.nnunet.nnunet_environment``; returns the
    trained model folder. With ``cases`` (and ``name``) the raw dataset is exported first when it is not there
    yet; planning and preprocessing run when not done yet. ``resume`` continues a fold's latest checkpoint.
    ``on_stage(text)`` hears each stage as it starts. nnU-Net's own output is appended to ``log`` (default:
    ``nnunet.log`` beside ``nnUNet_results``); the terminal shows one progress bar per stage."""
    import os

    from ..segmentation import nnunet

    say = on_stage or (lambda text: None)
    raw_root = os.environ.get("nnUNet_raw", "")
    if not raw_root:
        raise InputError("nnUNet_raw", "is not set; pass --root DIR or set nnU-Net's variables")
    log = nnunet_log(log)
    if not list(Path(raw_root).glob(f"Dataset{int(dataset_id):03d}_*")):
        if cases is None:
            raise InputError(raw_root, f"holds no dataset {int(dataset_id):03d} (claim export-nnunet first)")
        say("exporting the dataset")
        nnunet.export_dataset(list(cases), raw_root, dataset_id, name or f"CLAIM{int(dataset_id)}")
    if not nnunet.preprocessed(dataset_id, configuration):
        say("planning and preprocessing")
        nnunet.plan_and_preprocess(dataset_id, configuration, log=log)
    say("training nnU-Net")
    return nnunet.train(dataset_id, configuration, fold, trainer, device, resume=resume, log=log)


def is_trained(dataset_id: int, configuration: str, trainer: str, fold) -> bool:
    """Has fold ``fold`` of this dataset, configuration and trainer finished training?"""
    from ..segmentation import ModelFolder, nnunet

    try:
        model = ModelFolder(nnunet.model_folder(dataset_id, configuration, trainer))
    except InputError:
        return False
    return ModelFolder.parse_fold(fold) in model.folds


def prediction_case(case_id: str, labels: np.ndarray, geometry, predictor):
    """A predicted label map as a Case, its values read with the model's own label names (``ModelFolder``); a
    prediction without myocardium is a (bad) answer, not an error."""
    from ..labels import case_from_arrays

    return case_from_arrays(case_id, None, labels, geometry, predictor.model.label_scheme(), allow_empty=True)


@dataclass
class Segmented:
    """One image segmented: its labels (the model's values), its grid, the predicted Case and the seconds taken."""

    labels: np.ndarray
    geometry: object
    case: object
    seconds: float
    warning: str | None = None  # the hybrid's threshold could not run (the model's scar is kept)


def segment_image(predictor, image, geometry, case_id: str = "prediction", scar: dict | None = None,
                  labels=None) -> Segmented:
    """One image segmented by the model (``labels``: its prediction, when already made). ``scar``:
    ``workflows.scar.quantify_scar`` options for the hybrid: the model's cavity and myocardium, scar and MVO from
    the threshold (labels then in EMIDEC's values). A prediction without myocardium, or one too small to threshold,
    keeps the model's scar (with a ``warning``)."""
    t = time.perf_counter()
    labels = predictor.predict(image, geometry) if labels is None else labels
    case = prediction_case(case_id, labels, geometry, predictor)
    warning = None
    if scar is not None and case.myocardium.any():
        from .scar import quantify_scar

        try:
            hybrid = quantify_scar(case.with_image(image), sensitivity=False, source=case_id, **scar)
            labels, case = hybrid.labels, hybrid.case()
        except InputError as e:  # e.g. too little predicted myocardium for a remote region
            warning = f"{e.source}: {e.problem}; the model's own scar is kept"
    return Segmented(labels, geometry, case, time.perf_counter() - t, warning)


def segment_files(predictor, targets, first=None, on_result=None, scar: dict | None = None) -> list:
    """Segment image files with one loaded model: ``targets`` are (image path, output path) pairs, each result
    written on its input's exact grid. ``first``: the first image already read (array, geometry). On a batched
    predictor (``Predictor.batched``: CUDA by default) all images go through nnU-Net's batched API together;
    otherwise each is written as soon as it is done. ``on_result(path, out, Segmented)`` hears each one; ``scar``:
    the hybrid's threshold options (``segment_image``). Returns the output paths."""
    from ..io import read_volume, write_volume
    from ..progress import emit

    def read(i, path):
        return first if (i == 0 and first is not None) else read_volume(path)

    def finish(i, path, out, image, geometry, labels=None, seconds=None):
        result = segment_image(predictor, image, geometry, Path(path).name, scar, labels)
        if seconds is not None:
            result.seconds += seconds
        write_volume(out, result.labels, geometry, np.uint8)
        if on_result is not None:
            on_result(path, out, result)
        return out

    done = []
    if predictor.batched and len(targets) > 1:
        volumes = [read(i, path) for i, (path, _) in enumerate(targets)]
        t = time.perf_counter()
        labels = predictor.predict_batch(volumes, on_case=lambda i: emit(i / len(targets),
                                                                          f"segmenting {Path(targets[i][0]).name}"))
        share = (time.perf_counter() - t) / len(targets)
        for i, ((path, out), (image, geometry)) in enumerate(zip(targets, volumes)):
            done.append(finish(i, path, out, image, geometry, labels[i], share))
    else:
        for i, (path, out) in enumerate(targets):
            emit(i / len(targets), f"segmenting {Path(path).name}")
            done.append(finish(i, path, out, *read(i, path)))
    emit(1.0, "done")
    return done
