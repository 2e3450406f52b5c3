"""The compute device: one rule for "which device does this run on", with a one-line error for one that is absent."""
from __future__ import annotations

from .errors import InputError


def resolve_device(device=None, source: str = "--device"):
    """``device`` ("cpu", "cuda", "cuda:1", a ``torch.device``; None or "auto": CUDA when present, else the CPU) as a
    ``torch.device``. InputError(``source``, ...) when it is not a device name or not available on this machine."""
    import torch

    hint = f"use {source} cpu or leave it out" if source.startswith("--") else f"set {source} to cpu or leave it out"
    if device is None or (isinstance(device, str) and device.strip().lower() in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = device if isinstance(device, torch.device) else torch.device(str(device).strip())
    except (RuntimeError, TypeError, ValueError):
        raise InputError(source, f"'{device}' is not a device (cpu, cuda, cuda:1 ...)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(source, f"CUDA is not available on this machine (asked for '{device}'); {hint}")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise InputError(source, f"'{device}': this machine has {count} CUDA device{'s' if count != 1 else ''} "
                                     f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise InputError(source, f"Apple MPS is not available on this machine; {hint}")
    elif dev.type != "cpu":
        raise InputError(source, f"'{device}' is not supported (cpu, cuda, cuda:1 ...)")
    return dev
