"""Lesion-focused conditional diffusion (LeFusion, as used by CLAIM): data, model, training and inpainting."""
