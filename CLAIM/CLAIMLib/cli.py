"""The ``claim`` command: argument parsing and error reporting only; the work lives in the library.

Exit statuses: 0 done; 1 an internal error (a bug: one line, the traceback with CLAIM_DEBUG=1); 2 bad input (one
line, ``claim: error: <file or option>: <problem>``); 130 interrupted (Ctrl-C). Whatever the status, a command that
did not succeed leaves nothing at its output paths (``outputs.transaction``); an interrupted resumable run keeps its
last checkpoint for ``--resume``. SIGTERM keeps its default (the process ends at once, as with SIGKILL): a Python
handler for it is inherited by forked pool workers and hangs the pools' shutdown (nnU-Net's planning uses them).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__
from .errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other bad input
        self.exit(2, f"claim: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``claim`` parser; each command family adds its subcommands (``commands.cases``, ``commands.models``)."""
    from .commands import cases, models, scar, store

    parser = _Parser(prog="claim", description="CLAIM: clinically guided LGE scar synthesis and segmentation.")
    parser.add_argument("--version", action="version", version=f"claim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    cases.add_parsers(sub)
    scar.add_parsers(sub)
    models.add_parsers(sub)
    store.add_parsers(sub)
    for command in sub.choices.values():  # every command that reads images also reads DICOM series folders
        if {a.dest for a in command._actions} & IMAGE_INPUTS:
            command.add_argument("--series", metavar="UID", help="the DICOM series to read from an image folder "
                                                                 "holding several (their UIDs are listed when "
                                                                 "it is missing)")
        if command.prog.split()[-1] in VERBOSE_COMMANDS:
            command.add_argument("--verbose", action="store_true",
                                 help="show nnU-Net's own output (configuration dumps, epoch logs) on the terminal")
    return parser


# Commands that run nnU-Net, whose own output goes to a log unless --verbose.
VERBOSE_COMMANDS = {"train-seg", "segment", "demo", "experiment", "train-joint"}
# The options through which a command reads images (a DICOM series folder works in each).
IMAGE_INPUTS = {"image", "paths", "cases", "data", "pathological", "normal", "reference", "emidec"}


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already reported in one line
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .dicom import selected_series

    if getattr(args, "verbose", False):
        os.environ["CLAIM_VERBOSE"] = "1"
    from .outputs import transaction
    from .progress import ctrl_c

    try:
        with selected_series(getattr(args, "series", None)), transaction(), ctrl_c():
            return int(args.func(args) or 0)
    except InputError as e:
        print(f"claim: error: {e.source}: {e.problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resumable = getattr(args, "resume", None) is not None
        print("claim: interrupted" + ("; a run that reached a checkpoint goes on with --resume" if resumable else
                                      "; nothing was written"), file=sys.stderr)
        return 130
    except Exception as e:  # a bug, not bad input: one line, the traceback only on request
        if os.environ.get("CLAIM_DEBUG"):
            raise
        print(f"claim: internal error: {type(e).__name__}: {' '.join(str(e).split())} "
              f"(set CLAIM_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
