"""The matrix runner on the synthetic task, at a size that runs in seconds."""
import json

import pytest

from benchmarks.runner.cli import main
from benchmarks.runner.presets import load_preset
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
    # same seeds, close numbers: the float32 path pinned at f8af062 (benchmarks/studies/pinned_metrics.py
    # checks the longer pinned runs to the last bit on one machine). Not bit for bit here: float32
    # kernels differ between CPU models. Measured (issue 23) on four numeric set-ups - the AMD
    # EPYC that pinned them, an AVX-512 Xeon without bf16, an AMX Xeon, and that Xeon with oneDNN/
    # ATen capped at AVX2 and at AVX512_CORE - every metric of this cell stayed within 0.4 points
    # of the pin (one test sample is 0.2 points of ACC). 1.0 point fits that spread 2.5 times
    # over and still fails any real change of the loop (a changed NFT step moves them by more).
    from benchmarks.studies.pinned_metrics import PINNED, collect, differences

    assert record["primary_metric"] == "clean_acc"
    pinned = json.loads(PINNED.read_text())["smoke_nft"]
    assert differences(pinned, collect(out), tolerance=1.0) == []


def test_provenance_is_taken_once_at_start(tmp_path, monkeypatch):
    import benchmarks.runner.matrix as matrix

    calls = iter(range(100))
    monkeypatch.setattr(matrix, "git_info", lambda: {"commit": f"c{next(calls)}", "dirty": False})
    out = tmp_path / "run"
    assert main(["--preset", "smoke", "--attacks", "blend,patch", "--out", str(out), *FAST]) == 0
    commits = {json.loads(p.read_text())["git"]["commit"] for p in _records(out)}
    assert commits == {"c0"}


# -- resume after a killed run ----------------------------------------------------------------
DYING = '''
import os, signal, sys
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads(1)
from core.registry import DEFENSES
from core.defenses.nft import NFT

class Dying(NFT):
    name = "nft_dies_for_test"

    def purify(self, model, adapter, clean, device, seed=0):
        if seed == int(os.environ.get("DIE_AT_SEED", "-1")):
            os.kill(os.getpid(), signal.SIGKILL)      # as hard as a kill -9 / OOM killer
        return super().purify(model, adapter, clean, device, seed)

DEFENSES.register("nft_dies_for_test", Dying)
from benchmarks.runner.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_resume_after_a_killed_run_keeps_every_finished_record(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = tmp_path / "dying.py"
    script.write_text(DYING.format(root=str(root)))
    out = tmp_path / "run"
    args = [sys.executable, str(script), "--preset", "smoke", "--attacks", "blend,patch",
            "--defenses", "nft,nft_dies_for_test", "--seeds", "0,1", "--out", str(out), *FAST,
            "--set", "defense_options.nft_dies_for_test.iterations=5",
            "--set", "defense_options.nft_dies_for_test.batch_size=16"]
    killed = subprocess.run(args, env={**os.environ, "DIE_AT_SEED": "1"}, cwd=root,
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    finished = _records(out)
    assert [p.relative_to(out / "records/synthetic/synthetic/tiny_cnn").as_posix()
            for p in finished] == ["blend/nft/seed0.json", "blend/nft/seed1.json",
                                   "blend/nft_dies_for_test/seed0.json", "patch/nft/seed0.json",
                                   "patch/nft_dies_for_test/seed0.json"]
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished}
    assert all(json.loads(data)["status"] == "ok" for data, _ in before.values())
    assert not list(out.rglob("*.tmp"))             # no half-written record left behind
    resumed = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "3 cell(s) written, 5 already done, 0 failed" in resumed.stdout
    assert len(_records(out)) == 8
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in finished} == before


# -- sweeps -----------------------------------------------------------------------------------
def _sweep_file(tmp_path, body):
    path = tmp_path / "mine.yaml"
    path.write_text("description: test sweep\n" + body)
    return str(path)


def test_sweep_expansion():
    from benchmarks.runner.sweeps import expand

    name, spec, runs = expand("eta_c", "smoke")
    assert name == "eta_c" and len(runs) == 6
    assert [r.preset.defense_options["nft"]["eta_c"] for r in runs] == \
        [1e-2, 5e-3, 1e-3, 5e-4, 1e-4, 5e-5]
    assert runs[0].name == "eta_c=0.01"
    assert runs[0].preset.defense_options["nft"]["iterations"] == 500   # the preset's own key kept
    # a grid is the product of its keys; '*' stands for every attack of the run
    _, _, runs = expand("mu_alpha_beta", "smoke")
    assert len(runs) == 9 and runs[-1].name == "mu_alpha=0.7,mu_beta=0.75"
    _, _, runs = expand("poison_rate", "smoke", {"attacks": ["blend", "patch"]})
    assert [r.preset.attack_options for r in runs][1] == {"blend": {"poison_rate": 0.05},
                                                          "patch": {"poison_rate": 0.05}}


def test_every_shipped_sweep_validates_without_running(tmp_path):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.sweeps import available, expand, read_sweep

    assert set(available()) >= {"clean_size", "eta_c", "mu_schedule", "mu_alpha_beta",
                                "mask_bias", "nft_components", "augmentation", "lr_batch",
                                "architecture", "poison_rate"}
    for sweep in available():
        _, spec = read_sweep(sweep)
        preset = "quick" if spec.task == "image" else "smoke"
        _, _, runs = expand(sweep, preset)
        for run in runs:
            MatrixRunner(run.preset, tmp_path / run.name, None, progress=False).validate()


def test_sweep_dry_run_and_task_mismatch(tmp_path, capsys):
    assert main(["sweep", "nft_components", "--preset", "smoke", "--dry-run",
                 "--out", str(tmp_path / "s")]) == 0
    out = capsys.readouterr().out
    assert "4 run(s)" in out and "no_mu: defense_options.nft.mu=constant" in out
    assert not (tmp_path / "s").exists()
    assert main(["sweep", "augmentation", "--preset", "smoke", "--dry-run"]) == 2
    assert "is for the 'image' task" in capsys.readouterr().err


@pytest.mark.parametrize("body, message", [
    ("grid:\n  defense_options.nft.etac: [0.1, 0.2]\n", "Did you mean 'eta_c'"),
    ("runs:\n  - {name: a, set: {defense_options.nft.mu: spiral}}\n", "spiral"),
    ("runs:\n  - {name: a, set: {data.clean_fraction: 0.1}}\n", "clean_fraction"),
    ("runs:\n  - {name: a, set: {atacks: [blend]}}\n", "Did you mean 'attacks'"),
    ("runs:\n  - {name: a, set: {defense_options.nft.augmentation: cutmx}}\n", "cutmx"),
    ("runs:\n  - {name: ok, set: {}}\n  - {name: b, set: {attack_options.*.poison_rat: 0.1}}\n",
     "Did you mean 'poison_rate'"),
    ("gird:\n  defense_options.nft.eta_c: [0.1]\n", "Did you mean 'grid'"),
    ("runs:\n  - {name: a b, set: {}}\n", "use letters"),
    ("runs:\n  - {name: a, set: {}}\n  - {name: a, set: {}}\n", "repeat"),
])
def test_sweep_with_a_bad_option_fails_before_running(tmp_path, capsys, body, message):
    out = tmp_path / "s"
    assert main(["sweep", _sweep_file(tmp_path, body), "--preset", "smoke", "--out", str(out),
                 *FAST]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()            # nothing ran, not even the valid first run


def test_sweep_set_conflict_is_an_error(capsys):
    assert main(["sweep", "eta_c", "--preset", "smoke", "--dry-run",
                 "--set", "defense_options.nft.eta_c=1"]) == 2
    assert "sweep 'eta_c' sets this key itself" in capsys.readouterr().err


def test_sweep_runs_every_run_and_tabulates(tmp_path, capsys):
    import csv

    path = _sweep_file(tmp_path, "grid:\n  defense_options.nft.eta_c: [0.0, 0.01]\n")
    out = tmp_path / "s"
    assert main(["sweep", path, "--preset", "smoke", "--out", str(out), *FAST]) == 0
    for run in ("eta_c=0.0", "eta_c=0.01"):
        (record,) = (out / run / "records").rglob("seed0.json")
        data = json.loads(record.read_text())
        assert data["config"]["defense"]["eta_c"] == float(run.split("=")[1])
        assert data["preset"] == f"smoke+mine.{run}"
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [r["run"] for r in rows] == ["eta_c=0.0", "eta_c=0.01"]
    assert "| eta_c=0.01 | defense_options.nft.eta_c=0.01 |" in (out / "sweep.md").read_text()


def test_a_training_time_defense_trains_its_own_model_on_the_poisoned_data(tmp_path):
    from dataclasses import dataclass

    from core.defenses.base import Defense, DefenseResult

    seen = {}

    @dataclass(frozen=True)
    class _Cfg:
        progress: bool = True

    class TrainsItself(Defense):
        name = "trains_itself_for_test"
        Config = _Cfg
        training_time = True

        def train(self, model, adapter, poisoned_train, train_config, device, seed=0):
            seen.update(n=len(poisoned_train), epochs=train_config.epochs, training=model.training)
            return DefenseResult(model=model, wall_time_s=0.5)

        def purify(self, model, adapter, clean, device, seed=0):
            raise AssertionError("a training-time defense is not given a trained model")

    DEFENSES.register("trains_itself_for_test", TrainsItself, overwrite=True)
    out = tmp_path / "run"
    assert main(["--preset", "smoke", "--defenses", "nft,trains_itself_for_test", "--out",
                 str(out), *FAST]) == 0
    path = out / "records/synthetic/synthetic/tiny_cnn/blend/trains_itself_for_test/seed0.json"
    record = json.loads(path.read_text())
    assert record["status"] == "ok" and record["timings_s"]["defense"] == 0.5
    assert seen == {"n": 600 - 50, "epochs": 2, "training": True}


def test_the_runner_presets_resolve_and_validate(tmp_path):
    """Names and options of the runner's presets are real (paper/nightly need CUDA: checked
    with device cpu)."""
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import available

    assert {"smoke", "quick", "paper", "nightly"} <= set(available())
    for name in ("smoke", "quick", "paper", "nightly"):
        text = (load_preset.__globals__["PRESET_DIR"] / f"{name}.yaml").read_text()
        assert "# hardware:" in text and "# expected:" in text and "# runs:" in text, name
        preset = load_preset(name, {"device": "cpu"})
        MatrixRunner(preset, tmp_path / name, None, progress=False).validate()
    paper = load_preset("paper")
    assert paper.model == "preact_resnet18" and paper.attacks == ["badnets", "blend", "trojan_one",
                                                                  "sig", "wanet"]
    assert paper.train == {"epochs": 100, "batch_size": 128, "lr": 0.05, "momentum": 0.9,
                           "weight_decay": 5e-4, "lr_schedule": "cosine", "amp": True,
                           "channels_last": True}


def test_the_full_width_cifar_presets_validate(tmp_path):
    """quick_hiacc / quick_hiacc95 (issue 24's victims) name real models and options, and the
    airbench95 recipe is airbench94's decoupled decay at airbench95's learning rate."""
    from benchmarks.runner.matrix import MatrixRunner

    for name, model in (("quick_hiacc", "airbench94"), ("quick_hiacc95", "airbench95")):
        preset = load_preset(name)
        assert preset.model == model
        MatrixRunner(preset, tmp_path / name, None, progress=False).validate()
    hi, hi95 = load_preset("quick_hiacc").train, load_preset("quick_hiacc95").train
    assert hi95["lr"] * hi95["weight_decay"] == pytest.approx(hi["lr"] * hi["weight_decay"], rel=1e-3)
    assert hi95["lr"] / hi["lr"] == pytest.approx(10.0 / 11.5, rel=1e-3)


def test_narrowing_a_presets_attacks_drops_its_options_for_the_others(tmp_path):
    """`--preset quick_learned --attacks issba` must run (the file holds options for the attacks
    the flag removed); an option the user sets for an attack the run does not use stays an
    error, and so does a typo in the file's own attack list."""
    from benchmarks.runner.matrix import MatrixRunner

    preset = load_preset("quick_learned", {"attacks": ["issba"]})
    assert set(preset.attack_options) == {"issba"}
    MatrixRunner(preset, tmp_path / "a", None, progress=False).validate()
    full = load_preset("quick_learned")
    assert {"dyn_one", "lira", "fba", "issba"} <= set(full.attack_options)
    MatrixRunner(full, tmp_path / "b", None, progress=False).validate()
    stray = load_preset("quick_learned", {"attacks": ["issba"]},
                        ["attack_options.lira.eps=0.02"])
    with pytest.raises(ValueError, match="lira"):
        MatrixRunner(stray, tmp_path / "c", None, progress=False).validate()
    narrowed = load_preset("quick", {"defenses": ["ft"]})
    assert "nft" not in narrowed.defense_options
