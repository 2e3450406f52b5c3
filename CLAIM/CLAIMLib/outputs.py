"""What a command writes, under one discipline (``transaction``):

- every output is declared and checked (suffix, folder or file, writable) before any work starts;
- a declared file is written under a temporary name in its final folder and renamed into place only when the whole
  command has succeeded; on failure the temporaries, and the folders the command made for them, are removed;
- a folder output (a dataset, a run folder) that exists already is an error unless the command resumes it or
  overwrites it. An overwritten folder is moved aside and comes back if the command fails; a folder the command
  made is removed when it fails, unless it is a resumable run that holds a checkpoint (then ``--resume`` goes on).

Outside a transaction (the library used from Python) the checks still apply and every write is atomic on its own.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

_active: ContextVar = ContextVar("claim_outputs", default=None)


@dataclass
class _Folder:
    path: Path
    made: bool                 # this command creates it (it did not exist, or was empty)
    aside: Path | None = None  # the overwritten folder, moved aside until the command succeeds
    keep: object = None        # resumable: callable(path) -> True when the folder holds progress worth keeping
    was_empty: bool = False    # it existed, empty, before the command


@dataclass
class Transaction:
    files: dict = field(default_factory=dict)    # final path -> option, declared outputs
    staged: list = field(default_factory=list)   # (temporary, final), written and waiting for the commit
    made_dirs: list = field(default_factory=list)
    folders: list = field(default_factory=list)

    def commit(self) -> None:
        for tmp, final in self.staged:
            os.replace(tmp, final)
        self.staged.clear()
        for f in self.folders:
            if f.aside is not None:
                shutil.rmtree(f.aside, ignore_errors=True)

    def rollback(self) -> None:
        for tmp, _ in self.staged:
            _remove(tmp)
        self.staged.clear()
        for f in reversed(self.folders):
            keep = f.keep is not None and f.path.is_dir() and f.keep(f.path)
            if f.aside is not None:
                _remove(f.path)
                os.replace(f.aside, f.path)
            elif f.made and not keep:
                _remove(f.path)
                if f.was_empty:  # the user's empty folder stays, empty
                    f.path.mkdir(exist_ok=True)
        for d in sorted(self.made_dirs, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                d.rmdir()  # only when empty: a folder something else wrote into stays


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def transaction():
    """Run a command's work: declared files are renamed into place at the end, or everything is undone."""
    tx = Transaction()
    token = _active.set(tx)
    try:
        yield tx
    except BaseException:
        tx.rollback()
        raise
    else:
        tx.commit()
    finally:
        _active.reset(token)


# ------------------------------------------------------------------------------------------------ declaring outputs
def _existing_ancestor(path: Path) -> Path:
    p = path.absolute().parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_writable(path, option: str | None = None) -> None:
    """InputError unless ``path`` can be created: its nearest existing folder is a folder we can write in."""
    path = Path(path)
    where = _existing_ancestor(path)
    if not where.is_dir():
        raise InputError(path, f"cannot be written: {where} is not a folder")
    try:  # the real test (permissions, read-only file systems, running as root)
        fd, probe = tempfile.mkstemp(prefix=".claim-probe-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(path, f"cannot be written: {where} is not writable ({e.strerror or e})") from None


def output_file(path, option: str, suffixes=None) -> Path:
    """Declare an output file: checked now (suffix, not a folder, writable), written at the end of the command."""
    path = Path(path)
    if suffixes and not any(str(path).lower().endswith(s) for s in suffixes):
        raise InputError(path, f"{option} must end with {' or '.join(suffixes)}")
    if path.is_dir():
        raise InputError(path, f"{option} is a folder; give a file name")
    check_writable(path, option)
    tx = _active.get()
    if tx is not None:
        key = path.absolute()
        if key in tx.files and tx.files[key] != option:
            raise InputError(path, f"{option} names the same file as {tx.files[key]}")
        tx.files[key] = option
    return path


def output_folder(path, option: str, *, resume: bool = False, overwrite: bool = False, keep=None,
                  resumable: bool = False) -> Path:
    """Declare an output folder. One that exists and is not empty needs ``resume`` (continue it) or ``overwrite``
    (replace it; the old one comes back if the command fails). ``keep(path)``: for a resumable run, True when a
    failed or interrupted run leaves progress worth resuming (its checkpoint)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(path, f"{option} exists and is not a folder")
    if resume and overwrite:
        raise InputError("--overwrite", "give either --resume or --overwrite, not both")
    check_writable(path, option)
    busy = path.is_dir() and any(path.iterdir())
    aside = None
    if busy and not resume:
        if not overwrite:
            hint = "--resume to continue it or --overwrite to replace it" if resumable else "--overwrite to replace it"
            raise InputError(path, f"{option} exists and is not empty; give {hint}")
        aside = path.with_name(f".old-{uuid.uuid4().hex[:8]}-{path.name}")
        os.replace(path, aside)
    made = not busy or aside is not None
    tx = _active.get()
    if tx is not None:
        missing = []
        p = path.absolute().parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        tx.made_dirs.extend(missing)
        tx.folders.append(_Folder(path, made, aside, keep, was_empty=path.is_dir() and aside is None and not busy))
    elif aside is not None:  # no transaction to undo with: the replaced folder goes now
        shutil.rmtree(aside, ignore_errors=True)
    return path


@contextlib.contextmanager
def staged(path):
    """A temporary path beside ``path``: renamed onto it at once, or at the end of the command when ``path`` was
    declared with ``output_file`` in the running transaction."""
    path = Path(path)
    tx = _active.get()
    deferred = tx is not None and path.absolute() in tx.files
    if deferred:
        p = path.absolute().parent
        while not p.exists():
            tx.made_dirs.append(p)
            p = p.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield tmp
        if deferred:
            tx.staged.append((tmp, path))
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def has_file(*names):
    """A ``keep`` rule: the folder holds one of these files (at any depth)."""
    def keep(folder: Path) -> bool:
        return any(next(folder.rglob(n), None) is not None for n in names)

    return keep


RUN_SETTINGS = ".claim-run.json"


def check_run_settings(folder, settings: dict, names: dict | None = None) -> None:
    """A resumable run's settings, kept in its folder: the first run writes them, a resumed run must match them
    (InputError naming the option that differs), so that one run never mixes two sets of settings."""
    import json

    folder = Path(folder)
    settings = json.loads(json.dumps(settings, default=str))
    path = folder / RUN_SETTINGS
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
        for key, value in settings.items():
            if key in old and old[key] != value:
                option = (names or {}).get(key, f"--{key.replace('_', '-')}")
                raise InputError(option, f"is {value!r} here but {old[key]!r} in the run being resumed in {folder}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    with staged(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=1))
