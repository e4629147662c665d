"""``python -m benchmarks.runner ...`` (what ``python benchmarks/run.py`` runs)."""
import sys

from .cli import main

sys.exit(main())
