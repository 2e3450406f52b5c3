"""Short nnU-Net trainers for CPU tests, demos and the quick experiment, found through ``nnUNet_extTrainer``.

``claim train-seg``, ``claim segment``, ``claim train-joint`` and ``claim experiment`` put this folder first in that
variable (a list of folders, joined by ``os.pathsep``), before any of yours; with stock nnU-Net commands, add it
yourself: ``export nnUNet_extTrainer=<this folder>:$nnUNet_extTrainer``.

Each is nnU-Net's own trainer with a shorter schedule. Trained on fold ``all``, they skip nnU-Net's final
"validation", which for that fold only predicts the training cases again, and say so in ``validation/summary.json``
(which stock ``nnUNetv2_export_model_to_zip`` packs with every fold).
"""
import json
import os

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class _Scheduled(nnUNetTrainer):
    """nnU-Net's trainer with a schedule set by class attributes (epochs, iterations, foreground oversampling,
    and optionally a fixed batch size, so that settings with more cases cost the same per iteration)."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, OVERSAMPLE, BATCH = 1000, 250, 50, 0.33, None
    SEED = 0  # the network starts from the same weights every time: a short run is not at the mercy of its init

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        import random

        import numpy as np

        random.seed(self.SEED)
        np.random.seed(self.SEED)
        torch.manual_seed(self.SEED)
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.EPOCHS
        self.num_iterations_per_epoch = self.ITERATIONS
        self.num_val_iterations_per_epoch = self.VAL_ITERATIONS
        self.oversample_foreground_percent = self.OVERSAMPLE
        self.save_every = 1  # short runs: checkpoint_latest.pth after every epoch, so --resume loses one at most
        if self.BATCH:
            self.configuration_manager.configuration["batch_size"] = int(self.BATCH)

    def perform_actual_validation(self, save_probabilities: bool = False):
        if self.fold == "all":
            self.print_to_log_file("fold 'all': no held-out cases, final validation skipped")
            folder = os.path.join(self.output_folder, "validation")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "summary.json"), "w") as f:
                json.dump({"skipped": "fold 'all' has no held-out cases: final validation skipped",
                           "foreground_mean": {}, "mean": {}, "metric_per_case": []}, f, indent=2)
            return
        super().perform_actual_validation(save_probabilities)


class nnUNetTrainerCLAIMShort(_Scheduled):
    """A few epochs of a few iterations of 2 patches: checks that training runs end to end (seconds on a CPU,
    whatever the dataset's size: nnU-Net's planned batch grows with the number of cases)."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, BATCH = 3, 5, 2, 2


class nnUNetTrainerCLAIMDemo(_Scheduled):
    """About a minute on 2 CPU cores (120 iterations of 3 patches centred on labelled voxels): the demo's
    segmenter. It roughly finds the cavity and the myocardium; that is too short to learn scar."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, OVERSAMPLE, BATCH = 8, 15, 1, 1.0, 3


class nnUNetTrainerCLAIMExperiment(_Scheduled):
    """``claim experiment --quick``: 300 iterations of 3 foreground-centred patches (a few minutes on 2 CPU cores
    per setting), the same for every setting whatever its number of cases."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, OVERSAMPLE, BATCH = 12, 25, 1, 1.0, 3


class nnUNetTrainerCLAIMQuick(_Scheduled):
    """Enough to segment phantom scars on a CPU in minutes; every patch is centred on a labelled voxel, so the
    small scar class is seen as often as the others. Batches of 2 patches: on the phantoms the scar appears after
    a number of steps (about 250), not of patches, whatever the batch, so a small batch takes half the time of
    nnU-Net's planned 4 for the same held-out Dice."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, OVERSAMPLE, BATCH = 25, 25, 3, 1.0, 2
