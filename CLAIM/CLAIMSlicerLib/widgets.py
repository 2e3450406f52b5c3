"""Qt building blocks shared by the CLAIM and SMILEMaskEditor module panels.

Written against Slicer's ``qt`` module (PythonQt) using only what PySide6 also has (setters as methods, getters
through ``qtcompat.value``), so that ``JobController`` is tested for real under PySide6 (``tests/qt_shim.py``).
What the panels do with these lives in ``handlers``; this module only shows things.
"""
from __future__ import annotations

import qt

from .jobs import oneLine
from .qtcompat import enum, value
from .signals import Signal


# What a progress line may carry beside its stage (nnU-Net training: epoch, loss, pseudo-Dice, ETA), as shown.
DETAILS = (("epoch", "epoch {}"), ("loss", "loss {}"), ("pseudo_dice", "pseudo-Dice {}"), ("eta_s", "ETA {:.0f} s"))


class JobController:
    """Runs one ``jobs.CommandJob`` at a time in a child process and follows it with a ``qt.QTimer``.

    While a job runs, the Apply button reads "Cancel" (the module's click handler calls ``cancel`` when ``running``),
    the progress bar is busy until the job reports progress and then shows it, and the status label shows the stage.
    At the end the job's ``finish()`` reads the outputs into new nodes, ``onSuccess(result)`` is called, and the
    status says so; a failure shows its one-line error and calls ``onFailure(message)``. ``cancel()`` kills the
    process tree (``CLAIMLib.runner.ProcessRunner``); ``finish()`` never runs then, so the scene stays as it was.
    The job's temporary folder is removed in every case.

    Two ``signals.Signal`` objects report to the layers above without Qt: ``progressed(fraction, stage)`` for each
    progress event, and ``finished(result, error)`` once per job however it ended (``result`` None unless it
    succeeded, ``error`` the one-line message of a failure, both None when cancelled).
    """

    def __init__(self, button, progressBar, statusLabel, interval_ms: int = 100, runner=None,
                 cancelText: str = "Cancel"):
        from CLAIMLib.runner import ProcessRunner

        self.button, self.progressBar, self.statusLabel = button, progressBar, statusLabel
        self.runner = runner if runner is not None else ProcessRunner()
        self.cancelText = cancelText
        self.applyText = value(button, "text")
        self.job = None
        self.result = None
        self.error: str | None = None
        self._onSuccess = self._onFailure = None
        self.progressed = Signal("fraction", "stage")
        self.finished = Signal("result", "error")
        self.timer = qt.QTimer()
        self.timer.setInterval(int(interval_ms))
        self.timer.timeout.connect(self.poll)
        self.progressBar.setVisible(False)

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, job, onSuccess=None, onFailure=None) -> bool:
        """Start ``job``; returns False (and reports the error) when it cannot be started."""
        if self.running:
            raise RuntimeError("a job is already running")
        self.result, self.error = None, None
        self._onSuccess, self._onFailure = onSuccess, onFailure
        try:
            job.start(self.runner)
        except Exception as e:  # e.g. PythonSlicer not found
            job.cleanup()
            self._fail(f"{job.title}: cannot start ({oneLine(e)})")
            self.finished.emit(None, self.error)
            return False
        self.job = job
        self.button.setText(self.cancelText)
        self.button.setEnabled(True)
        self.progressBar.setRange(0, 0)  # busy until the job reports progress
        self.progressBar.setVisible(True)
        self.statusLabel.setText(f"{job.title}: starting")
        self.timer.start()
        return True

    def cancel(self) -> None:
        """Kill the running job's process tree; its outputs are removed and nothing enters the scene."""
        if not self.running:
            return
        self.runner.cancel()
        self.poll()

    def poll(self) -> None:
        """Handle the job's events (called by the timer)."""
        if not self.running:
            self.timer.stop()
            return
        for event in self.runner.poll():
            if event["type"] == "progress":
                self.progressBar.setRange(0, 100)
                self.progressBar.setValue(int(round(100 * event["progress"])))
                stage = event.get("stage") or self.job.title
                details = "".join(", " + shown.format(event[key]) for key, shown in DETAILS if event.get(key) is not None)
                self.statusLabel.setText(f"{self.job.title}: {stage} ({100 * event['progress']:.0f}%{details})")
                self.progressed.emit(float(event["progress"]), stage)
            elif event["type"] == "finished":
                self._finished(event)
                return

    def _finished(self, event) -> None:
        job, self.job = self.job, None
        self.timer.stop()
        self.button.setText(self.applyText)
        self.progressBar.setVisible(False)
        try:
            if event["cancelled"]:
                self.statusLabel.setText(f"{job.title}: cancelled")
                return
            if event["returncode"] != 0:
                self._fail(event["error"] or f"{job.title}: exited with status {event['returncode']}")
                return
            try:
                self.result = job.finish()
            except Exception as e:
                self._fail(oneLine(e))
                return
            self.statusLabel.setText(f"{job.title}: done")
            if self._onSuccess is not None:
                self._onSuccess(self.result)
        finally:
            job.cleanup()
            self.finished.emit(self.result, self.error)

    def _fail(self, message: str) -> None:
        self.error = oneLine(message)
        self.statusLabel.setText(self.error)
        if self._onFailure is not None:
            self._onFailure(self.error)


def showImage(label, path, width: int | None = None) -> None:
    """Show a PNG in a QLabel, scaled to ``width`` pixels (default: the label's width)."""
    pixmap = qt.QPixmap(str(path))
    if pixmap.isNull():
        label.setText(f"cannot read {path}")
        return
    w = int(width or max(200, value(label, "width")))
    label.setPixmap(pixmap.scaledToWidth(w, enum(qt.Qt, "SmoothTransformation", "TransformationMode")))


SETTINGS_PREFIX = "CLAIM/"


def rememberedPath(key: str) -> str:
    """A path remembered across sessions (Slicer's settings), or ""."""
    value = qt.QSettings().value(SETTINGS_PREFIX + key, "")
    return str(value) if value else ""


def rememberPath(key: str, path) -> None:
    text = str(path) if path else ""
    if text and text != ".":
        qt.QSettings().setValue(SETTINGS_PREFIX + key, text)


def ensureDependencies(group: str) -> bool:
    """Install the packages ``group`` needs after asking (``dependencies.ensure``); False when declined."""
    import slicer

    from . import dependencies

    return dependencies.ensure(group, confirm=lambda message: slicer.util.confirmOkCancelDisplay(
        message, "CLAIM: install Python packages"))

