"""The ``claim`` command: argument parsing and error reporting only; the work lives in the library.

Bad input exits with status 2 and one line, ``claim: error: <file>: <problem>``, and leaves no output behind.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .commands.cases import (cmd_aha, cmd_bullseye, cmd_convert, cmd_demo, cmd_info, cmd_mask_stats, cmd_phantom,
                             cmd_smile)
from .commands.models import (cmd_evaluate, cmd_experiment, cmd_export_nnunet, cmd_segment, cmd_synthesize,
                              cmd_synthesize_dataset, cmd_train_diffusion, cmd_train_joint, cmd_train_seg)
from .errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        self.exit(2, f"claim: error: {' '.join(message.split())}\n")


def add_case_arguments(p: argparse.ArgumentParser) -> None:
    """The inputs of every command that reads cases (resolved by ``_case_files``)."""
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
    p.add_argument("--volume-ml", help="total mL (e.g. 12.5) or per segment (4:3,10:2.5); default drawn from "
                                       "EMIDEC's 23.68 +- 15.81 mL")
    p.add_argument("--transmurality", help="subendocardial[:e] (default, e drawn in 0.3-1), transmural, "
                                           "midwall, epicardial[:e]")
    p.add_argument("--mvo", action="store_true", help="add an MVO core (label 4) to larger scars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="claim", description="CLAIM: clinically guided LGE scar synthesis and segmentation.")
    parser.add_argument("--version", action="version", version=f"claim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("info", help="shape, spacing, slice order and structure volumes (mL) of cases",
                       description="Print a case's grid, slice order and each structure's volume in mL. "
                                   "PATHS: a case folder or dataset root, a label file, or IMAGE LABELS.")
    add_case_arguments(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("convert", help="check cases and write them in the EMIDEC layout (NIfTI, EMIDEC labels)",
                       description="Read cases in any supported layout (EMIDEC, MyoPS, nnU-Net, pairs, .seg.nrrd), "
                                   "check them, and write them as OUT/<id>/Images and OUT/<id>/Contours.")
    add_case_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("aha", help="label the myocardium with the 17 AHA segments, in subject space",
                       description="Write 0 for background and 1-17 on myocardium voxels, on the input's grid. "
                                   "The septum comes from an RV mask in the labels, RV insertion points, the LGE "
                                   "image, or a default (with a warning), in that order.")
    add_subject_arguments(p, "the label map")
    p.add_argument("--out", type=Path, required=True, help="output AHA label map (.nii.gz, .nii, .nrrd, .mha)")
    p.add_argument("--json", type=Path, help="also write the orientation record as JSON")
    p.set_defaults(func=cmd_aha)

    p = sub.add_parser("bullseye", help="per-segment scar volume, %% and transmurality: bull's-eye and table",
                       description="Quantify scar per AHA segment and draw bull's-eyes (scar mL, %% of segment, "
                                   "mean transmurality). Computes the AHA segments unless --aha is given.")
    add_subject_arguments(p, "the label map (myocardium, and scar unless --scar)")
    p.add_argument("--scar", type=Path, help="a scar mask or label map to quantify instead of the labels' scar")
    p.add_argument("--aha", type=Path, help="AHA labels (from claim aha) on the same grid")
    p.add_argument("--out", type=Path, required=True, help="figure (.png or .svg)")
    p.add_argument("--csv", type=Path, help="also write the per-segment table as CSV")
    p.add_argument("--title", help="figure title")
    p.set_defaults(func=cmd_bullseye)

    p = sub.add_parser("smile", help="clinically guided scar masks on a subject's AHA segments (SMILE)",
                       description="Grow textured scar masks inside chosen AHA segments, with a volume in mL and a "
                                   "transmurality pattern. Writes a label map (1 cavity, 2 myocardium, 3 scar, "
                                   "4 MVO) and a JSON sidecar per mask. An existing scar becomes myocardium.")
    add_subject_arguments(p, "the subject's label map (myocardium, cavity)", method=False)
    p.add_argument("--out", type=Path, required=True, help="output mask (.nii.gz ...); with --count N, numbered")
    add_smile_arguments(p)
    p.add_argument("--mode", choices=("direct", "template"), default="direct",
                   help="direct (subject's own AHA labels, default) or template (paper-faithful, via registration)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--count", type=int, default=1, help="number of masks (default 1)")
    p.set_defaults(func=cmd_smile)

    p = sub.add_parser("mask-stats", help="realism metrics between two sets of scar masks",
                       description="Compare scar masks with reference masks: AHA involvement frequency, and "
                                   "Wasserstein distances of volume, transmurality, components and endocardial "
                                   "contact.")
    p.add_argument("--masks", type=Path, required=True, help="folder of label maps (e.g. claim smile outputs)")
    p.add_argument("--reference", type=Path, required=True, help="folder of reference cases (e.g. real scars)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.add_argument("--out", type=Path, help="also write the report as JSON")
    p.set_defaults(func=cmd_mask_stats)

    p = sub.add_parser("train-diffusion", help="train the lesion-focused generator on pathological cases",
                       description="Train the histogram-conditioned lesion-focused diffusion model on the scarred "
                                   "slices of the cases in --data. Writes checkpoint.pt, log.csv and sample grids.")
    p.add_argument("--data", required=True, help="folder of cases (any layout) with images and scar labels")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default="tiny", help="tiny (CPU, minutes), default (GPU) or paper (72x72, T=300)")
    p.add_argument("--steps", type=int, help="total training steps (default 1000, or the resumed run's)")
    p.add_argument("--batch", type=int, help="batch size (default: the config's)")
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps (default 1)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--save-every", type=int, help="checkpoint interval in steps (default: the config's)")
    p.add_argument("--sample-every", type=int, help="sample-grid interval in steps (0: only at the end)")
    p.set_defaults(func=cmd_train_diffusion)

    def add_sampling(p):
        p.add_argument("--model", required=True, help="generator checkpoint (checkpoint.pt or its run folder)")
        p.add_argument("--sampler", default="ddim", help="ddim (default, <= 50 network calls) or repaint")
        p.add_argument("--steps", type=int, help="DDIM steps (default 50)")
        p.add_argument("--jump", type=int, default=5, help="RePaint jump length (default 5)")
        p.add_argument("--resample", type=int, default=5, help="RePaint resamplings per jump (default 5)")
        p.add_argument("--brightness", type=float, help="scar brightness relative to the blood pool (default: a "
                                                        "histogram drawn from the training scars)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--device", help="cpu, cuda ... (default: cuda when present)")
        p.add_argument("--scheme", help="label scheme (default: detected)")

    p = sub.add_parser("synthesize", help="paint scar texture into an LGE image under a mask",
                       description="Inpaint the mask's scar (and MVO) with the generator. Every voxel outside the "
                                   "mask keeps its value, bit for bit. Writes the image, its labels and a JSON record.")
    p.add_argument("--image", type=Path, required=True, help="the LGE image")
    p.add_argument("--labels", type=Path, required=True, help="its label map")
    p.add_argument("--mask", type=Path, required=True, help="scar mask (0/1) or label map (e.g. from claim smile)")
    p.add_argument("--out", type=Path, required=True, help="the synthetic image")
    p.add_argument("--out-labels", type=Path, help="its labels (default: OUT with _labels)")
    add_sampling(p)
    p.set_defaults(func=cmd_synthesize)

    p = sub.add_parser("synthesize-dataset", help="SMILE masks + synthesis for every case: a synthetic cohort",
                       description="Draw SMILE masks for each case and paint them with the generator; writes a new "
                                   "cohort in the EMIDEC layout (how the paper's N' and N'' are made).")
    p.add_argument("--cases", type=Path, required=True, help="folder of cases with images and labels")
    p.add_argument("--per-case", type=int, default=1, help="synthetic cases per input case (default 1)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    add_smile_arguments(p)
    add_sampling(p)
    p.set_defaults(func=cmd_synthesize_dataset)

    p = sub.add_parser("export-nnunet", help="write cases as an nnU-Net v2 raw dataset",
                       description="Write cases (real, synthetic or mixed, any layout) as DatasetNNN_Name with "
                                   "imagesTr, labelsTr and dataset.json (0 background, 1 cavity, 2 myocardium, "
                                   "3 scar, 4 MVO when present).")
    p.add_argument("--cases", required=True, help="case folders, comma-separated")
    p.add_argument("--id", type=int, required=True, help="dataset id, 1-999")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--raw", help="nnU-Net's raw folder (default: $nnUNet_raw)")
    p.add_argument("--scheme", help="label scheme of the inputs (default: detected)")
    p.set_defaults(func=cmd_export_nnunet)

    p = sub.add_parser("train-seg", help="plan, preprocess and train nnU-Net on an exported dataset",
                       description="nnU-Net v2 planning and preprocessing (when not done yet) and training of one "
                                   "fold. CLAIM's short trainers: nnUNetTrainerCLAIMShort, nnUNetTrainerCLAIMQuick.")
    p.add_argument("--dataset", type=int, required=True, help="dataset id")
    p.add_argument("--config", default="2d", help="nnU-Net configuration (default 2d)")
    p.add_argument("--fold", default="0", help="0-4 or all (default 0)")
    p.add_argument("--trainer", default="nnUNetTrainer", help="trainer class (default nnUNetTrainer)")
    p.add_argument("--root", help="folder holding nnUNet_raw, nnUNet_preprocessed, nnUNet_results "
                                  "(default: nnU-Net's variables)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.set_defaults(func=cmd_train_seg)

    p = sub.add_parser("segment", help="segment scar (and cavity, myocardium, MVO) with a trained nnU-Net",
                       description="Load the model once and segment one image or a folder of images; each result "
                                   "is written as soon as it is done, on its input's exact grid.")
    p.add_argument("--image", type=Path, required=True, help="an LGE image, or a folder of them")
    p.add_argument("--labels", type=Path, help="ground truth for one image: prints the Dice")
    p.add_argument("--model", type=Path, required=True, help="trained model folder (TRAINER__PLANS__CONFIG)")
    p.add_argument("--out", type=Path, required=True, help="output label map, or folder for a folder of images")
    p.add_argument("--fold", help="folds to use, e.g. 0 or 0,1,2,3,4 or all (default: those trained)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--no-postprocess", action="store_true", help="keep scar outside the myocardium and tiny bits")
    p.add_argument("--scheme", help="label scheme of --labels (default: detected)")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("evaluate", help="Dice, precision, sensitivity, specificity, HD95 and volume error",
                       description="Compare predicted label maps (named like the cases) with the ground truth, per "
                                   "case and class (scar = infarct + MVO), with an optional per-segment bull's-eye.")
    p.add_argument("--pred", required=True, help="folder of predicted label maps (<case id>.nii.gz)")
    p.add_argument("--gt", required=True, help="folder of ground-truth cases (any layout)")
    p.add_argument("--csv", type=Path, help="per-case metrics as CSV")
    p.add_argument("--bullseye", type=Path, help="ground truth / prediction / difference bull's-eye (.png/.svg)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("experiment", help="the paper's Table-2 experiment: nnU-Net on P, P+N', P+N'', P+P'+N''",
                       description="Split real pathological and normal cases into training and held-out test "
                                   "cases, make synthetic cohorts with SMILE + the generator, train one nnU-Net per "
                                   "setting, and evaluate all on the same test cases. Writes table.csv, table.md, "
                                   "per_case.csv and bullseye.png. Rerun the same command to continue a stopped "
                                   "run. --quick: a phantom cohort, a tiny generator and a short nnU-Net "
                                   "schedule, end to end on a CPU.")
    p.add_argument("--pathological", type=Path, help="folder of real pathological cases (images + labels)")
    p.add_argument("--normal", type=Path, help="folder of real normal cases (images + labels)")
    p.add_argument("--diffusion", type=Path, help="generator checkpoint trained on pathological training cases")
    p.add_argument("--out", type=Path, required=True, help="experiment folder")
    p.add_argument("--settings", default="P,P+N1,P+N2,P+P1+N2",
                   help="comma-separated: P, P+N1 (P+N'), P+N2 (P+N''), P+P1+N2 (P+P'+N''); default all four")
    p.add_argument("--quick", action="store_true",
                   help="phantom cohort (when no cases are given), tiny generator (when none is given), "
                        "nnUNetTrainerCLAIMExperiment: minutes on a CPU")
    p.add_argument("--trainer", help="nnU-Net trainer (default nnUNetTrainer; --quick: nnUNetTrainerCLAIMExperiment)")
    p.add_argument("--config", default="2d", help="nnU-Net configuration (default 2d)")
    p.add_argument("--fold", default="all", help="0-4 or all (default all)")
    p.add_argument("--test-fraction", type=float, default=0.15,
                   help="share of each group held out for testing (default 0.15, as the paper's 10 + 5 of 100)")
    p.add_argument("--dataset-id", type=int, default=700, help="first nnU-Net dataset id (default 700; one per "
                                                                "setting)")
    p.add_argument("--diffusion-steps", type=int, default=300,
                   help="--quick without --diffusion: training steps of the tiny generator (default 300)")
    p.add_argument("--sampler", default="ddim", help="ddim (default) or repaint")
    p.add_argument("--steps", type=int, help="DDIM steps (default 50)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when present)")
    p.add_argument("--scheme", help="label scheme of the inputs (default: detected)")
    add_smile_arguments(p)
    p.set_defaults(func=cmd_experiment)

    p = sub.add_parser("train-joint", help="joint training, CLAIM(J): the segmenter's loss trains the generator",
                       description="Fine-tune a trained generator and a pretrained 2d nnU-Net together: the "
                                   "generator learns from L_diff + lambda L_seg (real gradients through the "
                                   "segmenter), the segmenter from online synthetic and real slices. Settings come "
                                   "from a TOML or YAML file (see the README). Writes generator/checkpoint.pt, "
                                   "segmenter/ (an nnU-Net model folder), best/, log.csv, val.csv and checkpoint.pt.")
    p.add_argument("--config", type=Path, required=True, help="settings file (.toml or .yaml)")
    p.add_argument("--resume", action="store_true", help="continue the run in the config's out folder")
    p.add_argument("--steps", type=int, help="override the config's steps")
    p.set_defaults(func=cmd_train_joint)

    p = sub.add_parser("phantom", help="write a cohort of LGE phantoms in the EMIDEC layout",
                       description="Write N phantom LGE cases (image, labels, AHA-17 and RV ground truth, JSON).")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cases", type=int, default=10, help="number of cases (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--normal-fraction", type=float, default=0.3, help="fraction of normal cases (default 0.3)")
    p.set_defaults(func=cmd_phantom)

    p = sub.add_parser("demo", help="run everything on a fresh phantom cohort (and EMIDEC samples if present)",
                       description="Generate a phantom cohort, read it back, and write a montage and a report.")
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--cases", type=int, default=6, help="phantom cases (default 6, at least 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--emidec", help="EMIDEC folder (default: $CLAIM_EMIDEC or ../shared/data/emidec)")
    p.add_argument("--diffusion-model", help="a generator checkpoint to use instead of training the tiny one")
    p.add_argument("--seg-model", help="a trained 2d nnU-Net model folder to use instead of training the demo's")
    p.add_argument("--joint-steps", type=int, default=6, help="joint training steps (default 6)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already reported in one line
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"claim: error: {e.source}: {e.problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("claim: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: one line, the traceback only on request
        if os.environ.get("CLAIM_DEBUG"):
            raise
        print(f"claim: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              f"(set CLAIM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
