"""The nightly_cpu preset group (three modalities, float32), its committed baseline and the
per-cell tolerances of the regression check (`regression.cells`)."""
from pathlib import Path

import pytest

from benchmarks.reporting.aggregate import aggregate_records
from benchmarks.reporting.regression import compare, load_baseline, tolerances_from
from benchmarks.reporting.summary import load_records
from benchmarks.runner.cli import main
from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.preset_groups import group_presets, is_group, regression_block
from core.config import ConfigError
from test_aggregate import write_fixture

BASELINE = Path(__file__).resolve().parents[1] / "benchmarks/runner/baselines/nightly_cpu/cells.csv"


def test_nightly_cpu_is_three_float32_modalities_that_validate(tmp_path):
    assert is_group("nightly_cpu") and not is_group("smoke")
    group, presets = group_presets("nightly_cpu")
    assert {p.task for p in presets} == {"synthetic", "pointcloud", "text"}
    for preset in presets:
        assert preset.device == "cpu" and preset.train["cpu_bf16"] is False
        MatrixRunner(preset, tmp_path, None, progress=False).validate()
    # every baseline cell has tolerances of its own, taken from the rerun spread
    cells = regression_block("nightly_cpu")["cells"]
    assert set(cells) == {"/".join(k) for k in load_baseline(BASELINE)}
    assert len(load_baseline(BASELINE)) == 3


def test_group_refuses_flags_that_would_merge_its_parts():
    with pytest.raises(ConfigError, match="--task cannot be given"):
        group_presets("nightly_cpu", {"task": "text"})
    assert main(["--preset", "nightly_cpu", "--task", "text"]) == 2


def test_per_cell_tolerances_replace_the_stage_wide_ones(tmp_path):
    run = write_fixture(tmp_path / "run")
    cells = aggregate_records(load_records(run)[0])
    base = load_baseline(run)
    key = ("synthetic", "synthetic", "tiny_cnn", "blend", "nft")
    base[key]["after.asr"] -= 1.5              # ours is 1.5 points worse than the baseline
    report = compare(cells, base, tolerances_from({"after": {"asr": 1.0}}, []))
    assert [(f.cell, f.metric) for f in report.regressions] == [(key, "after.asr")]
    loose = {"after": {"asr": 1.0}, "cells": {"/".join(key): {"after": {"asr": 2.0}}}}
    assert not compare(cells, base, tolerances_from(loose, [])).failed
    with pytest.raises(ConfigError, match="task/dataset/model/attack/defense"):
        tolerances_from({"cells": {"blend/nft": {"after": {"asr": 1}}}}, [])
    with pytest.raises(ConfigError, match="unknown stage"):
        tolerances_from({"cells": {"/".join(key): {"later": {"asr": 1}}}}, [])
