"""Which baseline defenses run on a seq2seq model: each post-training defense either purifies the
tiny transformer (same class back, metrics computable) or refuses with UnsupportedDefenseError
saying why — never an unrelated crash (issue 7: "those that cannot say so clearly")."""
import pytest
import torch

from core.defenses.base import UnsupportedDefenseError
from core.registry import DEFENSES
from core.seeding import make_generator
from core.training import TrainConfig, fit

RUNS = {"anp", "fp", "ft", "mcr", "nft", "nft_pam", "nft_prune", "nft_sam", "pam", "rnp"}
REFUSES = {"awm": "perturbation", "ibau": "perturbation", "ftsam": "label_smoothing",
           "nad": "feature layers"}
TINY = {"epochs": 1, "iterations": 2, "batch_size": 16, "progress": False}


@pytest.fixture(scope="module")
def backdoored(text_task):
    adapter, splits = text_task
    attack = adapter.build_attack("trigger_word", {"poison_rate": 0.2}, splits)
    poison = attack.poison(splits.train, make_generator(0))
    torch.manual_seed(0)
    model = adapter.build_model("transformer_tiny", splits)
    fit(model, adapter, poison.data, TrainConfig(epochs=1, batch_size=32, optimizer="adamw",
                                                 lr=3e-3, progress=False), "cpu")
    return model, attack


def build(name):
    cls = DEFENSES.get(name)
    return cls.from_options({k: v for k, v in TINY.items() if k in cls.Config.__dataclass_fields__})


def test_every_post_training_defense_is_classified():
    shipped = [n for n in DEFENSES.names()                  # other tests register test doubles
               if DEFENSES.get(n).__module__.startswith("core.defenses.")]
    post = {n for n in shipped if not getattr(DEFENSES.get(n), "training_time", False)}
    assert post == RUNS | set(REFUSES)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_defense_runs_on_the_transformer(name, text_task, backdoored):
    adapter, splits = text_task
    model, attack = backdoored
    result = build(name).purify(model, adapter, splits.clean, torch.device("cpu"))
    assert type(result.model) is type(model)
    assert set(result.model.state_dict()) == set(model.state_dict())
    metrics = adapter.evaluate(result.model, splits.test, attack, torch.device("cpu"))
    assert set(metrics) == {"clean_bleu", "asr", "attack_bleu"}


@pytest.mark.parametrize("name", sorted(REFUSES))
def test_defense_that_cannot_apply_says_why(name, text_task, backdoored):
    adapter, splits = text_task
    model, _ = backdoored
    with pytest.raises(UnsupportedDefenseError, match=REFUSES[name]):
        build(name).purify(model, adapter, splits.clean, torch.device("cpu"))
