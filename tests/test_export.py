import json

from benchmarks.reporting.export import export
from core.record import write_record


def test_export_writes_table_and_provenance(tmp_path):
    record = {"status": "ok", "task": "synthetic", "dataset": "synthetic", "model": "tiny_cnn",
              "attack": "blend", "defense": "nft", "seed": 0, "preset": "smoke",
              "command": "python benchmarks/run.py --preset smoke",
              "before": {"clean_acc": 99.5, "asr": 97.7}, "after": {"clean_acc": 99.8, "asr": 1.8},
              "timings_s": {"attack_train": 8.7, "defense": 4.7, "eval": 0.3},
              "git": {"commit": "abc", "dirty": False}, "versions": {"torch": "2.11.0"},
              "hardware": {"device": "cpu", "cpu_count": 2}, "config": {"x": 1}}
    write_record(tmp_path / "run/records/a/seed0.json", record)
    text = export(tmp_path / "run", tmp_path / "out.md", title="Smoke").read_text()
    assert text.startswith("# Smoke")
    assert "| synthetic | synthetic | tiny_cnn | blend | nft | 0 | 99.50 | 99.80 | 97.70 | 1.80 |" in text
    assert "python benchmarks/run.py --preset smoke" in text and "abc (dirty: False)" in text
    assert json.dumps({"x": 1}, indent=1) in text
