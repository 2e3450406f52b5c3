"""Joint training (CLAIM(J)) headless, in 3D Slicer's Python or in any Python with CLAIMLib:

    Slicer --no-splash --no-main-window --python-script <CLAIM module folder>/Resources/train_joint.py -- --config FILE [--resume] [--steps N]
    python <CLAIM module folder>/Resources/train_joint.py --config FILE

It runs exactly ``claim train-joint`` and exits with its status (0 done, 2 bad input with a one-line message,
1 any other failure), so batch systems see failures.
"""
import os
import sys
import traceback


def main(argv) -> int:
    module_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if module_dir not in sys.path:
        sys.path.insert(0, module_dir)  # the CLAIM module folder holds CLAIMLib
    from CLAIMLib.cli import main as claim

    return claim(["train-joint", *argv])


def _arguments(argv):
    """The script's own arguments: those after ``--`` when Slicer passes them so, else all."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv


if __name__ == "__main__":
    try:
        code = main(_arguments(sys.argv[1:]))
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - report anything and fail
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)
