"""Reporting on finished runs: records to tables (``aggregate``, ``summary``, ``export``), the
paper's numbers beside ours (``reference`` and ``reference/``), regression checks against a
baseline (``regression``), plots and the penultimate features they draw (``plots``,
``features``). Reads records; never trains."""
