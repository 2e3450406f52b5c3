"""Python packages CLAIMLib needs inside Slicer, installed into Slicer's Python on first use, after asking.

Three groups, each installed when a capability first needs it:

- ``core`` (AHA, SMILE, bull's-eyes): scipy, scikit-image, matplotlib, tqdm, slicerio (numpy and SimpleITK ship
  with Slicer);
- ``synthesis``: torch, monai, einops, diffusers (the DPM-Solver++ sampler);
- ``segmentation``: torch, nnunetv2.

torch comes from the PyTorch extension's installer (``PyTorchUtils.PyTorchUtilsLogic().installTorch``), which picks
the CUDA build that fits the machine's driver, or the CPU build; when that fails, the CPU build is installed.
Slicer's own numpy and SimpleITK, and torch once installed, are never replaced: the other packages are installed
with a constraints file that pins them, and with ``slicer.packaging.pip_ensure`` (Slicer 5.12 and later) also with
``skip_packages``, so pip installs neither them nor other versions of them; the versions are checked afterwards.

Needs 3D Slicer 5.10 or later: its Python 3.12 (Slicer 5.8 has Python 3.9; CLAIMLib, torch 2.x and nnU-Net v2
need Python 3.10+).
"""
from __future__ import annotations

import importlib.util
import logging
import os
import sys
import tempfile

MINIMUM_SLICER = (5, 10)

# import name -> pip requirement
CORE = {"numpy": "numpy>=1.24", "scipy": "scipy>=1.10", "SimpleITK": "SimpleITK>=2.3",
        "skimage": "scikit-image>=0.21", "matplotlib": "matplotlib>=3.7", "tqdm": "tqdm>=4.60",
        "slicerio": "slicerio>=1.1"}
TORCH = {"torch": "torch>=2.2"}
GROUPS = {
    "core": CORE,
    "synthesis": {**CORE, **TORCH, "monai": "monai>=1.4", "einops": "einops>=0.6", "diffusers": "diffusers>=0.30"},
    "segmentation": {**CORE, **TORCH, "nnunetv2": "nnunetv2>=2.5"},
}
DESCRIPTIONS = {"core": "AHA segments, SMILE masks and bull's-eyes", "synthesis": "scar synthesis (diffusion model)",
                "segmentation": "scar segmentation (nnU-Net)"}
# distributions that Slicer (or the PyTorch extension) provides: never replaced by pip
PROTECTED = ("numpy", "SimpleITK", "torch", "torchvision")


def missing(group: str = "core") -> list[str]:
    """Requirements of a group whose module cannot be found."""
    return [req for name, req in GROUPS[group].items() if importlib.util.find_spec(name) is None]


def slicer_version() -> tuple[int, int] | None:
    try:
        import slicer

        return int(slicer.app.majorVersion), int(slicer.app.minorVersion)
    except (ImportError, AttributeError):
        return None


def version_problem() -> str | None:
    """A one-line warning when this Slicer is older than CLAIM needs, else None."""
    v = slicer_version()
    if v is not None and v < MINIMUM_SLICER:
        return (f"CLAIM needs 3D Slicer {MINIMUM_SLICER[0]}.{MINIMUM_SLICER[1]} or later "
                f"(this is {v[0]}.{v[1]}); please update Slicer")
    if sys.version_info < (3, 10):
        return f"CLAIM needs Python 3.10 or later (Slicer 5.10+); this Python is {sys.version.split()[0]}"
    return None


def installed_versions(names=PROTECTED) -> dict:
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def constraints_file(folder=None) -> str:
    """A pip constraints file pinning the installed protected packages (numpy, SimpleITK, torch ...)."""
    fd, path = tempfile.mkstemp(prefix="claim-constraints-", suffix=".txt", dir=folder)
    with os.fdopen(fd, "w") as f:
        for name, version in installed_versions().items():
            f.write(f"{name}=={version}\n")
    return path


def ensure(group: str = "core", confirm=None) -> bool:
    """Install what ``group`` is missing. ``confirm(message) -> bool`` is asked first (None: no question).

    Returns False when the user declines; raises RuntimeError when an installation fails or would have changed a
    protected package.
    """
    needed = missing(group)
    if not needed:
        return True
    problem = version_problem()
    if problem:
        raise RuntimeError(problem)
    if confirm is not None:
        message = (f"CLAIM needs these Python packages for {DESCRIPTIONS[group]}:\n\n  " + "\n  ".join(needed)
                   + "\n\nInstall them into Slicer's Python now? (Slicer's numpy and SimpleITK are kept; "
                     "torch comes from the PyTorch extension, with the build that fits this computer.)")
        if not confirm(message):
            return False
    if any(r.startswith("torch") for r in needed):
        install_torch()
    rest = [r for r in needed if not r.startswith("torch")]
    if rest:
        install(rest)
    still = missing(group)
    if still:
        raise RuntimeError(f"still missing after installation: {', '.join(still)}; restart Slicer and try again")
    return True


def install_torch() -> None:
    """torch through the PyTorch extension (CUDA build for the driver, else CPU), else the CPU build with pip."""
    import slicer

    try:
        import PyTorchUtils
    except ImportError:
        PyTorchUtils = None
    if PyTorchUtils is not None:
        logic = PyTorchUtils.PyTorchUtilsLogic()
        try:
            if logic.installTorch(askConfirmation=False, torchVersionRequirement=">=2.2") is not None:
                return
        except Exception as e:  # e.g. no wheel for the detected CUDA version
            logging.warning(f"CLAIM: the PyTorch extension could not install torch ({e}); trying the CPU build")
        if logic.installTorch(askConfirmation=False, forceComputationBackend="cpu",
                              torchVersionRequirement=">=2.2") is not None:
            return
        raise RuntimeError("the PyTorch extension could not install torch")
    logging.warning("CLAIM: the PyTorch extension is not installed; installing torch's CPU build with pip")
    args = ["torch>=2.2"]
    if sys.platform != "darwin":  # PyPI's Linux/Windows wheels are CUDA builds of several GB
        args += ["--index-url", "https://download.pytorch.org/whl/cpu"]
    slicer.util.pip_install(args)


def install(requirements: list[str]) -> None:
    """pip-install requirements without replacing the protected packages (checked afterwards)."""
    import slicer

    if not requirements:
        return
    before = installed_versions()
    constraints = constraints_file()
    try:
        packaging = getattr(slicer, "packaging", None)
        if packaging is not None and hasattr(packaging, "pip_ensure"):  # Slicer 5.12+
            from packaging.requirements import Requirement

            packaging.pip_ensure([Requirement(r) for r in requirements], constraints=constraints,
                                 skip_packages=sorted(before), prompt_install=False, requester="CLAIM")
        else:
            slicer.util.pip_install(["-c", constraints, *requirements])
    finally:
        os.remove(constraints)
    after = installed_versions()
    changed = {k: (v, after.get(k)) for k, v in before.items() if after.get(k) != v}
    if changed:
        text = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
        raise RuntimeError(f"installing {' '.join(requirements)} changed Slicer's own packages ({text}); "
                           "restart Slicer")
