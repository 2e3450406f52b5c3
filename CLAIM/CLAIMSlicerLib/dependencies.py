"""Python packages CLAIMLib needs inside Slicer, and installing the missing ones into Slicer's Python."""
from __future__ import annotations

import importlib.util

# import name -> pip requirement. torch is handled by the PyTorch extension (right CUDA/CPU build), not here.
REQUIRED = {"numpy": "numpy", "scipy": "scipy", "SimpleITK": "SimpleITK", "skimage": "scikit-image",
            "matplotlib": "matplotlib", "tqdm": "tqdm", "slicerio": "slicerio"}


def missing() -> list[str]:
    return [req for name, req in REQUIRED.items() if importlib.util.find_spec(name) is None]


def install(requirements: list[str]) -> None:
    import slicer

    if requirements:
        slicer.util.pip_install(" ".join(requirements))
