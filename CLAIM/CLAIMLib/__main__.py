"""``python -m CLAIMLib ...`` is the same as ``claim ...`` (Slicer runs ``PythonSlicer -m CLAIMLib``)."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
