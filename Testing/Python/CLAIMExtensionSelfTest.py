"""Self-test of the whole extension inside Slicer: both modules load, show their panels and pass their tests.

Run it in Slicer's Python console (``exec(open(path).read())``), through ctest, or headless:
``Slicer --no-main-window --python-script Testing/Python/CLAIMExtensionSelfTest.py``.
"""
import unittest

import slicer


class CLAIMExtensionSelfTest(unittest.TestCase):
    def test_modules_load_and_pass(self):
        for name in ("CLAIM", "SMILEMaskEditor"):
            self.assertTrue(hasattr(slicer.modules, name.lower()), f"module {name} is not loaded")
            widget = slicer.util.getModuleWidget(name)  # builds the panel
            self.assertIsNotNone(widget)
            test = getattr(__import__(name), f"{name}Test")()
            test.runTest()


if __name__ == "__main__":
    result = unittest.main(argv=["CLAIMExtensionSelfTest"], exit=False).result
    if slicer.app.commandOptions().noMainWindow:
        slicer.util.exit(0 if result.wasSuccessful() else 1)
