"""Datasets held as tensors on one device, read in batches through one method.

Every loop of the suite (backdoor training, NFT, the defenses, evaluation) reads a dataset only
through ``len(data)``, ``data.batch(index)`` and ``data.batches(batch_size)``, so a modality
decides how its samples are stored:

* ``inputs``: one tensor whose first dimension indexes samples (images, token ids, point
  clouds, uint8 video clips, …);
* ``targets``: a tensor (class ids, multi-hot or soft rows, token sequences) **or** a Python
  list with one object per sample (e.g. a dict of ``boxes`` and ``labels`` tensors per image);
  a batch of list targets is the list of the selected samples' objects;
* ``transform``: an optional callable applied to every input batch when it is read (e.g.
  uint8 clips → float in [0, 1]), so inputs can stay compact on the device.

The split recipe every classification task shares (``class_balanced_splits``: the defender's
class-balanced clean set held out first, then the attacker's and the test subsets) lives here
too, with its building blocks ``balanced_split`` and ``per_class_subset``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch

Targets = Any   # torch.Tensor | list[Any]
Index = Any     # torch.Tensor of indices or booleans | slice | list[int]


def move_to(obj: Any, device: torch.device | str) -> Any:
    """``obj`` with every tensor inside (dicts, lists, tuples) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: move_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(move_to(v, device) for v in obj)
    return obj


def _positions(index: Index, length: int) -> list[int]:
    """Python positions selected by ``index`` (for list targets)."""
    if isinstance(index, slice):
        return list(range(length))[index]
    if isinstance(index, torch.Tensor):
        if index.dtype == torch.bool:
            index = torch.nonzero(index).flatten()
        return index.tolist()
    return [int(i) for i in index]


@dataclass
class TensorData:
    """``inputs[i]`` with target ``targets[i]`` (a tensor row or a list entry).

    ``transform`` (optional) maps a batch of stored inputs to what the model takes; ``inputs``
    itself always holds the stored form. See the module docstring.
    """

    inputs: torch.Tensor
    targets: Targets
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.inputs, torch.Tensor):
            raise TypeError(f"TensorData inputs must be a tensor, got {type(self.inputs).__name__}")
        if not isinstance(self.targets, (torch.Tensor, list)):
            raise TypeError(f"TensorData targets must be a tensor or a list (one object per "
                            f"sample), got {type(self.targets).__name__}")
        if self.transform is not None and not callable(self.transform):
            raise TypeError(f"TensorData transform must be callable, got {self.transform!r}")
        n_targets = self.targets.shape[0] if isinstance(self.targets, torch.Tensor) \
            else len(self.targets)
        if self.inputs.shape[0] != n_targets:
            raise ValueError(f"inputs ({self.inputs.shape[0]}) and targets ({n_targets}) "
                             f"differ in length")

    def __len__(self) -> int:
        return self.inputs.shape[0]

    @property
    def device(self) -> torch.device:
        return self.inputs.device

    @property
    def structured_targets(self) -> bool:
        """True when targets are a list of per-sample objects rather than a tensor."""
        return isinstance(self.targets, list)

    def _replace(self, inputs: torch.Tensor, targets: Targets) -> "TensorData":
        return TensorData(inputs, targets, self.transform)

    def to(self, device: torch.device | str) -> "TensorData":
        return self._replace(self.inputs.to(device), move_to(self.targets, device))

    def select_targets(self, index: Index) -> Targets:
        """The targets of ``index`` (a tensor of indices or booleans, a slice, a list)."""
        if isinstance(self.targets, torch.Tensor):
            if isinstance(index, torch.Tensor):
                index = index.to(self.targets.device)
            return self.targets[index]
        return [self.targets[i] for i in _positions(index, len(self.targets))]

    def subset(self, index: Index) -> "TensorData":
        """A new ``TensorData`` of the selected samples (stored form, same transform)."""
        if isinstance(index, torch.Tensor):
            index = index.to(self.inputs.device)
        return self._replace(self.inputs[index], self.select_targets(index))

    def batch(self, index: Index) -> tuple[torch.Tensor, Targets]:
        """``(inputs, targets)`` of the selected samples, inputs passed through ``transform``.

        ``index`` is a tensor of indices (or a boolean mask) on any device, a slice or a list.
        """
        if isinstance(index, torch.Tensor):
            index = index.to(self.inputs.device)
        inputs = self.inputs[index]
        if self.transform is not None:
            inputs = self.transform(inputs)
        return inputs, self.select_targets(index)

    def batches(self, batch_size: int) -> Iterator[tuple[torch.Tensor, Targets]]:
        """Consecutive batches in stored order (for evaluation)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        for start in range(0, len(self), batch_size):
            yield self.batch(slice(start, start + batch_size))

    def input_example(self, count: int = 2) -> torch.Tensor:
        """The first ``count`` inputs as the model takes them (transformed)."""
        return self.batch(slice(0, count))[0]


def hash_indices(indices: torch.Tensor) -> str:
    """SHA-256 of the sorted int64 indices (recorded with every result)."""
    data = torch.sort(indices.detach().cpu().long().flatten()).values.numpy().tobytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def class_counts(targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.bincount(targets.long().flatten().cpu(), minlength=num_classes)


def balanced_split(targets: torch.Tensor, per_class: int | float, num_classes: int,
                   generator: torch.Generator, leave_one: bool = True
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (held_out, rest): ``per_class`` samples of every class held out.

    ``per_class`` is a count (int ≥ 1) or a fraction of the whole set (float in (0, 1)), split
    evenly over classes (at least one sample each). The selection depends only on ``generator``.
    With ``leave_one`` (the defender's clean split) every class must keep at least one sample in
    ``rest``; otherwise the error names the data option to change and a value that fits.
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
    sizes = torch.bincount(targets, minlength=num_classes)[:num_classes]
    smallest = int(sizes.min()) if num_classes else 0
    if smallest < count or (leave_one and smallest <= count):
        c = int(sizes.argmin())
        key = "data.clean_fraction" if isinstance(per_class, float) else "data.clean_per_class"
        if not leave_one:
            raise ValueError(f"class {c} has {smallest} samples, fewer than the {count} the "
                             f"split needs")
        if smallest <= 1:
            raise ValueError(f"class {c} has {smallest} training sample(s): too few for a clean "
                             f"split that leaves the attacker any (add data to that class)")
        half = max(1, smallest // 2)   # as many for the attacker as for the defender
        fraction = int(1000 * half * num_classes / len(targets)) / 1000
        fits = (f"{key}={fraction:g}" if key.endswith("fraction") and fraction > 0
                else f"data.clean_per_class={half}")
        raise ValueError(f"the clean split ({key}={per_class}: {count} per class) would hold "
                         f"out all {smallest} training samples of class {c}, leaving the attacker "
                         f"none; set {fits} (or at most {smallest - 1} per class)")
    held: list[torch.Tensor] = []
    for c in range(num_classes):
        members = torch.nonzero(targets == c).flatten()
        order = torch.randperm(len(members), generator=generator)
        held.append(members[order[:count]])
    held_out = torch.sort(torch.cat(held)).values
    keep = torch.ones(len(targets), dtype=torch.bool)
    keep[held_out] = False
    return held_out, torch.nonzero(keep).flatten()


def per_class_subset(targets: torch.Tensor, index: torch.Tensor, per_class: int | None,
                     num_classes: int, generator: torch.Generator | None) -> torch.Tensor:
    """``per_class`` entries of ``index`` from each class (random with ``generator``, else the
    first ones), sorted; ``per_class=None`` returns ``index`` itself (tasks' seeded subsets)."""
    if per_class is None:
        return index
    picks = []
    for c in range(num_classes):
        members = index[targets[index] == c]
        if generator is not None:
            members = members[torch.randperm(len(members), generator=generator)]
        picks.append(members[:per_class])
    return torch.sort(torch.cat(picks)).values


@dataclass(frozen=True)
class SplitIndices:
    """Which samples each split takes: ``clean`` (the defender's, held out of the training set
    first), ``train`` (the attacker's, from the rest) and ``test``; sorted index tensors."""

    clean: torch.Tensor
    train: torch.Tensor
    test: torch.Tensor

    def info(self) -> dict[str, Any]:
        """Sizes and index hashes, recorded with the splits."""
        return {"train_size": len(self.train), "test_size": len(self.test),
                "clean_size": len(self.clean), "clean_index_hash": hash_indices(self.clean),
                "train_index_hash": hash_indices(self.train)}


def class_balanced_splits(train_targets: torch.Tensor, test_targets: torch.Tensor,
                          num_classes: int, generator: torch.Generator, *,
                          clean_per_class: int | None = None, clean_fraction: float | None = None,
                          train_per_class: int | None = None, test_per_class: int | None = None
                          ) -> SplitIndices:
    """The tasks' split recipe. The defender's clean set is held out of the training set first
    (``balanced_split``): ``clean_per_class`` samples of every class, or else ``clean_fraction``
    of the set; then ``train_per_class`` of each class of the rest are drawn for the attacker
    (all without it), and the first ``test_per_class`` of each test class are kept (all
    without it; ``per_class_subset``). Every draw comes from ``generator``, in that order."""
    clean = clean_per_class if clean_per_class is not None else clean_fraction
    if clean is None:
        raise ValueError("the clean split needs clean_per_class or clean_fraction")
    held, rest = balanced_split(train_targets, clean, num_classes, generator)
    train = per_class_subset(train_targets, rest, train_per_class, num_classes, generator)
    test = per_class_subset(test_targets, torch.arange(len(test_targets)), test_per_class,
                            num_classes, None)
    return SplitIndices(held, train, test)
