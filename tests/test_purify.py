import copy

import pytest
import torch

import tasks.synthetic  # noqa: F401
from core.adapter import CleanSetError
from core.augment import Compose, Identity, MixUp
from core.data import TensorData
from core.defenses.nft import NFT
from core.purify import NFTConfig, NonFiniteLossError, nft_purify
from core.registry import TASKS

OPTS = {"train_size": 400, "test_size": 100, "clean_per_class": 4, "image_size": 12}


@pytest.fixture(scope="module")
def setup():
    adapter = TASKS.get("synthetic")()
    splits = adapter.load_splits("synthetic", None, OPTS, seed=0)
    torch.manual_seed(0)
    model = adapter.build_model("tiny_cnn", splits)
    return adapter, splits, model


def _config(**kw):
    return NFTConfig(**{"iterations": 12, "batch_size": 16, "progress": False, **kw})


def test_purify_respects_bounds_keeps_class_and_first_layer(setup):
    adapter, splits, model = setup
    original = copy.deepcopy(model.state_dict())
    result = nft_purify(model, adapter, splits.clean, MixUp(10), _config(lr=5.0), "cpu", seed=0)
    # the input model is untouched
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key]), key
    purified = result.model
    assert type(purified) is type(model)
    assert list(purified.state_dict()) == list(original)
    # first conv (never masked) and the classifier (not masked by default) keep their weights
    assert torch.equal(purified[0].weight, original["0.weight"])
    assert torch.equal(purified[-1].weight, original[f"{len(purified) - 1}.weight"])
    # with a large lr the masks hit their bounds; every mask stays in [μ(l), 1]
    for layer in result.layers:
        values = torch.tensor(result.masks[layer["name"]])
        assert values.min() >= layer["mu"] - 1e-6 and values.max() <= 1.0 + 1e-6
    assert any(min(v) < 0.99 for v in result.masks.values())
    assert len(result.loss_curve) == result.steps == 12
    assert result.wall_time_s > 0
    # the folded γ equals the original γ times the final mask
    layer = result.layers[0]
    gamma = original[f"{layer['target']}.weight"] * torch.tensor(result.masks[layer["name"]])
    torch.testing.assert_close(purified.state_dict()[f"{layer['target']}.weight"], gamma)


def test_mask_first_option_masks_the_first_layer(setup):
    adapter, splits, model = setup
    default = nft_purify(model, adapter, splits.clean, MixUp(10), _config(), "cpu")
    first = nft_purify(model, adapter, splits.clean, MixUp(10), _config(mask_first=True), "cpu")
    assert [l["name"] for l in first.layers] == ["0"] + [l["name"] for l in default.layers]
    assert first.layers[0]["depth"] == 1 and first.layers[0]["via"] == "norm"


def test_same_seed_same_masks_other_seed_other_masks(setup):
    adapter, splits, model = setup
    aug = Compose(Identity(), MixUp(10))
    a = nft_purify(model, adapter, splits.clean, aug, _config(), "cpu", seed=3)
    b = nft_purify(model, adapter, splits.clean, aug, _config(), "cpu", seed=3)
    c = nft_purify(model, adapter, splits.clean, aug, _config(), "cpu", seed=4)
    assert a.masks == b.masks and a.loss_curve == b.loss_curve
    assert a.masks != c.masks


def test_epoch_budget_counts_full_batches(setup):
    adapter, splits, model = setup
    result = nft_purify(model, adapter, splits.clean, MixUp(10),
                        NFTConfig(epochs=3, batch_size=16, progress=False), "cpu")
    assert result.steps == 3 * (len(splits.clean) // 16)


def test_non_finite_loss_stops_and_leaves_the_model_untouched(setup):
    adapter, splits, model = setup
    original = copy.deepcopy(model.state_dict())
    bad = TensorData(splits.clean.inputs.clone(), splits.clean.targets)
    bad.inputs[0, 0, 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="model is unchanged"):
        nft_purify(model, adapter, bad, MixUp(10), _config(check_every=1, iterations=50), "cpu")
    for key, value in model.state_dict().items():
        assert torch.equal(value, original[key])


def test_clean_set_missing_a_class_or_too_small(setup):
    adapter, splits, model = setup
    keep = splits.clean.targets != 7
    with pytest.raises(CleanSetError, match=r"class\(es\) \[7\]"):
        nft_purify(model, adapter, splits.clean.subset(torch.nonzero(keep).flatten()),
                   MixUp(10), _config(), "cpu")
    with pytest.raises(CleanSetError, match="fewer than one batch"):
        nft_purify(model, adapter, splits.clean, MixUp(10), _config(batch_size=64), "cpu")


def test_nft_defense_wraps_the_loop_and_checks_augmentation_names(setup):
    adapter, splits, model = setup
    result = NFT.from_options({"iterations": 4, "batch_size": 16, "progress": False}).purify(
        model, adapter, splits.clean, torch.device("cpu"))
    assert set(result.diagnostics) >= {"masks", "layers", "loss_curve", "eta_c"}
    assert result.diagnostics["eta_c"] == pytest.approx(1e-3 / 4)
    with pytest.raises(KeyError, match="Did you mean 'mixup'"):
        NFT.from_options({"augmentation": "mixupp", "iterations": 2, "batch_size": 16,
                          "progress": False}).purify(model, adapter, splits.clean, "cpu")
