"""Command line: run an attack × defense × seed matrix and write records, summary and tables.

    python benchmarks/run.py --preset smoke
    python benchmarks/run.py --task synthetic --dataset synthetic --model tiny_cnn \
        --attacks blend,patch --defenses nft --seeds 0,1 --preset smoke --device cpu --out runs/x
    python benchmarks/run.py aggregate RUN_DIR [--out DIR]
    python benchmarks/run.py plot RUN_DIR [--out DIR]
    python benchmarks/run.py sweep NAME --preset quick [matrix flags] [--dry-run]
    python benchmarks/run.py compare RUN_DIR --baseline DIR_OR_CSV [--preset P] [--tolerance k=v]
    python benchmarks/run.py reproduce TABLE | --list [--smoke] [--scale quick]   (the paper's tables)
    python benchmarks/run.py --task X         (the task's own default preset)

Flags override the preset; ``--set defense_options.nft.iterations=200`` overrides any key.
Re-running the same command resumes: finished cells are skipped.

Exit codes: 0 done (defenses that cannot serve the task get ``unsupported`` records, written
before anything trains); 1 some cell failed (error records written, the rest finished);
2 bad input, or no requested defense can serve the task (nothing trained); 3 regression found (``--fail-on-regression`` / ``compare``);
130 interrupted (finished cells kept).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from benchmarks.reporting.regression import EXIT_REGRESSION
from benchmarks.runner.presets import load_preset
from core.config import ConfigError

EXIT_OK, EXIT_FAILED_CELLS, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
SUBCOMMANDS = ("aggregate", "plot", "sweep", "compare", "reproduce")
INPUT_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _seeds(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(t) for t in _csv(text) or []]
    except ValueError:
        raise SystemExit(f"--seeds expects integers like 0,1,2, got {text!r}") from None


def add_matrix_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", help="preset name or YAML path (default: the --task's own "
                        "default preset, else smoke)")
    parser.add_argument("--task")
    parser.add_argument("--dataset")
    parser.add_argument("--model")
    parser.add_argument("--attacks", help="comma-separated attack names")
    parser.add_argument("--defenses", help="comma-separated defense names, or 'all'")
    parser.add_argument("--seeds", help="comma-separated integers")
    parser.add_argument("--device", help="cpu, cuda or cuda:N")
    parser.add_argument("--data-root", type=Path, help="folder holding the prepared datasets")
    parser.add_argument("--out", type=Path, help="output folder (default runs/<preset>)")
    parser.add_argument("--cache-dir", type=Path, help="backdoored-model cache (default OUT/cache/models)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a preset key, e.g. train.epochs=5 (repeatable)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--post-purification", metavar="PROBES",
                        help="comma-separated post-purification probes after every defense "
                             "(ra: the Retuning Attack; qra: the query-based reactivation "
                             "attack, needs ra), or 'none'; default: the preset's")
    scale = parser.add_argument_group("scale-out (benchmarks/runner/executors.py)")
    scale.add_argument("--executor", choices=("local", "ray", "slurm"), default="local")
    scale.add_argument("--ray-address", help="Ray cluster address (default: a local instance)")
    scale.add_argument("--ray-num-cpus", type=int, help="CPUs of a local Ray instance")
    scale.add_argument("--ray-cpus-per-cell", type=float, default=1.0)
    scale.add_argument("--ray-gpus-per-cell", type=float,
                       help="GPUs per Ray task (default 1 with a CUDA device, else 0)")
    scale.add_argument("--slurm-cluster", choices=("slurm", "local", "debug"), default="slurm",
                       help="submitit backend: slurm, or local/debug to try it without SLURM")
    scale.add_argument("--slurm-option", action="append", default=[], metavar="KEY=VALUE",
                       help="submitit parameter, e.g. slurm_partition=gpu or timeout_min=600")
    scale.add_argument("--slurm-poll-s", type=float, default=10.0, help=argparse.SUPPRESS)
    check = parser.add_argument_group("regression (benchmarks/reporting/regression.py)")
    check.add_argument("--compare-to", type=Path, metavar="BASELINE",
                       help="baseline run folder or cells.csv to compare the run with")
    check.add_argument("--fail-on-regression", action="store_true",
                       help=f"exit {EXIT_REGRESSION} when a checked metric regressed")
    check.add_argument("--tolerance", action="append", default=[], metavar="STAGE.METRIC=VALUE",
                       help="override a tolerance, e.g. after.asr=2 or timings_s.defense=50%%")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="run.py", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_matrix_flags(parser)
    return parser.parse_args(argv)


def preset_name(args: argparse.Namespace) -> str:
    """``--preset``, else the ``--task``'s own default preset, else ``smoke``."""
    if args.preset:
        return args.preset
    if not args.task:
        return "smoke"
    from benchmarks.runner.task_defaults import default_preset

    return default_preset(args.task)


def _overrides(args: argparse.Namespace) -> dict:
    return {"task": args.task, "dataset": args.dataset, "model": args.model,
            "attacks": _csv(args.attacks), "defenses": _csv(args.defenses),
            "seeds": _seeds(args.seeds), "device": args.device,
            "post_purification": _probes(getattr(args, "post_purification", None))}


def _probes(text: str | None) -> list[str] | None:
    return [] if text is not None and text.strip() == "none" else _csv(text)


def _executor(args: argparse.Namespace, out: Path):
    from benchmarks.runner.executors import build_executor
    from benchmarks.runner.presets import parse_sets

    return build_executor(args.executor, out, {
        "ray_address": args.ray_address, "ray_num_cpus": args.ray_num_cpus,
        "ray_cpus_per_cell": args.ray_cpus_per_cell, "ray_gpus_per_cell": args.ray_gpus_per_cell,
        "slurm_cluster": args.slurm_cluster, "slurm_parameters": dict(parse_sets(args.slurm_option)),
        "slurm_poll_s": args.slurm_poll_s})


def _command(argv: list[str] | None) -> str:
    return "python benchmarks/run.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))


def run_matrix(preset, args: argparse.Namespace, out: Path, command: str) -> tuple[int, object]:
    """Run one matrix and write summary.md + tables; returns (exit code, outcome)."""
    from benchmarks.reporting.aggregate import aggregate, terminal_table
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.reporting.summary import write_summary

    runner = MatrixRunner(preset, out, args.data_root, args.cache_dir,
                          progress=not args.no_progress, command=command)
    try:
        outcome = runner.run(_executor(args, out))
    except KeyboardInterrupt:
        print("\ninterrupted: finished cells are kept; run the same command again to resume",
              file=sys.stderr)
        if (out / "records").exists():
            write_summary(out)
        return EXIT_INTERRUPTED, None
    summary = write_summary(out)
    tables = aggregate(out)
    if tables.cells:
        print(terminal_table(tables.cells))
    refused = f", {len(outcome.unsupported)} unsupported" if outcome.unsupported else ""
    print(f"{len(outcome.written)} cell(s) written, {len(outcome.skipped)} already done, "
          f"{len(outcome.errors)} failed{refused}; records under {out / 'records'}, summary {summary}, "
          f"tables {tables.files[0]}")
    return (EXIT_FAILED_CELLS if outcome.errors else EXIT_OK), outcome


def regression_exit(run_dir: Path, baseline: Path, tolerances: dict, fail: bool) -> int:
    from benchmarks.reporting.regression import check

    report = check(run_dir, baseline, tolerances)
    print(report.render(), end="")
    return EXIT_REGRESSION if fail and report.failed else EXIT_OK


def main_matrix(argv: list[str] | None) -> int:
    args = parse_args(argv)
    try:
        from benchmarks.runner.preset_groups import group_presets, is_group

        name = preset_name(args)
        if is_group(name):       # several presets (tasks) into one folder: runner/preset_groups.py
            group, presets = group_presets(name, _overrides(args), args.set)
            block, out = group.regression, args.out or Path("runs") / group.name
        else:
            presets = [load_preset(name, _overrides(args), args.set)]
            block, out = presets[0].regression, args.out or Path("runs") / presets[0].name
        tolerances = None
        if args.compare_to is not None or args.tolerance:
            from benchmarks.reporting.regression import tolerances_from

            tolerances = tolerances_from(block or None, args.tolerance)
            if args.compare_to is not None and not args.compare_to.exists():
                raise FileNotFoundError(f"--compare-to {args.compare_to} not found")
        if len(presets) > 1:    # every part resolved before the first one trains
            from benchmarks.runner.matrix import MatrixRunner

            for preset in presets:
                MatrixRunner(preset, out, args.data_root, progress=False).validate()
        code = EXIT_OK
        for preset in presets:
            part_code, _ = run_matrix(preset, args, out, _command(argv))
            if part_code == EXIT_INTERRUPTED:
                return part_code
            code = max(code, part_code)
        if code == EXIT_INTERRUPTED or args.compare_to is None:
            return code
        regressed = regression_exit(out, args.compare_to, tolerances, args.fail_on_regression)
        return regressed if regressed != EXIT_OK else code
    except INPUT_ERRORS as exc:
        if args.preset is None and args.task:   # `--task X` alone: one line, with the fix
            from benchmarks.runner.task_defaults import one_line

            exc = one_line(exc)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def main_aggregate(argv: list[str]) -> int:
    from benchmarks.reporting.aggregate import aggregate

    parser = argparse.ArgumentParser(prog="run.py aggregate",
                                     description="mean ± std tables of a run (Markdown + CSV)")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="default RUN_DIR/tables")
    args = parser.parse_args(argv)
    try:
        result = aggregate(args.run_dir, args.out)
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.markdown)
    print("written: " + ", ".join(str(p) for p in result.files))
    return EXIT_OK


def main_plot(argv: list[str]) -> int:
    from benchmarks.reporting.plots import plot_run

    parser = argparse.ArgumentParser(prog="run.py plot", description="figures of a run (PNG)")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, help="default RUN_DIR/plots")
    args = parser.parse_args(argv)
    try:
        paths = plot_run(args.run_dir, args.out)
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print("\n".join(str(p) for p in paths))
    return EXIT_OK


def main_compare(argv: list[str]) -> int:
    from benchmarks.reporting.regression import tolerances_from

    parser = argparse.ArgumentParser(prog="run.py compare",
                                     description="regression check of a finished run")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--baseline", type=Path, required=True, help="run folder or cells.csv")
    parser.add_argument("--preset", help="take the tolerances from this preset's regression block")
    parser.add_argument("--tolerance", action="append", default=[], metavar="STAGE.METRIC=VALUE")
    args = parser.parse_args(argv)
    try:
        from benchmarks.runner.preset_groups import regression_block

        block = regression_block(args.preset) if args.preset else None
        tolerances = tolerances_from(block or None, args.tolerance)
        return regression_exit(args.run_dir, args.baseline, tolerances, fail=True)
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def main_sweep(argv: list[str]) -> int:
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.sweeps import expand, sweep_tables

    parser = argparse.ArgumentParser(prog="run.py sweep",
                                     description="run a named sweep (benchmarks/runner/sweeps/NAME.yaml)")
    parser.add_argument("sweep", help="sweep name or YAML path")
    parser.add_argument("--dry-run", action="store_true", help="resolve and validate only")
    add_matrix_flags(parser)
    args = parser.parse_args(argv)
    try:
        args.preset = preset_name(args)
        name, spec, runs = expand(args.sweep, args.preset, _overrides(args), args.set)
        base = args.out or Path("runs") / "sweeps" / name / Path(args.preset).stem
        for run in runs:      # every run validated before the first one starts
            MatrixRunner(run.preset, base / run.name, args.data_root, progress=False).validate()
    except INPUT_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"sweep {name}: {spec.description}; {len(runs)} run(s) under {base}")
    for run in runs:
        print(f"  {run.name}: " + ", ".join(f"{k}={v}" for k, v in run.assignments))
    if args.dry_run:
        return EXIT_OK
    worst = EXIT_OK
    for i, run in enumerate(runs, 1):
        print(f"\n== sweep {name}: run {i}/{len(runs)} {run.name}")
        try:
            code, _ = run_matrix(run.preset, args, base / run.name, _command(argv))
        except INPUT_ERRORS as exc:
            print(f"error in run {run.name}: {exc}", file=sys.stderr)
            code = EXIT_FAILED_CELLS
        if code == EXIT_INTERRUPTED:
            return code
        worst = max(worst, code)
    md, csv_path = sweep_tables(base, runs)
    print(md.read_text())
    print(f"sweep tables: {md}, {csv_path}")
    return worst


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        try:
            if args[0] == "reproduce":      # the paper's tables: runner/reproduce.py
                from benchmarks.runner.reproduce import main as main_reproduce

                return main_reproduce(args[1:])
            return {"aggregate": main_aggregate, "plot": main_plot, "sweep": main_sweep,
                    "compare": main_compare}[args[0]](args[1:])
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return main_matrix(argv)


if __name__ == "__main__":
    sys.exit(main())
