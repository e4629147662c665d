"""What the point-cloud attacks share: fixed trigger point patterns, point replacement that keeps
the count fixed, and a surrogate classifier trained (and cached) on the attacker's clean data."""
from __future__ import annotations

import math

import torch
from torch import nn

from core.attack import Attack, tensor_hash
from core.data import TensorData
from core.registry import MODELS
from core.seeding import make_generator
from core.training import TrainConfig, fit


def fibonacci_sphere(count: int) -> torch.Tensor:
    """``count`` points spread evenly on the unit sphere (a deterministic Fibonacci lattice)."""
    i = torch.arange(count, dtype=torch.float64) + 0.5
    polar = torch.acos(1.0 - 2.0 * i / count)
    azimuth = math.pi * (1.0 + 5.0 ** 0.5) * i
    return torch.stack([torch.sin(polar) * torch.cos(azimuth),
                        torch.sin(polar) * torch.sin(azimuth),
                        torch.cos(polar)], dim=1).float()


def replaced_indices(num_points: int, count: int, seed: int) -> torch.Tensor:
    """The ``count`` point slots (sorted) a trigger overwrites: a fixed random choice from
    ``seed``, the same for every cloud (the stored point order is arbitrary, so this deletes a
    random subset of each shape, as 3DPC-BA's code deletes random points)."""
    if count > num_points:
        raise ValueError(f"a trigger of {count} points does not fit clouds of {num_points}")
    return torch.randperm(num_points, generator=make_generator(seed))[:count].sort().values


def insert_points(inputs: torch.Tensor, points: torch.Tensor, seed: int) -> torch.Tensor:
    """Copies of clouds (B, N, 3) with ``points`` (P, 3) written over P fixed point slots."""
    out = inputs.clone()
    slots = replaced_indices(inputs.shape[1], points.shape[0], seed).to(inputs.device)
    out[:, slots] = points.to(device=inputs.device, dtype=inputs.dtype)
    return out


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
