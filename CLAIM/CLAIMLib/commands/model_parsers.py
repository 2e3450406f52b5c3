"""The argument parsers of the model subcommands (``models.py`` holds their handlers), one builder per family."""
from __future__ import annotations

from pathlib import Path

from .common import add_folder_output_arguments, add_sampler_arguments, add_sampling_arguments, add_smile_arguments


def add_diffusion_parsers(sub, train_diffusion, synthesize, synthesize_dataset, evaluate_synthesis) -> None:
    p = sub.add_parser("train-diffusion", help="train the lesion-focused generator on pathological cases",
                       description="Train the histogram-conditioned lesion-focused diffusion model on the scarred "
                                   "slices of the cases in --data. Writes checkpoint.pt, log.csv and sample grids.")
    p.add_argument("--data", required=True, help="folder of cases (any layout) with images and scar labels")
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument("--config", default="tiny", help="tiny (CPU, minutes), default (GPU) or paper (72x72, T=300)")
    p.add_argument("--steps", type=int, help="total training steps (default 1000, or the resumed run's)")
    p.add_argument("--batch", type=int, help="batch size (default: the config's)")
    p.add_argument("--accumulate", type=int, help="gradient accumulation steps (default 1)")
    add_folder_output_arguments(p, resumable=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    p.add_argument("--save-every", type=int, help="checkpoint interval in steps (default: the config's)")
    p.add_argument("--sample-every", type=int, help="sample-grid interval in steps (0: only at the end)")
    p.set_defaults(func=train_diffusion)

    p = sub.add_parser("synthesize", help="paint scar texture into an LGE image under a mask",
                       description="Inpaint the mask's scar (and MVO) with the generator. Every voxel outside the "
                                   "mask keeps its value, bit for bit. Writes the image, its labels and a JSON record.")
    p.add_argument("--image", type=Path, required=True, help="the LGE image")
    p.add_argument("--labels", type=Path, required=True, help="its label map")
    p.add_argument("--mask", type=Path, required=True, help="scar mask (0/1) or label map (e.g. from claim smile)")
    p.add_argument("--out", type=Path, required=True, help="the synthetic image")
    p.add_argument("--out-labels", type=Path, help="its labels (default: OUT with _labels)")
    add_sampling_arguments(p)
    p.set_defaults(func=synthesize)

    p = sub.add_parser("synthesize-dataset", help="SMILE masks + synthesis for every case: a synthetic cohort",
                       description="Draw SMILE masks for each case and paint them with the generator. Writes a new "
                                   "cohort in the EMIDEC layout to --out, each case whole as it is done, and "
                                   "synthesis.json at the end (how the paper's N' and N'' are made).")
    p.add_argument("--cases", type=Path, required=True, help="folder of cases with images and labels")
    p.add_argument("--per-case", type=int, default=1, help="synthetic cases per input case (default 1)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--qc", action="store_true", help="quality gate: redraw (up to --qc-tries times) a sample whose "
                                                     "painted scar FWHM does not find (Dice < 0.2) or whose "
                                                     "brightness lies outside the training range")
    p.add_argument("--qc-tries", type=int, default=3, help="draws per sample under --qc (default 3)")
    add_smile_arguments(p)
    add_sampling_arguments(p)
    add_folder_output_arguments(p, resumable=True)
    p.set_defaults(func=synthesize_dataset)

    p = sub.add_parser("evaluate-synthesis", help="fidelity of the generator: repaint real scars, compare with "
                                                  "the real voxels",
                       description="Repaint each case's own scar (and MVO) with a histogram drawn from the bank and "
                                   "with the case's own, beside a remote-myocardium fill and a mean-brightness "
                                   "fill; report, per case and pooled, in units of the case's remote myocardium: "
                                   "scar CNR error, scar-to-blood contrast error, Wasserstein distance of scar "
                                   "intensities and texture (relative) error. Writes fidelity.json, fidelity.csv "
                                   "and fidelity.png (real and repainted side by side, difference maps).")
    p.add_argument("--cases", type=Path, required=True, help="folder of cases with images and real scar labels")
    p.add_argument("--out", type=Path, help="report folder (default: print the pooled table only)")
    add_sampling_arguments(p)
    add_folder_output_arguments(p)
    p.set_defaults(func=evaluate_synthesis)


def add_segmentation_parsers(sub, export_nnunet, train_seg, segment, evaluate) -> None:
    p = sub.add_parser("export-nnunet", help="write cases as an nnU-Net v2 raw dataset",
                       description="Writes cases (real, synthetic or mixed, any layout) to --raw as DatasetNNN_Name with "
                                   "imagesTr, labelsTr and dataset.json (0 background, 1 cavity, 2 myocardium, "
                                   "3 scar, 4 MVO when present).")
    p.add_argument("--cases", required=True, help="case folders, comma-separated")
    p.add_argument("--id", type=int, required=True, help="dataset id, 1-999")
    p.add_argument("--name", required=True, help="dataset name")
    p.add_argument("--raw", help="nnU-Net's raw folder (default: $nnUNet_raw)")
    p.add_argument("--scheme", help="label scheme of the inputs (default: detected)")
    add_folder_output_arguments(p)
    p.set_defaults(func=export_nnunet)

    p = sub.add_parser("train-seg", help="plan, preprocess and train nnU-Net on an exported dataset",
                       description="nnU-Net v2 planning and preprocessing (when not done yet) and training of one "
                                   "fold. CLAIM's short trainers: nnUNetTrainerCLAIMShort, nnUNetTrainerCLAIMQuick. "
                                   "Your own trainers are found through nnUNet_extTrainer. The terminal shows one "
                                   "progress bar per stage (planning and preprocessing; training with epoch, loss, "
                                   "pseudo-Dice and ETA); nnU-Net's own output goes to --log (--verbose: to the "
                                   "terminal). Writes the preprocessed data and the model folder under "
                                   "nnUNet_preprocessed and nnUNet_results, and the log.")
    p.add_argument("--dataset", type=int, required=True, help="dataset id")
    p.add_argument("--config", default="2d", help="nnU-Net configuration (default 2d)")
    p.add_argument("--fold", default="0", help="0-4 or all (default 0)")
    p.add_argument("--trainer", default="nnUNetTrainer", help="trainer class (default nnUNetTrainer)")
    p.add_argument("--root", help="folder holding nnUNet_raw, nnUNet_preprocessed, nnUNet_results "
                                  "(default: nnU-Net's variables)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--log", type=Path, help="nnU-Net's own output, appended (default: nnunet.log in --root, or beside "
                                            "nnUNet_results)")
    add_folder_output_arguments(p, resumable=True)
    p.set_defaults(func=train_seg)

    p = sub.add_parser("segment", help="segment scar (and cavity, myocardium, MVO) with a trained nnU-Net",
                       description="Load the model once and segment one image or a folder of images. Writes --out "
                                   "(a label map on its input's exact grid), or for a folder of images a folder with "
                                   "one <case>.nii.gz per image, each written as it is done. With --scar-method "
                                   "(hybrid) the model gives cavity and myocardium and the scar and MVO come from a "
                                   "threshold relative to remote myocardium (as claim scar); the result is then "
                                   "written with EMIDEC's values (1 cavity, 2 myocardium, 3 scar, 4 MVO).")
    p.add_argument("--image", type=Path, required=True, help="an LGE image (file or DICOM series folder), or a "
                                                             "folder of images")
    p.add_argument("--labels", type=Path, help="ground truth for one image: prints the Dice")
    p.add_argument("--model", required=True, help="trained model folder (TRAINER__PLANS__CONFIG) or an installed "
                                                  "model's NAME (claim models list)")
    p.add_argument("--out", type=Path, required=True, help="output label map, or folder for a folder of images")
    p.add_argument("--fold", help="folds to use, e.g. 0 or 0,1,2,3,4 or all (default: those trained)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--no-postprocess", action="store_true", help="keep scar outside the myocardium and tiny bits")
    p.add_argument("--batch", choices=("auto", "on", "off"), default="auto",
                   help="a folder through nnU-Net's batched API, preprocessing and export in worker processes "
                        "(auto: on CUDA; on 2 CPU cores it is slower than case by case, see bench/README.md)")
    p.add_argument("--scheme", help="label scheme of --labels (default: detected)")
    add_folder_output_arguments(p)
    from .scar import add_threshold_arguments

    add_threshold_arguments(p, "--scar-method", default=None, gray_zone=False)  # hybrid: the model's myocardium, thresholded scar
    p.set_defaults(func=segment)

    p = sub.add_parser("evaluate", help="Dice, precision, sensitivity, specificity, HD95, volume error and the "
                                        "EMIDEC challenge metrics",
                       description="Compare predicted label maps with the ground truth, matched by case name, per "
                                   "case and class (scar = infarct + MVO; infarct = label 3 alone, as EMIDEC scores "
                                   "it), with the EMIDEC challenge's volume and ratio differences and an optional "
                                   "per-segment bull's-eye. Either side may be a flat folder of label maps "
                                   "(<case>.nii.gz) or any case layout. Cases without a partner, or on another "
                                   "grid, are named on stderr and not scored. Writes only --csv and --bullseye.")
    p.add_argument("--pred", required=True, action="append", metavar="[NAME=]FOLDER",
                   help="folder of predicted label maps (<case id>.nii.gz), e.g. claim segment or claim scar "
                        "outputs; repeat to compare several (nnunet=A --pred fwhm=B ...) in one table")
    p.add_argument("--gt", required=True, help="folder of ground-truth label maps, or of cases (any layout)")
    p.add_argument("--csv", type=Path, help="per-case metrics as CSV")
    p.add_argument("--bullseye", type=Path, help="ground truth / prediction / difference bull's-eye (.png/.svg)")
    p.add_argument("--scheme", help="label scheme (default: detected)")
    p.set_defaults(func=evaluate)


def add_joint_parsers(sub, experiment, train_joint) -> None:
    p = sub.add_parser("experiment", help="the paper's Table-2 experiment: nnU-Net on P, P+N', P+N'', P+P'+N''",
                       description="Split real pathological and normal cases into training and held-out test "
                                   "cases, make synthetic cohorts with SMILE + the generator, train one nnU-Net per "
                                   "setting, and evaluate all on the same test cases. Writes table.csv, table.md, "
                                   "per_case.csv and bullseye.png. Rerun the same command to continue a stopped "
                                   "run. --quick: a phantom cohort, a tiny generator and a short nnU-Net "
                                   "schedule, end to end on a CPU.")
    p.add_argument("--pathological", type=Path, help="folder of real pathological cases (images + labels)")
    p.add_argument("--normal", type=Path, help="folder of real normal cases (images + labels)")
    p.add_argument("--diffusion", type=Path, help="generator checkpoint trained on pathological training cases (or "
                                                  "an installed generator's name)")
    p.add_argument("--out", type=Path, required=True, help="experiment folder")
    p.add_argument("--settings", default="P,P+N1,P+N2,P+P1+N2",
                   help="comma-separated: P, P+N1 (P+N'), P+N2 (P+N''), P+P1+N2 (P+P'+N''); default all four. "
                        "Each synthetic setting has a twin with -noqc (e.g. P+N2-noqc): the same synthetic data "
                        "made without the quality gate, to compare with and without it")
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
    add_sampler_arguments(p)
    p.add_argument("--no-qc", action="store_true", help="keep every synthetic sample (default: the quality gate "
                                                        "redraws samples whose scar is not enhanced)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda ... (default: cuda when present)")
    p.add_argument("--scheme", help="label scheme of the inputs (default: detected)")
    add_smile_arguments(p)
    add_folder_output_arguments(p, resumable=True)
    p.set_defaults(func=experiment)

    p = sub.add_parser("train-joint", help="joint training, CLAIM(J): the segmenter's loss trains the generator",
                       description="Fine-tune a trained generator and a pretrained 2d nnU-Net together: the "
                                   "generator learns from L_diff + lambda L_seg (real gradients through the "
                                   "segmenter), the segmenter from online synthetic and real slices. Settings come "
                                   "from a TOML or YAML file (see the README). Writes generator/checkpoint.pt, "
                                   "segmenter/ (an nnU-Net model folder), best/, log.csv, val.csv and checkpoint.pt.")
    p.add_argument("--config", type=Path, required=True, help="settings file (.toml or .yaml)")
    p.add_argument("--resume", action="store_true", help="continue the run in the config's out folder")
    p.add_argument("--overwrite", action="store_true", help="replace the config's out folder when it exists (the "
                                                            "old folder comes back if the run fails)")
    p.add_argument("--steps", type=int, help="override the config's steps")
    p.set_defaults(func=train_joint)
