import pytest
import torch

import tasks.synthetic  # noqa: F401  (registers its models and attacks)
from core.attack import hash_indices
from core.registry import ATTACKS, MODELS, TASKS
from core.seeding import make_generator

OPTS = {"train_size": 600, "test_size": 200, "clean_per_class": 5, "image_size": 12}


@pytest.fixture(scope="module")
def task():
    adapter = TASKS.get("synthetic")()
    return adapter, adapter.load_splits("synthetic", None, OPTS, seed=0)


def test_splits_are_disjoint_balanced_and_seeded(task):
    adapter, splits = task
    assert len(splits.clean) == 50 and len(splits.train) == 550
    assert torch.bincount(splits.clean.targets, minlength=10).tolist() == [5] * 10
    # held-out images are not in the attacker's training set
    flat_train = splits.train.inputs.flatten(1)
    for image in splits.clean.inputs.flatten(1)[:10]:
        assert not (flat_train == image).all(dim=1).any()
    again = adapter.load_splits("synthetic", None, OPTS, seed=0)
    torch.testing.assert_close(again.clean.inputs, splits.clean.inputs)
    other = adapter.load_splits("synthetic", None, OPTS, seed=1)
    assert not torch.equal(other.clean.inputs, splits.clean.inputs)
    assert 0.0 <= splits.train.inputs.min() and splits.train.inputs.max() <= 1.0


@pytest.mark.parametrize("name", ["patch", "blend"])
def test_attack_poisons_exact_fraction_with_right_labels(task, name):
    adapter, splits = task
    attack = adapter.build_attack(name, {"poison_rate": 0.1, "target": 3}, splits)
    result = attack.poison(splits.train, make_generator(0))
    assert len(result.indices) == round(0.1 * len(splits.train))
    changed = (result.data.inputs != splits.train.inputs).flatten(1).any(dim=1)
    assert set(torch.nonzero(changed).flatten().tolist()) <= set(result.indices.tolist())
    assert (result.data.targets[result.indices] == 3).all()
    assert (splits.train.targets[result.indices] != 3).all()      # only non-target samples
    untouched = torch.ones(len(splits.train), dtype=torch.bool)
    untouched[result.indices] = False
    assert torch.equal(result.data.targets[untouched], splits.train.targets[untouched])
    again = attack.poison(splits.train, make_generator(0))
    assert hash_indices(again.indices) == result.index_hash
    assert torch.equal(again.data.inputs, result.data.inputs)
    triggered = attack.apply_trigger(splits.test.inputs)
    assert triggered.min() >= 0.0 and triggered.max() <= 1.0
    assert torch.equal(triggered, attack.apply_trigger(splits.test.inputs))


def test_all_to_all_labels(task):
    adapter, splits = task
    attack = adapter.build_attack("patch", {"all_to_all": True}, splits)
    labels = torch.arange(10)
    assert attack.attack_labels(labels).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    assert attack.eval_selection(labels).all()


def test_bad_attack_options_are_clear_errors(task):
    adapter, splits = task
    with pytest.raises(ValueError, match="poison_rate"):
        adapter.build_attack("patch", {"poison_rate": 1.5}, splits)
    with pytest.raises(ValueError, match="poison_rate"):
        adapter.build_attack("patch", {"poison_rate": 0.0}, splits)
    with pytest.raises(ValueError, match="out of range"):
        adapter.build_attack("patch", {"target": 10}, splits)
    with pytest.raises(Exception, match="Did you mean 'patch'"):
        adapter.build_attack("ptach", {}, splits)


@pytest.mark.parametrize("name", ["tiny_cnn", "tiny_mlp"])
def test_every_registered_model_runs_forward_and_backward(name):
    assert name in MODELS.names("synthetic")
    model = MODELS.get(name, namespace="synthetic")(num_classes=10, in_channels=3)
    x = torch.rand(4, 3, 16, 16)
    out = model(x)
    assert out.shape == (4, 10)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_attack_registry_is_namespaced():
    assert {"patch", "blend"} <= set(ATTACKS.names("synthetic"))
