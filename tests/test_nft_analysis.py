"""benchmarks/nft_analysis.py on a smoke run: backdoor-unit scores, mask rows, oracle pruning."""
from __future__ import annotations

import json

from benchmarks.nft_analysis import main as analysis_main
from benchmarks.run import main
from test_runner import FAST


def test_analysis_of_a_smoke_cell(tmp_path):
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    out = tmp_path / "analysis"
    assert analysis_main(["--run", str(run), "--attack", "blend", "--out", str(out),
                          "--test", "100", "--prune", "1,4"]) == 0
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
