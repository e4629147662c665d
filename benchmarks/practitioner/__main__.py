"""``python -m benchmarks.practitioner ...``: the same command as ``nft-suite purify``."""
import sys

from .purify_cli import main

sys.exit(main(prog="python -m benchmarks.practitioner"))
