"""Joint training's settings: ``JointConfig`` and its TOML / YAML file."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..segmentation.model_folder import ModelFolder
from .segmenter import check_joint_model


@dataclass
class JointConfig:
    pathological: str
    normal: str
    generator: str  # a trained diffusion checkpoint (claim train-diffusion)
    segmenter: str  # a trained 2d nnU-Net model folder (claim train-seg), pretrained on real cases
    out: str
    steps: int = 200
    lam: float = 5.0  # λ: weight of L_seg in the generator's loss (5 beat 0 in bench_joint; 0.5 did not differ)
    batch: int = 8
    seg_batch: int = 8
    seg_every: int = 1
    seg_lr: float = 1e-3
    gen_lr: float | None = None  # default: the diffusion config's
    ddim_steps: int = 10
    val_every: int = 25
    val_cases: int = 2
    save_every: int = 25
    fold: str = "all"
    seed: int = 0
    device: str | None = None
    extra: dict = field(default_factory=dict)


KEYS = {"lambda": "lam"}


def read_config(path) -> JointConfig:
    """A TOML or YAML file; relative paths are taken from the file's folder."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such config file")
    text = path.read_text()
    try:
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib
            raw = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            raw = yaml.safe_load(text) or {}
        else:
            raise InputError(path, "use a .toml or .yaml config file")
    except InputError:
        raise
    except Exception as e:  # a syntax error
        raise InputError(path, f"cannot be parsed ({' '.join(str(e).split())[:120]})") from None
    if not isinstance(raw, dict):
        raise InputError(path, "must hold key = value settings")
    raw = {KEYS.get(k, k).replace("-", "_"): v for k, v in raw.items()}
    known = set(JointConfig.__dataclass_fields__) - {"extra"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InputError(path, f"unknown setting '{unknown[0]}'")
    missing = [k for k in ("pathological", "normal", "generator", "segmenter", "out") if k not in raw]
    if missing:
        raise InputError(path, f"missing setting '{missing[0]}'")
    for k, v in raw.items():
        _check_type(path, k, v)
    from ..model_home import resolve

    for k in ("pathological", "normal", "generator", "segmenter", "out"):
        p = Path(str(raw[k]))
        if k in ("generator", "segmenter"):  # a path, or an installed model's name
            raw[k] = str(resolve(str(raw[k]), k, base=path.parent))
        else:
            raw[k] = str(p if p.is_absolute() else (path.parent / p))
    try:
        cfg = JointConfig(**raw)
    except TypeError as e:
        raise InputError(path, str(e)) from None
    for name in ("steps", "batch", "seg_batch", "seg_every", "ddim_steps", "val_every", "save_every"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise InputError(path, f"{name} must be a whole number >= 1 (got {value!r})")
    if not isinstance(cfg.lam, (int, float)) or cfg.lam < 0:
        raise InputError(path, f"lambda must be >= 0 (got {cfg.lam!r})")
    if not 1 <= cfg.ddim_steps <= 50:
        raise InputError(path, f"ddim_steps must lie in 1-50 (got {cfg.ddim_steps})")
    cfg.fold = str(cfg.fold)
    check_segmenter(cfg, path)
    return cfg


# each setting's type, as a file may write it: a whole number, a number, text (a fold may be written 0), or unset
_TYPES = {"int": (int,), "float": (int, float), "float | None": (int, float, type(None)), "str": (str, int),
          "str | None": (str, type(None))}
_NAMES = {"int": "a whole number", "float": "a number", "float | None": "a number", "str": "text",
          "str | None": "text"}


def _check_type(path, key: str, value) -> None:
    kind = str(JointConfig.__dataclass_fields__[key].type)
    if kind not in _TYPES or key in ("pathological", "normal", "generator", "segmenter", "out"):
        return
    if isinstance(value, bool) or not isinstance(value, _TYPES[kind]):
        name = {v: k for k, v in KEYS.items()}.get(key, key)
        raise InputError(path, f"{name} must be {_NAMES[kind]} (got {value!r})")


def check_segmenter(cfg: JointConfig, path) -> None:
    """The config's segmenter is a trained nnU-Net model folder (``ModelFolder``) with CLAIM's labels and the
    config's fold trained; InputError naming the folder (or the config, for a fold that is not one) otherwise."""
    try:
        fold = ModelFolder.parse_fold(cfg.fold)
    except InputError as e:
        raise InputError(path, f"fold: {e.problem}") from None
    try:
        model = ModelFolder(cfg.segmenter)
        model.checkpoint_path(fold)
        check_joint_model(model)
    except InputError as e:
        raise InputError(e.source, f"{e.problem} (the segmenter of {Path(path).name})") from None
