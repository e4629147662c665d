"""``python benchmarks/run.py ...``: the benchmark runner's command line, as the README types it.

The runner itself is ``benchmarks/runner/cli.py`` (``python -m benchmarks.runner`` and
``nft-suite run`` are the same command). Run as a script, Python puts this folder, not the
repository, on the import path; instead of editing ``sys.path`` this script hands over to
``python -m benchmarks.runner`` with its own checkout first on ``PYTHONPATH``, so a checkout
runs its own code whether the suite is pip-installed (from it or from another checkout) or not.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def command(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``python -m benchmarks.runner`` command and environment that this script runs."""
    root = str(Path(__file__).resolve().parent.parent)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *paths]))
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []   # keep the working folder off
    return [sys.executable, *safe_path, "-m", "benchmarks.runner", *argv], env


if __name__ == "__main__":
    args, environment = command(sys.argv[1:])
    if os.name == "posix":
        os.execve(sys.executable, args, environment)    # same process: signals and exit code
    sys.exit(subprocess.call(args, env=environment))
