"""What the subcommands share: the argument groups (case, subject, SMILE, sampling), and turning arguments into
checked plain objects (scheme, case files, SMILE spec, RV points). Nothing here orchestrates."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError


# ------------------------------------------------------------------------------------------ argument groups
def add_case_arguments(p: argparse.ArgumentParser) -> None:
    """The inputs of every command that reads cases (resolved by ``case_files``)."""
    p.add_argument("paths", nargs="*", metavar="CASE_OR_FILES",
                   help="a case folder or dataset root, a label file, or IMAGE LABELS")
    p.add_argument("--image", type=Path, help="the LGE image (with --labels)")
    p.add_argument("--labels", type=Path, help="the label map (NIfTI, NRRD or Slicer .seg.nrrd)")
    p.add_argument("--scheme", help="label scheme: emidec, myops or e.g. 'cavity=1,myocardium=2+3+4,scar=3+4,mvo=4' "
                                    "(default: detected from the values)")


def add_subject_arguments(p: argparse.ArgumentParser, labels_help: str, method: bool = True) -> None:
    """A subject's labels and image, and where its AHA orientation comes from (commands that compute AHA)."""
    p.add_argument("--labels", type=Path, required=True, help=labels_help)
    p.add_argument("--image", type=Path, help="the LGE image (finds the RV when the labels have none)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.add_argument("--rv-point", action="append", metavar="[anterior:|inferior:]X,Y,Z",
                   help="an RV insertion point in mm (LPS, or RAS with --ras); give one or two. "
                        "A single point is taken as the anterior insertion point unless prefixed inferior:. "
                        "Write --rv-point=-12.5,3,40 when a coordinate starts with a minus sign")
    p.add_argument("--ras", action="store_true", help="--rv-point coordinates are RAS (as Slicer shows them)")
    if method:
        p.add_argument("--method", choices=("direct", "template"), default="direct",
                       help="direct (subject space, default) or template (registration to a parametric template)")


def add_smile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segments", help="AHA segments, e.g. 4,10,15 (default: random adjacent ones)")
    p.add_argument("--territory", type=str.upper, choices=("LAD", "RCA", "LCX", "RANDOM"),
                   help="a coronary territory instead; random draws one by infarct prevalence (LAD 50%%, RCA 30%%, "
                        "LCX 20%%)")
    p.add_argument("--max-segments", type=int, default=4, help="most segments drawn at random (default 4)")
    p.add_argument("--volume-ml", help="total mL (e.g. 12.5) or per segment (4:3,10:2.5); default: a fraction of "
                                       "the LV myocardium drawn from published infarct sizes (median 17.9%%)")
    p.add_argument("--volume-fraction", type=float, help="total as a fraction of the LV myocardium (e.g. 0.2)")
    p.add_argument("--transmurality", help="wavefront (default: one lesion, subendocardial when small, transmural "
                                           "in its core when large), or subendocardial[:e] (e drawn in 0.3-1), "
                                           "transmural, midwall, epicardial[:e]")
    p.add_argument("--lesions", type=int, help="wavefront lesions per mask (default 1, or drawn from --priors)")
    p.add_argument("--priors", type=Path, help="SMILE priors learned by claim smile-priors: draw size, depth, "
                                               "lesions and segments from a population")
    p.add_argument("--mvo", action="store_true", help="add an MVO core (label 4) to larger scars")
    p.add_argument("--allow-less", action="store_true", help="accept a mask below the --volume-ml (or "
                                                             "--volume-fraction) asked, when the segments cannot hold "
                                                             "it, with a warning (default: an error naming what they "
                                                             "hold)")


def add_sampler_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sampler", default="dpm", help="dpm (default: DPM-Solver++, 5 network calls), ddim (<= 50) "
                                                    "or repaint (the paper's RePaint, 1480 at 5/5)")
    p.add_argument("--steps", type=int, help="network calls of dpm or ddim, 1-50 (default: dpm 5, ddim 50)")


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="generator checkpoint (checkpoint.pt or its run folder), or an "
                                                  "installed generator's NAME (claim models list)")
    add_sampler_arguments(p)
    p.add_argument("--jump", type=int, default=5, help="RePaint jump length (default 5)")
    p.add_argument("--resample", type=int, default=5, help="RePaint resamplings per jump (default 5)")
    p.add_argument("--brightness", type=float, help="scar brightness relative to the blood pool (default: a "
                                                    "histogram drawn from the training scars)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when present)")
    p.add_argument("--eager", action="store_true", help="on a GPU, sample without torch.compile and CUDA graphs")
    p.add_argument("--scheme", help="label scheme (default: detected)")


# ------------------------------------------------------------------------------------------ arguments -> objects
def scheme_of(args):
    from ..labels import parse_scheme

    return parse_scheme(args.scheme) if getattr(args, "scheme", None) else None


def case_files(args):
    """The cases named on the command line: a folder (case or dataset), a label file, or IMAGE LABELS."""
    from ..io import CaseFiles, discover_cases, stem, volume_suffix

    paths = [Path(p) for p in args.paths]
    if len(paths) > 2:
        raise InputError(paths[2], "give a case folder, a label file, or an image and its labels")
    if args.image and not args.labels and len(paths) == 1:  # LABELS --image IMAGE
        return [CaseFiles(stem(paths[0]), args.image, paths[0])]
    if paths and (args.image or args.labels):
        raise InputError(paths[0], "give the case either as CASE_OR_FILES or with --image/--labels, not both")
    if args.image or args.labels:
        return [CaseFiles(stem(args.labels or args.image), args.image, args.labels)]
    if len(paths) == 2:
        return [CaseFiles(stem(paths[0]), paths[0], paths[1])]
    if len(paths) == 1 and paths[0].is_file():
        p = paths[0]
        if volume_suffix(p) == ".seg.nrrd" or looks_like_labels(p):
            return [CaseFiles(stem(p), None, p)]
        return [CaseFiles(stem(p), p, None)]
    if len(paths) == 1:
        return discover_cases(paths[0])
    raise InputError(f"claim {args.command}", "give a case folder, a label file, or an image and its labels")


def looks_like_labels(path) -> bool:
    """A single file is a label map when it holds few whole-number values."""
    import numpy as np

    from ..io import read_volume

    array, _ = read_volume(path)
    if np.issubdtype(array.dtype, np.floating) and not np.all(array == np.round(array)):
        return False
    return np.unique(array).size <= 16


def load_labelled_case(args):
    from ..io import CaseFiles, load_case, stem

    return load_case(CaseFiles(stem(args.labels), args.image, args.labels), scheme_of(args))


def rv_points(args) -> list:
    from ..workflows.aha import parse_points

    return parse_points(args.rv_point or [], ras=args.ras)


def check_suffix(path, allowed, option):
    """An output file named by ``option``: its suffix, that it is no folder, that it can be written (declared to the
    command's transaction, written at its end: ``outputs.output_file``)."""
    from ..outputs import output_file

    return output_file(path, option, allowed)


def add_folder_output_arguments(p: argparse.ArgumentParser, resumable: bool = False) -> None:
    """--overwrite (and --resume) for a command whose --out is a folder."""
    if resumable:
        p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists (the old folder comes "
                                                            "back if the command fails)")


def check_fold(fold: str) -> None:
    if fold != "all" and not (fold.isdigit() and 0 <= int(fold) <= 4):
        raise InputError("--fold", f"use 0-4 or all (got {fold})")


def folder_target(args, option: str = "--out", path=None, keep=None) -> Path:
    """The command's output folder, declared: an existing one that is not empty needs --resume or --overwrite."""
    from ..outputs import output_folder

    return output_folder(path if path is not None else args.out, option, resume=bool(getattr(args, "resume", False)),
                         overwrite=bool(getattr(args, "overwrite", False)), keep=keep,
                         resumable=hasattr(args, "resume"))


def same_grid(geometry, case, path):
    diffs = geometry.differences(case.geometry)
    if diffs:
        raise InputError(path, f"not on the labels' grid: {'; '.join(diffs)}")


def parse_segments(text, option: str = "--segments"):
    """AHA segment numbers from text such as 4,10,15 (an InputError naming ``option`` otherwise)."""
    try:
        segs = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise InputError(option, f"'{text}': expected AHA segment numbers such as 4,10,15") from None
    bad = [v for v in segs if not 1 <= v <= 17]
    if not segs or bad:
        raise InputError(option, f"'{text}': AHA segments are 1-17")
    twice = sorted({v for v in segs if segs.count(v) > 1})
    if twice:
        raise InputError(option, f"'{text}': segment {twice[0]} is given twice")
    return segs


def parse_volume(text):
    """'12.5' (total mL) or '4:3,10:2.5' (mL per segment)."""
    try:
        if ":" in text:
            out = {}
            for part in text.split(","):
                seg, _, ml = part.partition(":")
                if int(seg) in out:
                    raise InputError("--volume-ml", f"'{text}': segment {int(seg)} is given twice")
                out[int(seg)] = float(ml)
            if any(not 1 <= s <= 17 for s in out) or any(v <= 0 for v in out.values()):
                raise ValueError
            return out
        value = float(text)
        if not value > 0:
            raise ValueError
        return value
    except ValueError:
        raise InputError("--volume-ml", f"'{text}': give a total in mL (e.g. 12.5) or per segment "
                                        "(e.g. 4:3,10:2.5), all positive") from None


def smile_spec(args):
    """The SMILE options of a command, parsed and checked."""
    from ..workflows.masks import smile_spec as make_spec

    if args.segments and args.territory:
        raise InputError("--segments", "give either --segments or --territory, not both")
    return make_spec(segments=parse_segments(args.segments) if args.segments else None, territory=args.territory,
                     max_segments=args.max_segments,
                     volume_ml=parse_volume(args.volume_ml) if args.volume_ml else None,
                     transmurality=args.transmurality, mvo=args.mvo, volume_fraction=args.volume_fraction,
                     lesions=args.lesions, priors=args.priors, allow_less=args.allow_less)


def generator_of(args):
    """The generator of ``--model`` on ``--device`` (``--eager``: without the GPU path)."""
    from ..diffusion.sample import load_generator

    return load_generator(args.model, args.device, compile=False if args.eager else None)


def synthesis_options(args) -> dict:
    from ..diffusion.sample import synthesis_options as options

    return options(args.sampler, args.steps, args.brightness, args.jump, args.resample)


def numbered(path: Path, index: int, count: int) -> Path:
    if count == 1:
        return path
    from ..io import stem, volume_suffix

    return path.with_name(f"{stem(path)}_{index + 1:03d}{volume_suffix(path)}")
