"""Aggregation of records: mean ± std over seeds, Avg. drop, paper numbers beside ours."""
import csv
import json
import math

import pytest

from benchmarks.reporting.aggregate import aggregate, aggregate_records, avg_drop, runtime_rows
from benchmarks.reporting.reference import load_references, matches, norm
from benchmarks.runner.cli import main
from core.config import ConfigError
from core.record import write_record


def make_record(attack, defense, seed, before, after, defense_s=1.0, train_s=10.0,
                cache_hit=False, task="synthetic", dataset="synthetic", model="tiny_cnn",
                masks=None):
    record = {"status": "ok", "task": task, "dataset": dataset, "model": model,
              "attack": attack, "defense": defense, "seed": seed, "preset": "test",
              "before": before, "after": after,
              "higher_is_better": {"clean_acc": True, "asr": False, "lcr": True},
              "timings_s": {"attack_train": 0.0 if cache_hit else train_s, "defense": defense_s,
                            "eval": 0.5},
              "model_cache": {"cache_hit": cache_hit},
              "hardware": {"device": "cpu", "cpu_count": 2}}
    if masks is not None:
        record["diagnostics"] = {"masks": masks}
    return record


def write_fixture(run, **overrides):
    """blend/nft over seeds 0-2 and patch/nft over seeds 0-1, with known statistics."""
    rows = [
        ("blend", 0, {"clean_acc": 80.0, "asr": 90.0}, {"clean_acc": 79.0, "asr": 1.0}, 1.0, False),
        ("blend", 1, {"clean_acc": 82.0, "asr": 92.0}, {"clean_acc": 80.0, "asr": 2.0}, 2.0, True),
        ("blend", 2, {"clean_acc": 84.0, "asr": 94.0}, {"clean_acc": 81.0, "asr": 3.0}, 3.0, False),
        ("patch", 0, {"clean_acc": 90.0, "asr": 100.0}, {"clean_acc": 85.0, "asr": 50.0}, 1.0, False),
        ("patch", 1, {"clean_acc": 92.0, "asr": 98.0}, {"clean_acc": 87.0, "asr": 48.0}, 1.0, False),
    ]
    for attack, seed, before, after, defense_s, hit in rows:
        train_s = 10.0 + seed
        write_record(run / f"records/{attack}/nft/seed{seed}.json",
                     make_record(attack, "nft", seed, before, after, defense_s, train_s, hit,
                                 **overrides))
    # an error record is not aggregated
    write_record(run / "records/blend/nft/seed3.error-x.json",
                 {"status": "error", "attack": "blend", "defense": "nft", "seed": 3})
    return run


def test_mean_std_and_cache_aware_train_time(tmp_path):
    from benchmarks.reporting.summary import load_records

    ok, errors = load_records(write_fixture(tmp_path / "run"))
    assert len(ok) == 5 and len(errors) == 1
    cells = {c.key["attack"]: c for c in aggregate_records(ok)}
    blend = cells["blend"]
    assert blend.seeds == [0, 1, 2]
    assert blend.values["before.asr"].mean == pytest.approx(92.0)
    assert blend.values["before.asr"].std == pytest.approx(2.0)
    assert blend.values["after.asr"].mean == pytest.approx(2.0)
    assert blend.values["after.asr"].std == pytest.approx(1.0)
    assert blend.values["after.clean_acc"].text() == "80.00 ± 1.00"
    assert blend.values["timings_s.defense"].mean == pytest.approx(2.0)
    # seed 1 loaded its model from the cache: only seeds 0 and 2 trained (10 s and 12 s)
    assert blend.values["timings_s.attack_train"].mean == pytest.approx(11.0)
    assert blend.values["timings_s.attack_train"].n == 2
    patch = cells["patch"]
    assert patch.values["before.asr"].std == pytest.approx(math.sqrt(2.0))


def test_avg_drop_is_mean_over_attacks_of_before_minus_after(tmp_path):
    from benchmarks.reporting.summary import load_records

    ok, _ = load_records(write_fixture(tmp_path / "run"))
    (row,) = avg_drop(aggregate_records(ok))
    assert row["defense"] == "nft" and row["attacks"] == ["blend", "patch"]
    # ASR: blend 92 - 2 = 90, patch 99 - 49 = 50 -> 70; clean acc: 82 - 80 = 2, 91 - 86 = 5 -> 3.5
    assert row["drop"]["asr"] == pytest.approx(70.0)
    assert row["drop"]["clean_acc"] == pytest.approx(3.5)


def test_aggregate_cli_writes_markdown_and_csv(tmp_path, capsys):
    run = write_fixture(tmp_path / "run")
    assert main(["aggregate", str(run), "--out", str(tmp_path / "t")]) == 0
    md = (tmp_path / "t/aggregate.md").read_text()
    assert "| synthetic | synthetic | tiny_cnn | blend | nft | 3 | 82.00 ± 2.00 | 80.00 ± 1.00 | " \
           "92.00 ± 2.00 | 2.00 ± 1.00 |" in md
    assert "## Avg. drop" in md and "| synthetic | synthetic | tiny_cnn | nft | 2 | 70.00 | 3.50 |" in md
    rows = list(csv.DictReader(open(tmp_path / "t/cells.csv")))
    blend = next(r for r in rows if r["attack"] == "blend")
    assert float(blend["after.asr.mean"]) == 2.0 and float(blend["after.asr.std"]) == 1.0
    assert blend["seeds"] == "0 1 2" and blend["n"] == "3"
    drops = list(csv.DictReader(open(tmp_path / "t/avg_drop.csv")))
    assert float(drops[0]["asr.drop"]) == 70.0
    assert "92.00 ± 2.00" in capsys.readouterr().out


def test_single_seed_has_no_std(tmp_path):
    write_record(tmp_path / "run/records/a.json",
                 make_record("blend", "nft", 0, {"asr": 90.0}, {"asr": 5.0}))
    result = aggregate(tmp_path / "run")
    (cell,) = result.cells
    assert cell.values["after.asr"].std is None and cell.values["after.asr"].text() == "5.00"
    row = next(csv.DictReader(open(tmp_path / "run/tables/cells.csv")))
    assert row["after.asr.std"] == ""


def test_aggregate_of_a_folder_without_records_is_an_input_error(tmp_path, capsys):
    assert main(["aggregate", str(tmp_path)]) == 2
    assert "no records/ folder" in capsys.readouterr().err


def test_shipped_reference_tables_are_the_paper_transcription():
    tables = {t.file: t for t in load_references()}
    assert len(tables) == 24 and all(f.startswith("paper/") for f in tables)
    assert all(t.checked_against_paper for t in tables.values())
    runtime = {e.defense: e.value for e in tables["paper/main_table5_runtime.csv"].entries}
    assert runtime == {"nft": 28.4, "anp": 118.1, "ibau": 92.5, "awm": 112.5, "ftsam": 98.7,
                       "rnp": 102.6}
    assert {e.stage for e in tables["paper/main_table5_runtime.csv"].entries} == {"timings_s"}


def test_paper_numbers_appear_beside_ours(tmp_path):
    run = tmp_path / "run"
    for seed, secs in ((0, 20.0), (1, 30.0)):
        write_record(run / f"records/nft{seed}.json",
                     make_record("badnets", "nft", seed, {"asr": 99.0}, {"asr": 1.0}, secs,
                                 task="image", dataset="cifar10", model="preact_resnet18"))
    result = aggregate(run)
    refs = {(r["table"], r["entry"].stage, r["entry"].metric): r for r in result.refs}
    runtime = refs[("5", "timings_s", "defense")]
    assert runtime["paper"] == 28.4 and runtime["ours"] == pytest.approx(25.0)
    # Table 1's BadNets rows (before: no defense; after: NFT) stand beside our cell
    assert refs[("1", "before", "asr")]["paper"] == 100.0
    assert refs[("1", "after", "asr")]["paper"] == 1.74
    assert refs[("1", "after", "asr")]["ours"] == pytest.approx(1.0)
    assert "## Beside the paper" in result.markdown
    assert "| 5 | cifar10 | any | any | nft | defense s | 28.40 | 25.00 |" in result.markdown
    assert "transcribed from the main paper" in (run / "tables/reference.csv").read_text()
    # an entry that names the attack becomes a "(paper)" column of the cells table
    refdir = tmp_path / "ref"
    refdir.mkdir()
    (refdir / "t1.yaml").write_text(
        "table: '1'\ncaption: c\npaper: p\nsource: s\nchecked_against_paper: false\n"
        "defaults: {dataset: cifar10, model: preact_resnet18}\n"
        "entries:\n  - {attack: badnets, defense: nft, stage: after, metric: asr, value: 1.5}\n")
    result = aggregate(run, tmp_path / "t2", reference_dir=refdir)
    assert "asr after (paper)" in result.markdown and "| 1.50 |" in result.markdown
    row = next(csv.DictReader(open(tmp_path / "t2/cells.csv")))
    assert float(row["paper.after.asr"]) == 1.5


def test_reference_matching_and_strict_keys(tmp_path):
    (entry,) = [e for t in load_references() for e in t.entries
                if e.defense == "ibau" and e.stage == "timings_s"]
    key = {"task": "image", "dataset": "cifar10", "model": "preact_resnet18", "attack": "x"}
    assert matches(entry, {**key, "defense": "I-BAU"}) and norm("FT-SAM") == "ftsam"
    assert not matches(entry, {**key, "defense": "anp"})
    assert not matches(entry, {**key, "defense": "ibau"}, exact_attack=True)
    (tmp_path / "bad.yaml").write_text(
        "table: '1'\ncaption: c\npaper: p\nsource: s\nchecked_against_paper: false\n"
        "entries:\n  - {stage: after, metric: asr, value: 1.0, atack: badnets}\n")
    with pytest.raises(ConfigError, match="Did you mean 'attack'"):
        load_references(tmp_path)


def test_records_of_a_real_smoke_run_aggregate(tmp_path):
    from test_runner import FAST

    out = tmp_path / "run"
    assert main(["--preset", "smoke", "--seeds", "0,1", "--out", str(out), *FAST]) == 0
    rows = list(csv.DictReader(open(out / "tables/cells.csv")))
    assert len(rows) == 1 and rows[0]["n"] == "2"
    records = [json.loads(p.read_text()) for p in sorted((out / "records").rglob("seed*.json"))]
    mean = sum(r["after"]["asr"] for r in records) / 2
    assert float(rows[0]["after.asr.mean"]) == pytest.approx(mean, abs=1e-4)


def test_runtime_table_pools_every_attack_and_puts_the_paper_beside(tmp_path):
    from benchmarks.reporting.summary import load_records

    ok, _ = load_records(write_fixture(tmp_path / "run"))
    (row,) = runtime_rows(aggregate_records(ok), [])
    # blend seeds take 1, 2, 3 s and patch seeds 1, 1 s: 8 s over 5 records; per-attack means 2, 1
    assert row["records"] == 5 and row["mean"] == pytest.approx(1.6)
    assert row["std"] == pytest.approx(math.sqrt(0.5)) and row["paper"] is None
    run = tmp_path / "paper"
    for attack, secs in (("badnets", 10.0), ("blend", 20.0)):
        write_record(run / f"records/{attack}.json",
                     make_record(attack, "anp", 0, {"asr": 99.0}, {"asr": 1.0}, secs,
                                 task="image", dataset="cifar10", model="preact_resnet18"))
    markdown = aggregate(run).markdown
    assert "## Runtime" in markdown
    assert "| image | cifar10 | preact_resnet18 | anp | 2 | 2 | 15.00 ± 7.07 | 118.10 |" in markdown
