"""benchmarks/studies/nft_analysis.py on a smoke run: backdoor-unit scores, mask rows, oracle pruning."""
from __future__ import annotations

import json

from benchmarks.studies.nft_analysis import main as analysis_main
from benchmarks.runner.cli import main
from test_runner import FAST


def test_analysis_of_a_smoke_cell(tmp_path):
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    out = tmp_path / "analysis"
    assert analysis_main(["--run", str(run), "--attack", "blend", "--out", str(out),
                          "--test", "100", "--prune", "1,4", "--mask-prune", "0.99,1.01"]) == 0
    result = json.loads((out / "units-blend.json").read_text())
    record = json.loads(next((run / "records").rglob("seed0.json")).read_text())
    assert result["before"] == record["before"]          # the cached victim, not a new one
    layers = [layer["target"] for layer in record["diagnostics"]["layers"]]
    assert set(result["layer_max_score"]) == set(layers)
    assert [r["k"] for r in result["pruning"]] == [1, 4]
    assert sum(result["pruning"][1]["layers"].values()) == 4
    assert {r["layer"] for r in result["masks"]} == set(layers)
    for row in result["masks"]:
        assert 0.0 <= row["top_mask"] <= 1.0 and -1.0 <= row["spearman"] <= 1.0
    assert "Oracle pruning" in (out / "units-blend.md").read_text()
    total = sum(len(v) for v in record["diagnostics"]["masks"].values())
    below = sum(sum(m < 0.99 for m in v) for v in record["diagnostics"]["masks"].values())
    assert [sum(r["layers"].values()) for r in result["mask_pruning"]] == [below, total]


def test_clean_size_grows_the_clean_set_from_untouched_training_images(tmp_path):
    from benchmarks.studies.nft_clean_size import main as size_main

    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    out = tmp_path / "sizes"
    assert size_main(["--run", str(run), "--attack", "blend", "--sizes", "0.01,0.2",
                      "--iterations", "3", "--set", "batch_size=16", "--out", str(out)]) == 0
    result = json.loads((out / "clean-size-blend.json").read_text())
    record = json.loads(next((run / "records").rglob("seed0.json")).read_text())
    small, big = result["rows"]
    assert small["clean_images"] == record["data"]["clean_size"]
    assert big["clean_images"] > small["clean_images"]
    assert result["nft_options"]["iterations"] == 3 and result["git"]["commit"]
