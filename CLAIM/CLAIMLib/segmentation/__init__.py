"""Scar segmentation with nnU-Net v2 (core layer): ``model_folder`` (``ModelFolder``, the one rule for what a
trained nnU-Net model folder is and what its labels mean), ``nnunet`` (dataset export, nnU-Net's environment,
training, the in-process ``Predictor``), ``metrics`` (Dice, HD95 ... per case and class) and ``trainers/`` (CLAIM's
short nnU-Net trainers, found through ``nnUNet_extTrainer``). Anything may import it: the edges (``cli.py``,
``commands/``, ``CLAIMSlicerLib``), the workflows (``CLAIMLib/workflows/``) and the rest of the core; it imports
only the core itself (never a workflow or an edge). Importing this package is cheap: torch and nnU-Net load only
when a model is trained or loaded.
"""
from .model_folder import ModelFolder

__all__ = ["ModelFolder"]
