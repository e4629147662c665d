"""`run.py reproduce`: the paper's tables as runs (benchmarks/runner/reproduce_specs/tables.yaml), their
paper layout, --list, and --smoke: every listed table's paper-scale runs for 1-2 steps per phase
on a tiny official-layout copy of its data (tests/paper_layouts.py), on the CPU."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.paper_tables import load_specs, paper_cells, resolve_run, table_ids
from benchmarks.runner.cli import main
from core.config import ConfigError

REPO = Path(__file__).resolve().parents[1]
SPECS = load_specs()
TABLES = list(SPECS.tables)
# the slowest smoke tables (measured on the shared 2-core machine, results/reproduce_smoke.md:
# GTSRB 93 s and Tiny-ImageNet 62 s of CPU; ImageNet and the one-shot table train ResNet-50
# victims): marked `slow_smoke`, still run by plain `pytest` (CI can shard with -m)
SLOW = {"main1_imagenet", "supp3", "supp4", "supp8"}


def test_at_least_14_tables_each_routed_to_runs_that_validate(tmp_path):
    assert len(TABLES) >= 14
    for table in TABLES:
        cells = paper_cells(SPECS, table)
        assert cells, table
        routed = {c.run for c in cells if c.run}
        unrouted = [c for c in cells if c.run is None]
        assert all(c.reason for c in unrouted), table      # a missing cell always says why
        for run in routed:
            preset = resolve_run(SPECS, run, extra_sets=[("device", "cpu")])
            MatrixRunner(preset, tmp_path / run, None, progress=False).validate()


def test_aliases_and_unknown_tables():
    assert table_ids(SPECS, ["table1"]) == ["main1_cifar10", "main1_imagenet"]
    assert len(table_ids(SPECS, ["all"])) == len(TABLES)
    with pytest.raises(ConfigError, match="did you mean main2"):
        table_ids(SPECS, ["main22"])
    assert main(["reproduce", "nosuch_table", "--render-only"]) == 2


def test_list_names_presets_data_cells_and_cost(tmp_path, capsys):
    assert main(["reproduce", "--list", "--data-root", str(tmp_path), "--out",
                 str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    for table in TABLES:
        assert f"\n{table}: " in out or out.startswith(f"{table}: ")
    assert out.count("  presets: ") == len(TABLES) and out.count("  cost: ") == len(TABLES)
    assert "cifar10 NOT prepared" in out and "python data_scripts/cifar10.py" in out
    assert "MISSING: no adaptive-attack training" in out     # supp. 13 says what it lacks
    assert "cells: 0 done / " in out


def test_table1_from_the_committed_quick_results(tmp_path, capsys):
    """Today's CPU cells (results/image_quick_airbench.md) in Table 1's layout, '–' elsewhere."""
    source = REPO / "results" / "image_quick_airbench.md"
    assert main(["reproduce", "table1", "--scale", "quick", "--render-only", "--records",
                 str(source), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "tables" / "main1_cifar10.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| attack")}
    assert list(rows)[:4] == ["benign", "badnets", "blend", "trojan_one"]   # as printed
    assert "| 100.00 (1.74) +98.26 |" in rows["badnets"]        # NFT: ours (paper) difference
    assert "– (3.91)" in rows["trojan_all"]                       # ANP on Trojan-all: not run
    assert "n/a (95.21)" in rows["benign"]
    with open(tmp_path / "tables" / "main1_cifar10.provenance.csv", newline="") as handle:
        prov = {(r["row"], r["column"], r["metric"]): r for r in csv.DictReader(handle)}
    cell = prov[("badnets", "nft", "asr")]
    assert cell["ours"] == "100.0000" and cell["records"] == str(source) and cell["git_commit"]
    imagenet = (tmp_path / "tables" / "main1_imagenet.md").read_text()
    assert "no CPU stand-in" in imagenet


# -- --smoke: every table, 1-2 steps per phase at the paper's model size ------------------------
@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    from tests.paper_layouts import write_all

    return write_all(tmp_path_factory.mktemp("paper_layouts"))


@pytest.fixture(scope="module")
def smoke_out(tmp_path_factory):
    return tmp_path_factory.mktemp("smoke")        # one model cache for every table


def _param(table):
    marks = [pytest.mark.slow_smoke] if table in SLOW else []
    return pytest.param(table, marks=marks)


@pytest.mark.parametrize("table", [_param(t) for t in TABLES])
def test_smoke_runs_every_table_and_writes_its_paper_layout(table, tiny_root, smoke_out):
    code = main(["reproduce", table, "--smoke", "--data-root", str(tiny_root), "--out",
                 str(smoke_out), "--no-progress"])
    runs = {c.run for c in paper_cells(SPECS, table) if c.run}
    # this table's own runs only: a table that failed before must not fail the next ones
    errors = [json.loads(p.read_text()) for run in runs
              for p in (smoke_out / "runs" / run).rglob("*.error-*.json")]
    assert code == 0 and not errors, [(e["attack"], e["defense"], e["error"]["message"])
                                      for e in errors][:5]
    text = (smoke_out / "tables" / f"{table}.md").read_text()
    assert "SMOKE MODE" in text and "| " in text
    # each run of the table ran: its records exist and every one finished (or was refused)
    for run in runs:
        records = [json.loads(p.read_text()) for p in
                   (smoke_out / "runs" / run).rglob("records/**/seed*.json")]
        assert records and {r["status"] for r in records} <= {"ok", "unsupported"}, run
    with open(smoke_out / "tables" / f"{table}.provenance.csv", newline="") as handle:
        filled = [r for r in csv.DictReader(handle) if r["ours"]]
    assert filled or not runs, table          # numbers in the layout (supp. 13 has no run)
