"""The ``claim`` subcommands, an edge: each family module (``cases``, ``models`` with ``model_parsers``) adds its
parsers and holds handlers that read arguments into checked plain objects (``common``), call a workflow (or one
core function), and write and print the outputs. Nothing here orchestrates: a sequence of core calls belongs in
``workflows/``. Only ``cli.py`` imports this package; nothing in the core or the workflows does.
"""
