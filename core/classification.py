"""Shared behaviour of single-label classification tasks (images, video, point clouds, …).

Not a modality: any adapter whose model maps an input tensor to class logits can inherit it.
Metrics follow docs/design.md §3: ACC on the clean test set; ASR over triggered test inputs whose true
label is not the attack label, counted as predicted == attack label; LCR over the same inputs,
counted as predicted == true label.
"""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .adapter import CleanSetError, TaskAdapter
from .attack import Attack
from .augment import soft_cross_entropy
from .data import TensorData, class_counts


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor | TensorData, device: torch.device,
            batch_size: int = 512) -> torch.Tensor:
    """Arg-max class of every input (a tensor batch or a ``TensorData``, read through its
    ``batches``), computed in eval mode in batches on ``device``."""
    was_training = model.training
    model.eval()
    preds = []
    if isinstance(inputs, TensorData):
        chunks = (x for x, _ in inputs.batches(batch_size))
    else:
        chunks = (inputs[start:start + batch_size] for start in range(0, inputs.shape[0],
                                                                      batch_size))
    try:
        for batch in chunks:
            batch = batch.to(device, non_blocking=True)
            preds.append(model(batch).argmax(dim=-1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def percent(hits: torch.Tensor) -> float:
    return 100.0 * hits.double().mean().item() if hits.numel() else float("nan")


class ClassificationAdapter(TaskAdapter):
    higher_is_better: ClassVar[dict[str, bool]] = {"clean_acc": True, "asr": False, "lcr": True}
    single_label: ClassVar[bool] = True

    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(model(inputs), targets)

    def smooth_targets(self, targets: torch.Tensor, amount: float) -> torch.Tensor:
        """Soft rows ``(1 − ε)·one_hot + ε/C`` (soft rows given are smoothed the same way); the
        cross-entropy against them equals ``F.cross_entropy(label_smoothing=ε)``."""
        if not self.num_classes:
            raise ValueError("num_classes is unset: load the splits first")
        if not (targets.is_floating_point() and targets.dim() == 2):
            targets = F.one_hot(targets.long(), self.num_classes).float()
        return targets * (1.0 - amount) + amount / self.num_classes

    def sample_losses(self, model: nn.Module, inputs: torch.Tensor,
                      targets: torch.Tensor) -> torch.Tensor:
        """Per-sample cross-entropy in one batched forward pass (hard or soft targets)."""
        log_probs = F.log_softmax(model(inputs).float(), dim=-1)
        if targets.is_floating_point() and targets.shape == log_probs.shape:
            return -(targets * log_probs).sum(dim=-1)
        return F.nll_loss(log_probs, targets.long(), reduction="none")

    def samples_per_class(self, clean: TensorData) -> float:
        if not self.num_classes:
            raise ValueError("num_classes is unset: load the splits first")
        return len(clean) / self.num_classes

    def check_clean_set(self, clean: TensorData, batch_size: int) -> None:
        if self.num_classes:
            counts = class_counts(clean.targets, self.num_classes)
            missing = torch.nonzero(counts == 0).flatten().tolist()
            if missing:
                raise CleanSetError(f"the clean set has no sample of class(es) {missing} "
                                    f"(of {self.num_classes}); every class needs at least one")
        super().check_clean_set(clean, batch_size)

    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        labels = test.targets.cpu()
        metrics = {"clean_acc": percent(predict(model, test, device, batch_size) == labels)}
        if attack is not None:
            keep = attack.eval_selection(labels)
            true = labels[keep]
            triggered = attack.apply_trigger(test.batch(keep)[0])
            preds = predict(model, triggered, device, batch_size)
            metrics["asr"] = percent(preds == attack.attack_labels(true))
            metrics["lcr"] = percent(preds == true)
        return metrics
