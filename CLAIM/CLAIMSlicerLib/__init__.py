"""Slicer side of CLAIM: converting MRML nodes to and from CLAIMLib objects, and the modules' Logic classes.

This package imports ``slicer`` and ``vtk`` (CLAIMLib never does). It runs inside 3D Slicer and, for the tests,
with the ``slicer-core`` package (real MRML classes, no GUI).
"""
