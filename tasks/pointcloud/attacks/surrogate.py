"""A surrogate point-cloud classifier trained (and cached) on the attacker's clean data, for the
attacks that optimise their trigger against a model (3DPC-BA)."""
from __future__ import annotations

import torch
from torch import nn

from core.attack import Attack, tensor_hash
from core.data import TensorData
from core.registry import MODELS
from core.training import TrainConfig, fit


def train_surrogate(attack: Attack, train: TensorData, adapter, device: torch.device,
                    seed: int, model: str, epochs: int, batch_size: int = 32) -> nn.Module:
    """A ``model`` classifier trained on the attacker's clean ``train`` data, cached as
    safetensors through ``attack.cached_module`` (keyed by the data, the seed and the sizes)."""
    num_classes = attack.num_classes
    net = MODELS.get(model, namespace="pointcloud")(num_classes=num_classes)
    config = TrainConfig(epochs=epochs, batch_size=min(batch_size, len(train)), lr=0.05,
                         progress=getattr(attack, "progress", True))

    def learn(module: nn.Module) -> None:
        fit(module, adapter, train, config, device, seed)

    key = {"seed": seed, "data": tensor_hash(train.inputs), "labels": tensor_hash(train.targets),
           "model": model, "epochs": epochs, "batch_size": config.batch_size}
    net = attack.cached_module(net, "surrogate", key, learn)
    return net.to(device).eval()
