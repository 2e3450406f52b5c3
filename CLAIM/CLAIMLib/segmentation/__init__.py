"""Scar segmentation with nnU-Net v2: datasets, metrics (and, as they land: training, prediction, experiment)."""
