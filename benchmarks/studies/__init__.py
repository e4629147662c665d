"""One-off studies and figures behind files in ``results/``: each module is a script run with
``python -m benchmarks.studies.NAME`` (its docstring has the command) that uses the runner and
the tasks; nothing in the suite imports them."""
