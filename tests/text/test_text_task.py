"""End to end on the synthetic corpus: splits, poisoning, training, metrics, NFT, the runner."""
import json

import torch

from benchmarks.runner.cli import main
from core.defenses.nft import NFT
from core.seeding import make_generator
from core.training import TrainConfig, fit


def test_splits_hold_token_ids_and_record_the_bleu_signature(text_task):
    adapter, splits = text_task
    assert splits.num_classes == adapter.codec.vocab_size == 200
    for data in (splits.train, splits.clean, splits.test):
        assert data.inputs.dtype == torch.long and data.targets.dtype == torch.long
    assert len(splits.clean) == 60 and len(splits.train) == 540 and len(splits.test) == 60
    assert splits.info["bleu_signature"].startswith("nrefs:1")
    assert adapter.samples_per_class(splits.clean) > 0


def test_backdoor_train_evaluate_and_nft_smoke(text_task):
    adapter, splits = text_task
    attack = adapter.build_attack("trigger_word", {"poison_rate": 0.2}, splits)
    poison = attack.poison(splits.train, make_generator(0))
    torch.manual_seed(0)
    model = adapter.build_model("transformer_tiny", splits)
    config = TrainConfig(epochs=2, batch_size=32, optimizer="adamw", lr=3e-3, weight_decay=0.01,
                         grad_clip=1.0, warmup_steps=5, progress=False)   # text_smoke's recipe
    info = fit(model, adapter, poison.data, config, "cpu")
    assert info["loss_curve"][-1] < info["loss_curve"][0]
    before = adapter.evaluate(model, splits.test, attack, torch.device("cpu"))
    assert set(before) == {"clean_bleu", "asr", "attack_bleu"}
    assert all(0.0 <= v <= 100.0 for v in before.values())
    defense = NFT.from_options({"iterations": 4, "batch_size": 16, "progress": False})
    result = defense.purify(model, adapter, splits.clean, torch.device("cpu"))
    assert type(result.model) is type(model)
    assert set(result.model.state_dict()) == set(model.state_dict())
    assert len(result.diagnostics["loss_curve"]) == 4
    assert len(result.diagnostics["layers"]) > 20
    after = adapter.evaluate(result.model, splits.test, attack, torch.device("cpu"))
    assert set(after) == set(before)


def test_dialogue_kind_reports_distinct(text_task, monkeypatch):
    adapter, splits = text_task
    monkeypatch.setattr(adapter, "kind", "dg")
    torch.manual_seed(0)
    model = adapter.build_model("transformer_tiny", splits)
    metrics = adapter.evaluate(model, splits.test, None, torch.device("cpu"))
    assert set(metrics) == {"clean_bleu", "distinct_1", "distinct_2"}


def test_runner_text_smoke_preset(tmp_path):
    out = tmp_path / "run"
    args = ["--preset", "text_smoke", "--out", str(out), "--no-progress",
            "--set", "data.synthetic_train=400", "--set", "data.synthetic_test=40",
            "--set", "train.epochs=1", "--set", "defense_options.nft.iterations=3",
            "--set", "defense_options.nft.batch_size=16", "--set", "train.batch_size=32"]
    assert main(args) == 0
    records = sorted((out / "records").rglob("seed*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "ok" and record["task"] == "text"
    assert {"clean_bleu", "asr", "attack_bleu"} <= set(record["before"]) & set(record["after"])
    assert record["higher_is_better"]["clean_bleu"] is True
    assert record["higher_is_better"]["asr"] is False
    assert record["data"]["bleu_signature"].startswith("nrefs:1")
