"""The runner: presets (``presets/*.yaml``), the attack × defense × seed matrix, the executors
that run its cells, sweeps, and the ``run`` command line (``cli.py``)."""
