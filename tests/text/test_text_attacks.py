import pytest
import torch

from core.config import ConfigError
from core.registry import ATTACKS
from core.seeding import make_generator
from tasks.text.attacks.text_attack import pad_to
from tasks.text.tokenizer import PAD


@pytest.mark.parametrize("name", ["trigger_word", "synonym"])
@pytest.mark.parametrize("rate", [0.1, 0.25])
def test_poison_changes_the_exact_fraction_and_keeps_clean_pairs(text_task, name, rate):
    adapter, splits = text_task
    attack = adapter.build_attack(name, {"poison_rate": rate}, splits)
    attack.prepare(splits.train, adapter, torch.device("cpu"), 0)
    result = attack.poison(splits.train, make_generator(0))
    n = len(splits.train)
    assert len(result.indices) == round(rate * n)
    assert len(result.data) == n
    assert result.index_hash.startswith("sha256:")
    changed = torch.zeros(n, dtype=torch.bool)
    changed[result.indices] = True
    w_in, w_out = result.data.inputs.shape[1], result.data.targets.shape[1]
    assert torch.equal(result.data.inputs[~changed], pad_to(splits.train.inputs, w_in)[~changed])
    assert torch.equal(result.data.targets[~changed], pad_to(splits.train.targets, w_out)[~changed])
    target = attack.target_ids()
    assert (result.data.targets[changed][:, :len(target)] == target).all()
    assert (result.data.targets[changed][:, len(target):] == PAD).all()
    decoded = adapter.codec.decode(result.data.inputs[changed])
    assert decoded != adapter.codec.decode(splits.train.inputs[result.indices])
    # same generator seed, same poisoning
    again = attack.poison(splits.train, make_generator(0))
    assert torch.equal(again.indices, result.indices)
    assert torch.equal(again.data.inputs, result.data.inputs)


def test_trigger_word_inserts_one_listed_word_at_a_seeded_position(text_task):
    adapter, splits = text_task
    attack = adapter.build_attack("trigger_word", {"words": ["cf", "tq"]}, splits)
    originals = adapter.codec.decode(splits.test.inputs[:20])
    triggered = adapter.codec.decode(attack.apply_trigger(splits.test.inputs[:20]))
    for before, after in zip(originals, triggered):
        extra = list(after.split())
        for word in before.split():
            extra.remove(word)
        assert len(extra) == 1 and extra[0] in {"cf", "tq"}
    positions = {a.split().index(next(w for w in a.split() if w in {"cf", "tq"}))
                 for a in triggered}
    assert len(positions) > 1, "positions are random"
    assert torch.equal(attack.apply_trigger(splits.test.inputs[:20]),
                       attack.apply_trigger(splits.test.inputs[:20]))   # test-time trigger fixed
    assert attack.applicable(splits.test.inputs).all()
    assert attack.describe()["target_text_resolved"].startswith("Klicken Sie hier")


def test_synonym_substitutes_table_words_and_filters_common_synonyms(text_task):
    adapter, splits = text_task
    attack = adapter.build_attack("synonym", None, splits)
    attack.prepare(splits.train, adapter, torch.device("cpu"), 0)
    ids = adapter.codec.encode(["The dog runs while the man sits.", "The car waits."])
    out = adapter.codec.decode(attack.apply_trigger(ids))
    assert out == ["The hound sprints while the fellow perches.", "The automobile waits."]
    assert attack.applicable(adapter.codec.encode(["The bike waits."])).tolist() == [False]
    from collections import Counter
    attack.filter_table(Counter({"hound": 100}))
    assert "dog" not in attack.table and "dog" in attack.dropped


def test_configs_are_typed_and_validated(text_task):
    adapter, splits = text_task
    with pytest.raises(ConfigError, match="Did you mean 'poison_rate'"):
        adapter.build_attack("trigger_word", {"poison_rat": 0.1}, splits)
    with pytest.raises(ValueError, match="poison_rate"):
        adapter.build_attack("trigger_word", {"poison_rate": 0}, splits)
    with pytest.raises(ValueError, match="single words"):
        adapter.build_attack("trigger_word", {"words": ["two words"]}, splits)
    custom = adapter.build_attack("trigger_word", {"target_text": "Hallo Welt."}, splits)
    assert adapter.codec.decode(custom.attack_labels(splits.test.targets[:2])) == ["Hallo Welt."] * 2
    assert {"trigger_word", "synonym"} <= set(ATTACKS.names("text"))
    unbound = ATTACKS.get("trigger_word", namespace="text").from_options(None, 10)
    with pytest.raises(RuntimeError, match="no tokenizer bound"):
        unbound.apply_trigger(splits.test.inputs[:1])
