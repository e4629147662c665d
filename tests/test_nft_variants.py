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
