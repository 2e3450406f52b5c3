"""Self-test of the whole extension inside Slicer: both modules load, build their panels and pass their tests.

Run it headless from the repository root (see Testing/README.md):
``Slicer --testing --no-main-window --additional-module-paths CLAIM SMILEMaskEditor
--python-script Testing/Python/CLAIMExtensionSelfTest.py``, through ctest, or in Slicer's Python console
(``exec(open(path).read())``). Exits with status 0 when every test passed.
"""
import unittest

import slicer

MODULES = ("CLAIM", "SMILEMaskEditor")


class CLAIMExtensionSelfTest(unittest.TestCase):
    def test_modules_load_and_pass(self):
        for name in MODULES:
            self.assertTrue(hasattr(slicer.modules, name.lower()), f"module {name} is not loaded")
            widget = slicer.util.getModuleWidget(name)  # builds the panel
            self.assertIsNotNone(widget)
            test = getattr(__import__(name), f"{name}Test")()
            test.runTest()  # every test of the module: Logic, panel, synthesis and segmentation with tiny models


if __name__ == "__main__":
    result = unittest.main(argv=["CLAIMExtensionSelfTest"], exit=False).result
    if slicer.app.commandOptions().noMainWindow:
        slicer.util.exit(0 if result.wasSuccessful() else 1)
