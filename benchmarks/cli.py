"""The ``nft-suite`` console command (declared in ``pyproject.toml``).

    nft-suite purify ...   # purify a model you hold (benchmarks/practitioner/purify_cli.py;
                           # --help for flags)
    nft-suite run ...      # the benchmark matrix (benchmarks/runner/cli.py, also typed as
                           # python benchmarks/run.py: presets, aggregate, plot, sweep, compare)
"""
from __future__ import annotations

import sys

USAGE = """usage: nft-suite {purify,run} [options]

  purify   purify a (possibly backdoored) image classifier you hold with NFT or another
           defense, and write it back in the form it came in (nft-suite purify --help)
  run      run the benchmark matrix: attacks x defenses x seeds (nft-suite run --help);
           also run aggregate | plot | sweep | compare
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE, end="")
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "purify":
        from benchmarks.practitioner.purify_cli import main as purify_main

        return purify_main(rest, prog="nft-suite purify")
    if command == "run":
        from benchmarks.runner.cli import main as run_main

        return run_main(rest)
    print(f"nft-suite: unknown command {command!r}\n{USAGE}", file=sys.stderr, end="")
    return 2


if __name__ == "__main__":
    sys.exit(main())
