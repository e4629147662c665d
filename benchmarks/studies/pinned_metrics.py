"""Same seeds, same numbers: re-run pinned configurations and compare every record's metrics
with the values recorded at a reference commit (``tests/pinned/metrics.json``).

    python -m benchmarks.studies.pinned_metrics                      # every pinned run
    python -m benchmarks.studies.pinned_metrics --only smoke_all,text_smoke
    python -m benchmarks.studies.pinned_metrics --data-root data     # quick_like needs CIFAR-10

Pinned runs (recorded at f8af062, before issue 13's core changes; 2-core CPU shared with other
jobs, torch 2.11.0, one thread):

* ``smoke_all``: the smoke preset with all twelve defenses (``--defenses all`` at f8af062's names);
* ``text_smoke``: the text smoke preset with NFT and FT;
* ``quick_like``: the old ``quick`` image configuration (CIFAR-10, small_cnn) shrunk to CPU
  minutes (``tests/pinned/quick_like_small_cnn.yaml``), with NFT and FT.

``before`` and ``after`` metrics must be equal to the last bit (exit 0), else every difference
is listed (exit 1). Wall time: 18 min for all three on the shared 2-core machine under load
(2026-12-01: smoke_all ~13 min, text_smoke ~3 min, quick_like ~2 min).
``tests/test_runner.py`` checks the smoke preset's own cell in CI.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PINNED = ROOT / "tests" / "pinned" / "metrics.json"

RUNS: dict[str, list[str]] = {
    "smoke_all": ["--preset", "smoke", "--defenses",
                  "nft,ft,fp,anp,ibau,awm,ftsam,rnp,nad,mcr,abl,cbd"],
    "smoke_nft": ["--preset", "smoke"],
    "text_smoke": ["--preset", "text_smoke", "--defenses", "nft,ft"],
    "quick_like": ["--preset", str(ROOT / "tests" / "pinned" / "quick_like_small_cnn.yaml")],
}
NEEDS_DATA = {"quick_like"}


def collect(out: Path) -> dict[str, dict]:
    """``{"attack/defense/seedN": {"before": ..., "after": ...}}`` of a run folder."""
    cells = {}
    for path in sorted((out / "records").rglob("seed*.json")):
        record = json.loads(path.read_text())
        key = f"{record['attack']}/{record['defense']}/seed{record['seed']}"
        cells[key] = {"status": record["status"], "before": record.get("before"),
                      "after": record.get("after")}
    return cells


def run(name: str, out: Path, data_root: Path | None) -> dict[str, dict]:
    command = [sys.executable, str(ROOT / "benchmarks" / "run.py"), *RUNS[name], "--out",
               str(out), "--no-progress"]
    if data_root is not None:
        command += ["--data-root", str(data_root)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: run.py exited {done.returncode}\n{done.stderr[-3000:]}")
    return collect(out)


def differences(pinned: dict[str, dict], got: dict[str, dict],
                tolerance: float = 0.0) -> list[str]:
    """Every metric of ``got`` further than ``tolerance`` from ``pinned`` (0: to the last bit,
    for refactors on one machine; float32 kernels differ between CPU models, so a comparison
    across machines needs the tolerance its caller measured)."""
    problems = []
    for key, want in pinned.items():
        have = got.get(key)
        if have is None:
            problems.append(f"{key}: no record")
            continue
        if have["status"] != want["status"]:
            problems.append(f"{key} status: pinned {want['status']}, got {have['status']}")
        for stage in ("before", "after"):
            if not _close(want[stage], have[stage], tolerance):
                problems.append(f"{key} {stage}: pinned {want[stage]}, got {have[stage]}")
    return problems


def _close(want: dict | None, have: dict | None, tolerance: float) -> bool:
    if want is None or have is None or tolerance == 0.0:
        return want == have
    if set(want) != set(have):
        return False
    return all(abs(want[k] - have[k]) <= tolerance for k in want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated pinned run names")
    parser.add_argument("--data-root", type=Path, help="folder with prepared CIFAR-10")
    parser.add_argument("--record", action="store_true",
                        help="write the results as the new pinned values (at a reference commit)")
    args = parser.parse_args(argv)
    pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    names = args.only.split(",") if args.only else [n for n in RUNS if n != "smoke_nft"]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        parser.error(f"unknown pinned run(s) {unknown}; choose from {', '.join(RUNS)}")
    failed = False
    for name in names:
        if name in NEEDS_DATA and args.data_root is None:
            print(f"{name}: skipped (needs --data-root with CIFAR-10)")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            got = run(name, Path(tmp), args.data_root)
        if args.record:
            pinned[name] = got
            continue
        problems = differences(pinned.get(name, {}), got) if name in pinned else [
            f"nothing pinned for {name}"]
        failed |= bool(problems)
        print(f"{name}: {'same metrics in all ' + str(len(got)) + ' cells' if not problems else 'DIFFERENT'}")
        for line in problems:
            print(f"  {line}")
    if args.record:
        PINNED.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
        print(f"pinned values written to {PINNED}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
