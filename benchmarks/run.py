"""Command line: run an attack × defense × seed matrix and write records + summary.md.

    python benchmarks/run.py --preset smoke
    python benchmarks/run.py --task synthetic --dataset synthetic --model tiny_cnn \
        --attacks blend,patch --defenses nft --seeds 0,1 --preset smoke --device cpu --out runs/x

Flags override the preset; ``--set defense_options.nft.iterations=200`` overrides any key.
Re-running the same command resumes: finished cells are skipped.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script from a checkout: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.matrix import MatrixRunner            # noqa: E402
from benchmarks.presets import load_preset            # noqa: E402
from benchmarks.summary import write_summary          # noqa: E402


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _seeds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(t) for t in _csv(text) or []]
    except ValueError:
        raise SystemExit(f"--seeds expects integers like 0,1,2, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="smoke", help="preset name or YAML path")
    parser.add_argument("--task")
    parser.add_argument("--dataset")
    parser.add_argument("--model")
    parser.add_argument("--attacks", help="comma-separated attack names")
    parser.add_argument("--defenses", help="comma-separated defense names")
    parser.add_argument("--seeds", help="comma-separated integers")
    parser.add_argument("--device", help="cpu, cuda or cuda:N")
    parser.add_argument("--data-root", type=Path, help="folder holding the prepared datasets")
    parser.add_argument("--out", type=Path, help="output folder (default runs/<preset>)")
    parser.add_argument("--cache-dir", type=Path, help="backdoored-model cache (default OUT/cache/models)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset key, e.g. train.epochs=5 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides = {"task": args.task, "dataset": args.dataset, "model": args.model,
                 "attacks": _csv(args.attacks), "defenses": _csv(args.defenses),
                 "seeds": _seeds(args.seeds), "device": args.device}
    out: Path | None = None
    try:
        preset = load_preset(args.preset, overrides, args.set)
        out = args.out or Path("runs") / preset.name
        command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in
                                                         (argv if argv is not None else sys.argv[1:]))
        runner = MatrixRunner(preset, out, args.data_root, args.cache_dir,
                              progress=not args.no_progress, command=command)
        outcome = runner.run()
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished cells are kept; run the same command again to resume",
              file=sys.stderr)
        if out is not None and (out / "records").exists():
            write_summary(out)
        return 130
    summary = write_summary(out)
    print(summary.read_text())
    print(f"{len(outcome.written)} cell(s) written, {len(outcome.skipped)} already done, "
          f"{len(outcome.errors)} failed; records under {out / 'records'}, summary {summary}")
    return 1 if outcome.errors else 0


if __name__ == "__main__":
    sys.exit(main())
