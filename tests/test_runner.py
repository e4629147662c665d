"""The matrix runner on the synthetic task, at a size that runs in seconds."""
import json

import pytest

from benchmarks.run import main
from benchmarks.presets import load_preset
from core.config import ConfigError
from core.registry import DEFENSES

FAST = ["--set", "data.train_size=600", "--set", "data.test_size=200",
        "--set", "data.clean_per_class=5", "--set", "train.epochs=2",
        "--set", "defense_options.nft.iterations=5", "--set", "defense_options.nft.batch_size=16",
        "--no-progress"]

REQUIRED = {"task", "dataset", "model", "attack", "defense", "seed", "preset", "before", "after",
            "higher_is_better", "config", "versions", "git", "hardware", "timings_s",
            "poison_index_hash", "status"}


def _records(out):
    return sorted((out / "records").rglob("seed*.json"))


def test_matrix_writes_records_summary_and_resumes(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--preset", "smoke", "--attacks", "blend,patch", "--seeds", "0,1",
            "--out", str(out), *FAST]
    assert main(args) == 0
    records = _records(out)
    assert len(records) == 4
    for path in records:
        record = json.loads(path.read_text())
        assert REQUIRED <= set(record)
        assert record["status"] == "ok"
        assert set(record["timings_s"]) == {"attack_train", "defense", "eval"}
        assert {"clean_acc", "asr", "lcr"} <= set(record["before"]) & set(record["after"])
        assert record["poison_index_hash"].startswith("sha256:")
        assert set(record["diagnostics"]["masks"]) == {l["name"] for l in record["diagnostics"]["layers"]}
    summary = (out / "summary.md").read_text()
    assert summary.count("| synthetic | synthetic | tiny_cnn |") == 4
    mtimes = {p: p.stat().st_mtime_ns for p in records}
    # a second run skips every finished cell and changes nothing
    assert main(args) == 0
    assert "0 cell(s) written, 4 already done" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in _records(out)} == mtimes
    # the backdoored models were cached once per (attack, seed)
    assert len(list((out / "cache" / "models").glob("*.safetensors"))) == 4


def test_a_failing_cell_becomes_an_error_row_and_the_matrix_goes_on(tmp_path):
    from core.defenses.base import Defense
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class _Cfg:
        progress: bool = True

    class Broken(Defense):
        name = "broken_for_test"
        Config = _Cfg

        def purify(self, model, adapter, clean, device, seed=0):
            raise RuntimeError("planted failure")

    DEFENSES.register("broken_for_test", Broken, overwrite=True)
    out = tmp_path / "run"
    code = main(["--preset", "smoke", "--defenses", "broken_for_test,nft", "--out", str(out), *FAST])
    assert code == 1
    errors = list((out / "records").rglob("seed0.error-*.json"))
    assert len(errors) == 1
    error = json.loads(errors[0].read_text())
    assert error["status"] == "error" and error["error"]["message"] == "planted failure"
    assert (out / "records/synthetic/synthetic/tiny_cnn/blend/nft/seed0.json").exists()
    assert "planted failure" in (out / "summary.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--attacks", "blnd"], "Did you mean 'blend'"),
    (["--defenses", "nfy"], "unknown defense 'nfy'"),
    (["--model", "tiny_cnm"], "Did you mean 'tiny_cnn'"),
    (["--set", "attack_options.blend.poison_rate=1.5"], "poison_rate"),
    (["--set", "attack_options.blend.target=12"], "out of range"),
    (["--set", "defense_options.nft.epoch=3"], "Did you mean 'epochs'"),
    (["--set", "train.lr=0"], "lr > 0"),
    (["--set", "train.epoch=3"], "Did you mean 'epochs'"),
    (["--preset", "smok"], "unknown preset"),
])
def test_bad_input_fails_before_training_with_a_clear_message(tmp_path, capsys, args, message):
    assert main(["--preset", "smoke", "--out", str(tmp_path / "o"), *FAST, *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "cache").exists()


def test_preset_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown option 'atacks'"):
        load_preset("smoke", sets=["atacks=[x]"])


def test_smoke_preset_nft_removes_the_implanted_backdoor(tmp_path):
    """Acceptance: on the synthetic task NFT takes ASR from > 90 % to < 10 % and costs < 5
    points of clean accuracy (the real smoke preset, unchanged)."""
    out = tmp_path / "smoke"
    assert main(["--preset", "smoke", "--out", str(out), "--no-progress"]) == 0
    record = json.loads((out / "records/synthetic/synthetic/tiny_cnn/blend/nft/seed0.json").read_text())
    before, after = record["before"], record["after"]
    assert before["asr"] > 90.0, before
    assert after["asr"] < 10.0, after
    assert before["clean_acc"] - after["clean_acc"] < 5.0
    assert record["timings_s"]["defense"] > 0 and record["model_cache"]["cache_hit"] is False


def test_provenance_is_taken_once_at_start(tmp_path, monkeypatch):
    import benchmarks.matrix as matrix

    calls = iter(range(100))
    monkeypatch.setattr(matrix, "git_info", lambda: {"commit": f"c{next(calls)}", "dirty": False})
    out = tmp_path / "run"
    assert main(["--preset", "smoke", "--attacks", "blend,patch", "--out", str(out), *FAST]) == 0
    commits = {json.loads(p.read_text())["git"]["commit"] for p in _records(out)}
    assert commits == {"c0"}
