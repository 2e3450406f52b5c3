"""Helpers of the modules' self-tests (``CLAIMTest``, ``SMILEMaskEditorTest``): running them anywhere, the sample
phantom, waiting for panel jobs, and tiny models trained on the fly.

The self-tests' Logic tests run in Slicer and, with slicer-core, under pytest; their panel tests need the Slicer
application and skip elsewhere with ``NO_SLICER`` as the reason. What the panels do (``handlers``) is tested in
pytest with a fake Logic (tests/test_slicer_handlers.py); these in-application tests add the real widgets and jobs.
"""
from __future__ import annotations

import logging
import os
import time
import unittest

import slicer

NO_SLICER = ("needs the 3D Slicer application (slicer.app) to build the module panel; run it with "
             "Slicer --testing --no-main-window --python-script Testing/Python/CLAIMExtensionSelfTest.py "
             "(see Testing/README.md)")


def inSlicerApplication() -> bool:
    """True inside the 3D Slicer application (``slicer.app``); False with slicer-core in plain Python (CI)."""
    return getattr(slicer, "app", None) is not None


def requireSlicerApplication(testCase: unittest.TestCase) -> None:
    if not inSlicerApplication():
        testCase.skipTest(NO_SLICER)


def runAll(testCase: unittest.TestCase, tests) -> None:
    """``runTest`` of a ScriptedLoadableModuleTest: each test after ``setUp``; a skipped one is logged (Slicer's
    Reload & Test calls ``runTest`` directly, not through a unittest runner)."""
    for test in tests:
        testCase.setUp()
        try:
            test()
        except unittest.SkipTest as e:
            logging.warning(f"{test.__name__} skipped: {e}")


def loadSamplePhantom():
    """The CLAIM phantom through Sample Data (registered by the CLAIM module): (volume node, labels node)."""
    import SampleData

    from .sampledata import SAMPLE_NAME, registerSampleData

    registerSampleData()  # done at startup; again is a no-op (SampleData skips a registered source)
    source = SampleData.SampleDataLogic().sourceForSampleName(SAMPLE_NAME)
    nodes = source.customDownloader(source)
    volume = next(n for n in nodes if n.IsA("vtkMRMLScalarVolumeNode"))
    labels = next(n for n in nodes if n.IsA("vtkMRMLSegmentationNode"))
    return volume, labels


def waitFor(controller, timeout: float = 600) -> None:
    """Process events until a ``widgets.JobController``'s job ends (the panel's timer polls it meanwhile)."""
    deadline = time.monotonic() + timeout
    while controller.running:
        if time.monotonic() > deadline:
            controller.cancel()
            raise TimeoutError("the job did not finish in time")
        slicer.app.processEvents()
        time.sleep(0.05)


def claim(*args, timeout: float = 1800) -> None:
    """Run ``claim ARGS`` in a child process (PythonSlicer inside Slicer), raising with its one-line error."""
    from CLAIMLib.runner import library_env, run

    from .jobs import claim_argv

    end = run(claim_argv(*args), env=library_env(), timeout=timeout)
    if end["returncode"] != 0:
        raise RuntimeError(end["error"])


def tinyDiffusionModel() -> str:
    """A diffusion checkpoint: ``$CLAIM_TEST_DIFFUSION_MODEL``, or the tiny config trained now (60 steps)."""
    given = os.environ.get("CLAIM_TEST_DIFFUSION_MODEL")
    if given:
        return given
    from .jobs import temporary_folder

    work = temporary_folder("claim-test-diffusion-")
    claim("phantom", "--out", work / "cohort", "--cases", 4, "--seed", 3, "--normal-fraction", 0)
    claim("train-diffusion", "--data", work / "cohort", "--out", work / "run", "--config", "tiny", "--steps", 60,
          "--sample-every", 0)
    return str(work / "run" / "checkpoint.pt")


def tinyNNUNetModel() -> str:
    """An nnU-Net model folder: ``$CLAIM_TEST_NNUNET_MODEL``, or CLAIM's 3-epoch trainer on phantoms, trained now."""
    given = os.environ.get("CLAIM_TEST_NNUNET_MODEL")
    if given:
        return given
    from .jobs import temporary_folder

    work = temporary_folder("claim-test-nnunet-")
    claim("phantom", "--out", work / "cases", "--cases", 6, "--seed", 61, "--normal-fraction", 0.2)
    claim("export-nnunet", "--cases", work / "cases", "--id", 42, "--name", "Phantoms", "--raw", work / "nnUNet_raw")
    claim("train-seg", "--dataset", 42, "--root", work, "--fold", "all", "--trainer", "nnUNetTrainerCLAIMShort",
          "--device", "cpu")
    return str(work / "nnUNet_results" / "Dataset042_Phantoms" / "nnUNetTrainerCLAIMShort__nnUNetPlans__2d")
