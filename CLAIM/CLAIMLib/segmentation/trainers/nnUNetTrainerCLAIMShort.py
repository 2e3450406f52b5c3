"""Short nnU-Net trainers for CPU tests and demos, found by nnU-Net through ``nnUNet_extTrainer``.

``claim train-seg`` and ``claim segment`` set that variable to this folder; with stock nnU-Net commands, set it
yourself: ``export nnUNet_extTrainer=<this folder>``.
"""
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class _Scheduled(nnUNetTrainer):
    """nnU-Net's trainer with a schedule set by class attributes (epochs, iterations, foreground oversampling)."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, OVERSAMPLE = 1000, 250, 50, 0.33

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = self.EPOCHS
        self.num_iterations_per_epoch = self.ITERATIONS
        self.num_val_iterations_per_epoch = self.VAL_ITERATIONS
        self.oversample_foreground_percent = self.OVERSAMPLE


class nnUNetTrainerCLAIMShort(_Scheduled):
    """A few epochs of a few iterations: checks that training runs end to end (seconds on a CPU)."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS = 3, 5, 2


class nnUNetTrainerCLAIMQuick(_Scheduled):
    """Enough to segment phantom scars on a CPU in minutes; every patch is centred on a labelled voxel, so the
    small scar class is seen as often as the others."""

    EPOCHS, ITERATIONS, VAL_ITERATIONS, OVERSAMPLE = 25, 25, 5, 1.0
