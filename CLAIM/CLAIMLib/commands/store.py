"""``claim models install|list|export``: the models home (parsers and handlers)."""
from __future__ import annotations

import json
from pathlib import Path


def add_parsers(sub) -> None:
    p = sub.add_parser("models", help="install, list and export models by name (segmenters and generators)",
                       description="The models home ($CLAIM_HOME, default the user's data folder) holds installed "
                                   "models; every option that takes a model path (--model, --diffusion, "
                                   "--seg-model, the joint config's generator and segmenter, the Slicer module) "
                                   "also takes an installed NAME, or NAME:CONFIG for a segmenter with several "
                                   "nnU-Net configurations. Writes only inside the models home (install) or "
                                   "--out (export).")
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    q = actions.add_parser("install", help="install a model from a zip, checkpoint, folder, URL or registry entry",
                           description="Install an nnU-Net export zip (nnUNetv2_export_model_to_zip, claim models "
                                       "export), an nnU-Net model folder, a CLAIM generator checkpoint.pt or run "
                                       "folder, a URL to one of these, or a registry entry by name. Writes "
                                       "$CLAIM_HOME/models/NAME (built aside, renamed into place at the end).")
    q.add_argument("source", help="FILE.zip, checkpoint.pt, FOLDER, URL (https://, file://) or a registry name")
    q.add_argument("--name", help="the name to install it as (default: the file's, folder's or entry's)")
    q.add_argument("--sha256", help="verify the file's SHA256 before installing (a registry entry's is used "
                                    "when it gives one)")
    q.add_argument("--registry", help="registry JSON file (default: $CLAIM_REGISTRY)")
    q.add_argument("--description", help="a line saying what the model is")
    q.add_argument("--overwrite", action="store_true", help="replace an installed model of the same name")
    q.set_defaults(func=cmd_install)

    q = actions.add_parser("list", help="installed models (and a registry's)",
                           description="Name, kind (segmenter or generator), labels, configuration and folds of "
                                       "every installed model, then a registry's entries not yet installed. "
                                       "Writes nothing.")
    q.add_argument("--registry", help="registry JSON file (default: $CLAIM_REGISTRY)")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(func=cmd_list)

    q = actions.add_parser("export", help="write a segmenter in nnU-Net's export zip format",
                           description="Write an installed segmenter (NAME or NAME:CONFIG) or an nnU-Net model folder "
                                       "as the zip nnU-Net's nnUNetv2_install_pretrained_model_from_zip installs. "
                                       "Writes --out only.")
    q.add_argument("model", help="installed NAME, or a model folder")
    q.add_argument("--out", type=Path, required=True, help="the zip file to write")
    q.set_defaults(func=cmd_export)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def cmd_install(args) -> int:
    from ..workflows.models import install_model

    record = install_model(args.source, name=args.name, sha256=args.sha256, registry=args.registry,
                           overwrite=args.overwrite, description=args.description)
    what = ", ".join(Path(f).name for f in record.get("folders", [])) or f"{record.get('config')} generator"
    print(f"installed {record['kind']} '{record['name']}' ({what}) in {record['path']}")
    return 0


def cmd_list(args) -> int:
    from ..model_home import models_dir
    from ..workflows.models import list_models

    rows = list_models(args.registry)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no models installed in {models_dir()}")
        return 0
    head = ("name", "kind", "labels", "configuration", "folds")
    table = [head] + [(r["name"] + ("" if r["installed"] else " (not installed)"), r["kind"], r["labels"],
                       r["configuration"], r["folds"]) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    return 0


def cmd_export(args) -> int:
    from ..workflows.models import export_model
    from .common import check_suffix

    check_suffix(args.out, (".zip",), "--out")
    print(f"wrote {export_model(args.model, args.out)}")
    return 0
