"""Short nnU-Net trainers for CPU tests and demos, found by nnU-Net through ``nnUNet_extTrainer``.

``claim train-seg`` and ``claim segment`` set that variable to this folder; with stock nnU-Net commands, set it
yourself: ``export nnUNet_extTrainer=<this folder>``.
"""
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerCLAIMShort(nnUNetTrainer):
    """A few epochs of a few iterations: checks that training runs end to end (seconds on a CPU)."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 3
        self.num_iterations_per_epoch = 5
        self.num_val_iterations_per_epoch = 2


class nnUNetTrainerCLAIMQuick(nnUNetTrainer):
    """Enough to segment phantom scars on a CPU in minutes (the quick experiment and the demo)."""

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = 25
        self.num_iterations_per_epoch = 25
        self.num_val_iterations_per_epoch = 5
        self.initial_lr = 1e-2
        self.oversample_foreground_percent = 1.0  # every patch centred on a labelled voxel (scar as often as others)
