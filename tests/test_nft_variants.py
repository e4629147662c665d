"""NFT's analysis options (mask_via) and the nft_sam variant: off by default, each changes what
it says and nothing else."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import core.defenses  # noqa: F401
from core.augment import Identity
from core.flat_masks import inject_flat_masks
from core.purify import NFTConfig, nft_purify
from core.registry import DEFENSES
from tests_helpers_nft import ToyTask, toy_data, toy_model  # noqa: F401


def test_mask_via_weight_masks_convs_before_their_norm():
    model = toy_model()
    example = torch.rand(2, 3, 8, 8)
    norm = inject_flat_masks(model, example)
    assert {layer.via for layer in norm.layers} == {"norm"}
    other = toy_model()
    weight = inject_flat_masks(other, example, via_norm=False, scale_conv_outputs=False)
    assert {layer.via for layer in weight.layers} == {"weight"}
    assert [layer.name for layer in weight.layers] == [layer.name for layer in norm.layers]
    assert all(layer.target == layer.name for layer in weight.layers)


def test_defaults_leave_sam_off_and_nft_sam_turns_it_on():
    assert NFTConfig().sam_rho == 0.0 and NFTConfig().mask_via == "norm"
    variant = DEFENSES.get("nft_sam").from_options({})
    assert variant.config.sam_rho == 2.0 and variant.config.sam_adaptive
    assert DEFENSES.get("nft").from_options({}).config.sam_rho == 0.0
    with pytest.raises(ValueError, match="sam_rho"):
        NFTConfig(sam_rho=-1.0)
    with pytest.raises(ValueError, match="mask_via"):
        NFTConfig(mask_via="gamma")


def test_sam_changes_the_masks_but_not_the_weights_or_the_running_stats():
    task, clean = ToyTask(), toy_data()
    model = toy_model()
    config = NFTConfig(iterations=4, batch_size=16, progress=False, check_every=1)
    plain = nft_purify(model, task, clean, Identity(), config, "cpu", seed=0)
    sam = nft_purify(model, task, clean, Identity(),
                     NFTConfig(iterations=4, batch_size=16, progress=False, check_every=1,
                               sam_rho=2.0), "cpu", seed=0)
    assert plain.masks.keys() == sam.masks.keys()
    assert any(plain.masks[k] != sam.masks[k] for k in plain.masks)
    # the input model is untouched; the purified one differs from it only by the masks:
    # every folded weight is a per-row multiple (in [0, 1]) of the original
    for (name, before), after in zip(model.state_dict().items(), sam.model.state_dict().values()):
        if before.is_floating_point() and before.dim() >= 1 and "running" not in name:
            ratio = torch.where(before.abs() > 1e-8, after / before, torch.ones_like(before))
            assert (ratio >= -1e-5).all() and (ratio <= 1 + 1e-5).all()


def test_nft_prune_zeroes_exactly_the_units_below_the_threshold_and_keeps_the_rest():
    from core.defenses.nft_prune import prune_units

    task, clean = ToyTask(), toy_data()
    model = toy_model()
    defense = DEFENSES.get("nft_prune").from_options(
        {"iterations": 6, "batch_size": 16, "progress": False, "lr": 0.5, "threshold": 0.97})
    result = defense.purify(model, task, clean, "cpu", seed=0)
    diag = result.diagnostics
    assert diag["threshold"] == 0.97
    expected = {name: sum(m < 0.97 for m in values) for name, values in diag["masks"].items()}
    assert diag["pruned_units"] == {k: v for k, v in expected.items() if v}
    assert sum(expected.values()) > 0
    before, after = model.state_dict(), result.model.state_dict()
    assert before.keys() == after.keys()
    targets = {layer["name"]: layer["target"] for layer in diag["layers"]}
    for name, values in diag["masks"].items():
        weight = after[f"{targets[name]}.weight"]
        for unit, m in enumerate(values):
            if m < 0.97:
                assert weight[unit].abs().sum() == 0
            else:   # untouched: NFT's partial scales are not applied
                assert torch.equal(weight[unit], before[f"{targets[name]}.weight"][unit])
    with pytest.raises(ValueError, match="threshold"):
        DEFENSES.get("nft_prune").from_options({"threshold": 1.5})
    # the helper alone: a threshold of 0 prunes nothing
    assert prune_units(toy_model(), diag["layers"], diag["masks"], 0.0) == {}
