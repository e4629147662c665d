"""Nightly regression mode: a planted regression exits 3 and names the cell, otherwise 0."""
import csv

import pytest

from benchmarks.reporting.regression import EXIT_REGRESSION, compare, load_baseline, tolerances_from
from benchmarks.runner.cli import main
from core.config import ConfigError
from core.record import write_record
from test_aggregate import make_record, write_fixture


def _plant(csv_path, attack, column, value):
    rows = list(csv.DictReader(open(csv_path)))
    for row in rows:
        if row["attack"] == attack:
            row[column] = repr(value)
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_compare_to_itself_is_clean_and_a_planted_regression_fails(tmp_path, capsys):
    run = write_fixture(tmp_path / "run")
    assert main(["compare", str(run), "--baseline", str(run)]) == 0
    assert "no regression" in capsys.readouterr().out
    assert main(["aggregate", str(run), "--out", str(tmp_path / "base")]) == 0
    baseline = tmp_path / "base/cells.csv"
    # the baseline removed the blend backdoor better: after.asr 0.5 vs our 2.0 (tolerance 1)
    _plant(baseline, "blend", "after.asr.mean", 0.5)
    capsys.readouterr()
    code = main(["compare", str(run), "--baseline", str(baseline), "--tolerance", "after.asr=1"])
    assert code == EXIT_REGRESSION == 3
    out = capsys.readouterr().out
    assert "REGRESSED  synthetic/synthetic/tiny_cnn/blend/nft  after.asr: 0.50 → 2.00" in out
    assert "patch" not in out.split("REGRESSED", 1)[1]
    assert "1 regression(s)" in (run / "regression.md").read_text()
    # within tolerance: no regression
    assert main(["compare", str(run), "--baseline", str(baseline),
                 "--tolerance", "after.asr=1.5"]) == 0


def test_directions_relative_tolerances_and_missing_cells(tmp_path):
    run = write_fixture(tmp_path / "run")
    from benchmarks.reporting.aggregate import aggregate_records
    from benchmarks.reporting.summary import load_records

    cells = aggregate_records(load_records(run)[0])
    base = load_baseline(run)
    key = ("synthetic", "synthetic", "tiny_cnn", "blend", "nft")
    assert base[key]["after.asr"] == pytest.approx(2.0)
    # a LOWER asr or a HIGHER clean accuracy than the baseline is never a regression
    better = {k: dict(v) for k, v in base.items()}
    better[key]["after.asr"] = 10.0
    better[key]["after.clean_acc"] = 70.0
    assert not compare(cells, better, {"after": {"asr": 0, "clean_acc": 0}}).failed
    # time: 2.0 s now vs 1.0 s baseline is +100 %: fails at 50 %, passes at 150 %
    slower = {k: dict(v) for k, v in base.items()}
    slower[key]["timings_s.defense"] = 1.0
    report = compare(cells, slower, {"timings_s": {"defense": "50%"}})
    assert [f.metric for f in report.regressions] == ["timings_s.defense"]
    assert not compare(cells, slower, {"timings_s": {"defense": "150%"}}).failed
    # a baseline cell this run did not finish is a regression; a new cell is only reported
    extra = {**base, ("synthetic", "synthetic", "tiny_cnn", "wanet", "nft"): {"after.asr": 1.0}}
    report = compare(cells, extra, {"after": {"asr": 1.0}})
    assert report.failed and "MISSING    synthetic/synthetic/tiny_cnn/wanet/nft" in report.render()
    del base[key]
    report = compare(cells, base, {"after": {"asr": 1.0}})
    assert not report.failed and report.new_cells == [key]


def test_default_tolerances_check_each_tasks_primary_metric(tmp_path):
    """``after.primary`` is BLEU for a text cell and accuracy for an image cell."""
    from benchmarks.reporting.aggregate import aggregate_records
    from test_aggregate import make_record

    text = make_record("trigger_word", "nft", 0, {"clean_bleu": 60.0, "asr": 100.0},
                       {"clean_bleu": 55.0, "asr": 1.0}, task="text", model="transformer_tiny")
    text["primary_metric"] = "clean_bleu"
    text["higher_is_better"] = {"clean_bleu": True, "asr": False}
    image = make_record("blend", "nft", 0, {"clean_acc": 90.0, "asr": 99.0},
                        {"clean_acc": 85.0, "asr": 1.0})          # no primary_metric: clean_acc
    cells = aggregate_records([text, image])
    assert [c.primary_metric for c in cells] == ["clean_acc", "clean_bleu"]
    base = {tuple(c.key.values()): {"after.clean_bleu": 60.0, "after.clean_acc": 90.0,
                                    "after.asr": 1.0} for c in cells}
    report = compare(cells, base, tolerances_from(None, []))
    assert sorted(f.metric for f in report.regressions) == ["after.clean_acc", "after.clean_bleu"]
    assert report.checked == 4


def test_tolerance_parsing():
    assert tolerances_from(None, []) == {"after": {"primary": 1.0, "asr": 2.0}}
    merged = tolerances_from({"after": {"asr": 3.0}}, ["timings_s.defense=25%", "after.asr=1"])
    assert merged == {"after": {"asr": 1}, "timings_s": {"defense": "25%"}}
    with pytest.raises(ConfigError, match="unknown stage"):
        tolerances_from(None, ["aftr.asr=1"])
    with pytest.raises(ConfigError, match="must be ≥ 0"):
        tolerances_from(None, ["after.asr=-1"])
    with pytest.raises(ValueError, match="stage.metric=VALUE"):
        tolerances_from(None, ["asr=1"])


def test_matrix_compare_to_and_fail_on_regression_end_to_end(tmp_path, capsys):
    from test_runner import FAST

    out = tmp_path / "run"
    args = ["--preset", "smoke", "--out", str(out), *FAST]
    assert main(args) == 0
    # the same (deterministic) run compared with itself passes …
    assert main([*args, "--compare-to", str(out), "--fail-on-regression"]) == 0
    assert "no regression" in capsys.readouterr().out
    # … a baseline that planted a better clean accuracy fails with exit 3 and names the cell
    assert main(["aggregate", str(out), "--out", str(tmp_path / "b")]) == 0
    baseline = tmp_path / "b/cells.csv"
    row = next(csv.DictReader(open(baseline)))
    _plant(baseline, "blend", "after.clean_acc.mean", float(row["after.clean_acc.mean"]) + 5.0)
    capsys.readouterr()
    code = main([*args, "--compare-to", str(baseline), "--fail-on-regression",
                 "--tolerance", "after.clean_acc=1"])
    assert code == EXIT_REGRESSION
    assert "REGRESSED  synthetic/synthetic/tiny_cnn/blend/nft  after.clean_acc" in \
        capsys.readouterr().out
    # without --fail-on-regression the report is printed but the exit code stays 0
    assert main([*args, "--compare-to", str(baseline), "--tolerance", "after.clean_acc=1"]) == 0
    # a missing baseline is an input error before anything runs
    assert main([*args, "--compare-to", str(tmp_path / "nope.csv")]) == 2


def test_nightly_preset_carries_tolerances():
    from benchmarks.runner.presets import load_preset

    preset = load_preset("nightly")
    assert preset.device == "cuda" and preset.regression["timings_s"]["defense"] == "50%"
    with pytest.raises(ConfigError, match="unknown stage"):
        load_preset("nightly", sets=["regression.durations.defense=1"])


def test_baseline_csv_must_come_from_aggregate(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a cells.csv"):
        load_baseline(bad)
    write_record(tmp_path / "r/records/a.json", make_record("blend", "nft", 0, {"asr": 1.0},
                                                            {"asr": 1.0}))
    assert load_baseline(tmp_path / "r")
