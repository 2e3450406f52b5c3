"""Lesion-focused conditional diffusion (LeFusion, as used by CLAIM), part of the core: data (slices, crops,
normalisation and write-back), model (MONAI UNet with histogram conditioning), training and inpainting samplers.
It works on Cases and arrays; workflows (``workflows.synthesis``), ``joint`` and the edges import it, and it
imports no workflow or edge.
"""
