"""Workflows: one public function per user operation, composed from the core and returning plain records.

Here live the operations a user asks for by name: a case's AHA-17 labels with every orientation source
(``aha``), SMILE masks for a case (``masks``), per-segment scar tables and bull's-eye figures, for one case or truth
against prediction (``tables``), synthesis of a case and of a cohort (``synthesis``), training nnU-Net, segmenting
images and evaluating predictions (``segmentation``), phantom cohorts (``cohorts``), the paper's Table-2 experiment
(``experiment``) and the demo (``demo``). Each takes Cases, arrays and records, never argparse namespaces or MRML
nodes, and writes files only when its job is a file job (a dataset, a run folder, a figure it was asked for).

Who may import what: the edges (``cli.py`` and ``commands/``, and the Slicer layer ``CLAIMSlicerLib``) import
workflows; a workflow imports the core (``io``, ``labels``, ``aha``, ``smile``, ``quantify``, ``bullseye``,
``diffusion``, ``segmentation``, ``joint`` ...) and other workflows; the core never imports a workflow or an edge.
Heavy dependencies (torch, nnU-Net, matplotlib) are imported inside the functions that need them.
"""
