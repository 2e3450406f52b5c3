"""Joint training, CLAIM(J) (core layer): the segmenter's loss trains the generator, and the generator's images
train the segmenter. ``batch`` (slices as tensors), ``segmenter`` (a trained nnU-Net network as a module, built by
its own trainer class; its losses, SGD step and export), ``steps`` (generator losses, painting, validation),
``config`` (``JointConfig`` and its settings file) and ``training`` (``train_joint``; the method is described
there). The edges (``cli.py``, ``commands/``, ``CLAIMSlicerLib``), the workflows (``CLAIMLib/workflows/``) and
other core modules may import it; it imports only core modules (``diffusion``, ``segmentation``, ``smile``,
``io`` ...), never a workflow or an edge.
"""

from __future__ import annotations

from .batch import Batch, case_batch, lesion
from .config import KEYS, JointConfig, check_segmenter, read_config
from .segmenter import (Segmenter, build_network, check_joint_model, export_segmenter, load_segmenter,
                        make_segmenter_optimizer, nnunet_loss, poly_lr, seg_loss, segment, segmenter_step,
                        to_segmenter)
from .steps import generator_losses, paint, validate
from .training import CHECKPOINT, LOG_FIELDS, VAL_FIELDS, JointData, JointRun, train_joint

__all__ = ["Batch", "case_batch", "lesion", "KEYS", "JointConfig", "check_segmenter", "read_config", "Segmenter",
           "build_network", "check_joint_model", "export_segmenter", "load_segmenter", "make_segmenter_optimizer",
           "nnunet_loss", "poly_lr", "seg_loss", "segment", "segmenter_step", "to_segmenter", "generator_losses",
           "paint", "validate", "CHECKPOINT", "LOG_FIELDS", "VAL_FIELDS", "JointData", "JointRun", "train_joint"]
