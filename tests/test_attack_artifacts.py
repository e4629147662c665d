"""The artifact cache that attacks with learned trigger parts share (core.attack.cached_module)."""
from __future__ import annotations

import torch
from torch import nn

from core.attack import Attack, AttackConfig, tensor_hash


class Learned(Attack):
    name = "learned_test"

    def apply_trigger(self, inputs):
        return inputs


def test_cached_module_learns_once_then_loads(tmp_path):
    attack = Learned(AttackConfig(), num_classes=3)
    attack.artifact_dir = tmp_path
    calls = []

    def learn(module):
        calls.append(1)
        with torch.no_grad():
            module.weight.fill_(0.5)

    first = attack.cached_module(nn.Linear(2, 2), "gen", {"seed": 0}, learn)
    assert attack.artifacts["gen"]["cache_hit"] is False
    second = attack.cached_module(nn.Linear(2, 2), "gen", {"seed": 0}, learn)
    assert calls == [1] and attack.artifacts["gen"]["cache_hit"] is True
    assert torch.equal(first.weight, second.weight)
    assert len(list(tmp_path.glob("attack-learned_test-gen-*.safetensors"))) == 1
    # another key (or config) learns again, into another file
    attack.cached_module(nn.Linear(2, 2), "gen", {"seed": 1}, learn)
    other = Learned(AttackConfig(poison_rate=0.2), num_classes=3)
    other.artifact_dir = tmp_path
    other.cached_module(nn.Linear(2, 2), "gen", {"seed": 0}, learn)
    assert calls == [1, 1, 1]
    assert len(list(tmp_path.glob("*.safetensors"))) == 3


def test_cached_module_without_a_folder_always_learns():
    attack = Learned(AttackConfig(), num_classes=3)
    calls = []
    for _ in range(2):
        attack.cached_module(nn.Linear(2, 2), "gen", {}, lambda m: calls.append(1))
    assert calls == [1, 1] and attack.artifacts["gen"]["cache_hit"] is False


def test_tensor_hash_sees_every_value():
    x = torch.zeros(4, 3)
    y = x.clone()
    y[2, 1] = 1e-6
    assert tensor_hash(x) == tensor_hash(x.clone()) != tensor_hash(y)
