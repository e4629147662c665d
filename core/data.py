"""Datasets held as tensors: inputs and targets on one device, indexed in batches."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch


@dataclass
class TensorData:
    """``inputs[i]`` with target ``targets[i]``; both tensors share their first dimension.

    Inputs may be images, token ids, point clouds or clips: anything a model takes as one
    tensor batch. Targets are class indices, soft label rows or token sequences.
    """

    inputs: torch.Tensor
    targets: torch.Tensor

    def __post_init__(self) -> None:
        if self.inputs.shape[0] != self.targets.shape[0]:
            raise ValueError(f"inputs ({self.inputs.shape[0]}) and targets "
                             f"({self.targets.shape[0]}) differ in length")

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    def to(self, device: torch.device | str) -> "TensorData":
        return TensorData(self.inputs.to(device), self.targets.to(device))

    def subset(self, index: torch.Tensor) -> "TensorData":
        index = index.to(self.inputs.device)
        return TensorData(self.inputs[index], self.targets[index])

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Consecutive batches in stored order (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self.inputs[start:start + batch_size], self.targets[start:start + batch_size]


def class_counts(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(targets.long().flatten().cpu(), minlength=num_classes)


def balanced_split(targets: torch.Tensor, per_class: int | float, num_classes: int,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (held_out, rest): ``per_class`` samples of every class held out.

    ``per_class`` is a count (int ≥ 1) or a fraction of the whole set (float in (0, 1)), split
    evenly over classes (at least one sample each). The selection depends only on ``generator``.
    """
    targets = targets.long().cpu()
    if isinstance(per_class, float):
        if not 0.0 < per_class < 1.0:
            raise ValueError(f"clean split fraction must lie in (0, 1), got {per_class}")
        count = max(1, round(per_class * len(targets) / num_classes))
    else:
        count = int(per_class)
    if count < 1:
        raise ValueError(f"clean split must hold at least one sample per class, got {per_class}")
    held: list[torch.Tensor] = []
    for c in range(num_classes):
        members = torch.nonzero(targets == c).flatten()
        if len(members) < count:
            raise ValueError(f"class {c} has {len(members)} samples, fewer than the {count} "
                             f"the clean split needs")
        order = torch.randperm(len(members), generator=generator)
        held.append(members[order[:count]])
    held_out = torch.sort(torch.cat(held)).values
    keep = torch.ones(len(targets), dtype=torch.bool)
    keep[held_out] = False
    return held_out, torch.nonzero(keep).flatten()
