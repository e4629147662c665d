"""Acceptance of issue 13: a multi-label and a box-detection task, each only an adapter in
tests/toy_tasks.py, run through the runner with NFT, FT and a defense that refuses them; the
refusal is an ``unsupported`` record written before any training."""
import json
import subprocess
import sys

import pytest
import torch

import toy_tasks  # noqa: F401  (registers the toy tasks)
from benchmarks.runner import matrix
from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.presets import Preset
from core.adapter import TaskAdapter
from core.registry import DEFENSES, TASKS
from conftest import ROOT

TINY = {"nft": {"iterations": 8, "batch_size": 32, "progress": False},
        "ft": {"epochs": 1, "batch_size": 32, "progress": False},
        "fp": {"epochs": 1, "batch_size": 32, "step": 16, "progress": False}}


def _preset(task, model, attack, refused, **extra):
    # the detector's two heads read one feature vector: FP prunes it for both
    runs = ["nft", "ft"] + (["fp"] if task == "toy_detection" else [])
    return Preset(name="toy", task=task, dataset="toy", model=model, attacks=[attack],
                  defenses=[*runs, refused], seeds=[0],
                  train={"epochs": 4, "batch_size": 32, "lr": 0.05},
                  defense_options={k: v for k, v in TINY.items() if k in runs}, **extra)


def _spy(monkeypatch):
    """Order of events: ('fit', None) for each training, ('record', status) for each record."""
    events = []
    real_fit, real_write = matrix.fit, matrix.write_record

    def fit(*args, **kwargs):
        events.append(("fit", None))
        return real_fit(*args, **kwargs)

    def write_record(path, record):
        events.append(("record", record["status"]))
        return real_write(path, record)

    monkeypatch.setattr(matrix, "fit", fit)
    monkeypatch.setattr(matrix, "write_record", write_record)
    return events


CASES = [("toy_multilabel", "toy_net", "appear_patch", "ftsam", "map", {"map", "asr"}),
         ("toy_detection", "toy_detector", "relabel_patch", "ibau", "det50", {"det50", "asr50"})]


@pytest.mark.parametrize("task,model,attack,refused,primary,metrics", CASES,
                         ids=[c[0] for c in CASES])
def test_new_modality_runs_nft_ft_and_records_a_refusal_first(tmp_path, monkeypatch, task, model,
                                                              attack, refused, primary, metrics):
    torch.manual_seed(0)
    events = _spy(monkeypatch)
    runner = MatrixRunner(_preset(task, model, attack, refused), tmp_path, None, progress=False)
    outcome = runner.run()
    runs = 3 if task == "toy_detection" else 2
    assert not outcome.errors and len(outcome.written) == runs and len(outcome.unsupported) == 1
    assert events[0] == ("record", "unsupported") and ("fit", None) in events
    records = {p.parent.name: json.loads(p.read_text())
               for p in (tmp_path / "records").rglob("seed0.json")}
    assert records[refused]["status"] == "unsupported" and records[refused]["phase"] == "validation"
    assert refused.replace("ibau", "I-BAU").replace("ftsam", "FT-SAM") in records[refused]["reason"]
    for name in ("nft", "ft", "fp")[:runs]:
        record = records[name]
        assert record["status"] == "ok", record.get("error")
        assert set(record["after"]) == metrics and set(record["before"]) == metrics
        assert record["primary_metric"] == primary and record["higher_is_better"][primary]
    assert records["nft"]["diagnostics"]["steps"] == 8
    # the detector's two heads are its output layers: NFT leaves both unmasked
    if task == "toy_detection":
        masked = {layer["name"] for layer in records["nft"]["diagnostics"]["layers"]}
        assert masked and not masked & {"cls_head", "box_head"}
        assert records["fp"]["diagnostics"]["layer"] == ["cls_head", "box_head"]
        assert records["fp"]["diagnostics"]["features"] == 144
    # resuming rewrites the refusal (re-checked) and skips the finished cells
    again = MatrixRunner(_preset(task, model, attack, refused), tmp_path, None, progress=False)
    second = again.run()
    assert len(second.skipped) == runs and len(second.unsupported) == 1 and not second.written


def test_only_refused_defenses_is_bad_input(tmp_path):
    preset = Preset(name="toy", task="toy_detection", dataset="toy", model="toy_detector",
                    attacks=["relabel_patch"], defenses=["ibau", "abl"], seeds=[0])
    with pytest.raises(ValueError, match="no requested defense can serve") as info:
        MatrixRunner(preset, tmp_path, None, progress=False).run()
    assert "sample_losses" in str(info.value) and not (tmp_path / "records").exists()


def test_adapter_missing_a_required_method_is_one_error_naming_it(tmp_path):
    class NoEvaluate(TaskAdapter):
        name = "no_evaluate"

        def load_splits(self, dataset, data_root, options, seed):
            raise AssertionError("must not be called")

        def loss(self, model, inputs, targets):
            raise AssertionError("must not be called")

    TASKS.register("no_evaluate", NoEvaluate, overwrite=True)
    preset = Preset(name="x", task="no_evaluate", dataset="toy", model="m", attacks=["a"],
                    defenses=["nft"])
    with pytest.raises(ValueError, match=r"NoEvaluate .* required method\(s\) evaluate \("):
        MatrixRunner(preset, tmp_path, None, progress=False).validate()


def test_declared_capabilities_of_the_shipped_tasks():
    __import__("tasks")  # registers the shipped tasks
    synthetic, text = TASKS.get("synthetic")(), TASKS.get("text")()
    for name in DEFENSES.names():
        if name in {"nft", "ft", "fp", "anp", "rnp", "mcr", "abl", "cbd", "ibau", "awm", "ftsam",
                    "nad"}:
            assert DEFENSES.get(name)().supports(synthetic) is None, name
    refused = {n for n in ("ibau", "awm", "ftsam", "nad", "abl", "cbd")
               if DEFENSES.get(n)().supports(text)}
    assert refused == {"ibau", "awm", "ftsam", "nad"}
    detection = TASKS.get("toy_detection")()
    assert {n for n in ("ibau", "awm", "ftsam", "nad", "abl", "cbd", "nft", "ft", "fp")
            if DEFENSES.get(n)().supports(detection)} == {"ibau", "awm", "ftsam", "abl", "cbd"}
    smoothless = DEFENSES.get("ftsam").from_options({"label_smoothing": 0.0})
    assert smoothless.supports(detection) is None


def test_defenses_all_on_the_smoke_preset_runs_every_post_training_defense(tmp_path):
    budgets = {"nft": "iterations=5", "ft": "epochs=1", "fp": "epochs=1", "anp": "iterations=3",
               "ibau": "rounds=1", "awm": "outer=1", "ftsam": "epochs=1", "rnp":
               "recovering_epochs=1", "nad": "epochs=1", "mcr": "curve_epochs=1",
               "abl": "isolation_epochs=1", "cbd": "backdoor_epochs=1"}
    sets = ["--set", "train.epochs=2", "--set", "data.train_size=800", "--set",
            "data.test_size=200", "--set", "defense_options.nad.teacher_epochs=1",
            "--set", "defense_options.mcr.epochs=1", "--set", "defense_options.rnp.unlearning_epochs=1",
            "--set", "defense_options.abl.unlearning_epochs=1",
            "--set", "defense_options.abl.finetune_epochs=1", "--set", "defense_options.cbd.epochs=1",
            "--set", "defense_options.awm.inner=1", "--set", "defense_options.ibau.batch_size=50"]
    for name, option in budgets.items():
        sets += ["--set", f"defense_options.{name}.{option}"]
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--preset", "smoke",
                           "--defenses", "all", "--out", str(tmp_path), "--no-progress", *sets],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    records = {p.parent.name: json.loads(p.read_text())
               for p in (tmp_path / "records").rglob("seed0.json")}
    post = {n for n in budgets if n not in ("abl", "cbd")}
    assert post <= set(records)
    assert all(records[n]["status"] == "ok" for n in records), \
        {n: r.get("error", {}).get("message") for n, r in records.items() if r["status"] != "ok"}
