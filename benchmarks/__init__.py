"""The benchmark suite on top of ``core`` and ``tasks``, one sub-package per purpose:
``runner`` (presets, matrix, executors, sweeps, the ``run`` command), ``reporting`` (tables,
paper references, regression checks, plots), ``practitioner`` (``nft-suite purify`` and its
Python API) and ``studies`` (one-off analyses and figures). ``cli`` is the ``nft-suite``
console command. Imports run one way: studies -> runner -> reporting; nothing in ``core`` or
``tasks`` imports ``benchmarks``."""
