"""The model families, one folder each over the shared core (``ocrlab.lightning_modules``,
``ocrlab.datamodules``, ``ocrlab.metrics``, ...). A family folder holds what only that family
uses: its LightningModule, networks, label space, data module and readers of its own formats,
metric assembly, exports and workflow. Nothing outside ``ocrlab.families`` imports a family:
configs name its classes (``_target_``), and the shared code works through the base classes.

``moved_modules.json`` in a family folder maps module paths of earlier releases to today's, so
checkpoints and exports that name them (``_target_``) keep loading (:mod:`ocrlab.loading`).
"""
