"""The Query-based Reactivation Attack (QRA) of Min et al. (NeurIPS 2024, arXiv 2410.09838).

RA needs to fine-tune the purified model; QRA only queries it. A small generator learns an
input perturbation δ(x) (‖δ‖∞ ≤ ε) such that the *purified* model on x + δ behaves like the
RA-retuned model on x (so triggered inputs + δ reach the target again), while a *clean* model on
x + δ still predicts the true label (so δ reactivates the backdoor rather than being a plain
adversarial example). Per batch of clean samples (label = true) and poisoned non-target samples
(label = target):

    loss = α · KL(softmax(retuned(x)) ‖ softmax(purified(x + δ(x)))) + CE(clean(x + δ(x)), y_true)

Applies to single-label classification with continuous inputs (``adapter.continuous_inputs``,
``adapter.predicted_targets``); δ is added in the model's input space and clamped to
``adapter.input_bounds()``.

Settings: the authors' public code (AISafety-HKUST/stable_backdoor_purification,
``fine_tune/qra.py`` and its README command): generator = MLP on the flattened input, three
hidden layers of 1,024 with ReLU and a tanh output, δ = clamp(ε·G(x), −ε, ε); ε = 16/255;
α (``alpha_qra``) = 0.2; 500 clean + 500 poisoned samples; 50 epochs of SGD lr 0.1, momentum 0.9,
batch 128; distillation at temperature 1. Reported: ASR of the purified model on triggered test
inputs + δ (reactivation), the same on the clean model (transfer: high means δ is merely
adversarial) and the share of clean test inputs + δ sent to the target by the purified model.
Our choices: the samples are drawn from the attacker's poisoned training set with a local
generator (``PoisonResult``), and the metrics use ``adapter.predicted_targets``.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .adapter import TaskAdapter
from .attack import Attack, PoisonResult, choose_indices
from .data import TensorData


@dataclass(frozen=True)
class QRAConfig:
    """QRA settings; defaults are the authors' (module docstring)."""

    eps: float = 16 / 255          # qra.py --eps
    alpha: float = 0.2             # --alpha_qra
    clean_count: int = 500         # --clean_num_qra
    poison_count: int = 500        # --poison_num_qra
    epochs: int = 50               # --epochs
    lr: float = 0.1                # optim.SGD(lr=1e-1, momentum=0.9)
    momentum: float = 0.9
    batch_size: int = 128
    hidden: int = 1024             # AE: three hidden Linear layers of 1,024

    def __post_init__(self) -> None:
        for name in ("eps", "lr", "epochs", "batch_size", "hidden", "clean_count",
                     "poison_count"):
            if getattr(self, name) <= 0:
                raise ValueError(f"QRA {name} must be > 0, got {getattr(self, name)}")
        if self.alpha < 0:
            raise ValueError(f"QRA alpha must be ≥ 0, got {self.alpha}")


class PerturbationGenerator(nn.Module):
    """x ↦ δ(x) = clamp(ε · tanh-MLP(flatten(x)), −ε, ε), same shape as x."""

    def __init__(self, shape: torch.Size, hidden: int, eps: float) -> None:
        super().__init__()
        size = int(torch.tensor(shape).prod())
        self.shape, self.eps = tuple(shape), eps
        self.net = nn.Sequential(nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, size), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = self.net(x.flatten(1)) * self.eps
        return delta.clamp(-self.eps, self.eps).view(-1, *self.shape)


def _clamp(x: torch.Tensor, bounds) -> torch.Tensor:
    return x if bounds is None else x.clamp(float(bounds[0]), float(bounds[1]))


def qra_set(poison: PoisonResult, config: QRAConfig, generator: torch.Generator
            ) -> tuple[TensorData, int]:
    """Clean samples (targets = true labels) then poisoned ones (targets = attack labels), and
    how many are clean."""
    touched = torch.zeros(len(poison.data), dtype=torch.bool)
    touched[poison.indices.cpu()] = True
    clean = choose_indices(torch.nonzero(~touched).flatten(),
                           min(config.clean_count, int((~touched).sum())), generator)
    poisoned = choose_indices(poison.indices.cpu(), min(config.poison_count, len(poison.indices)),
                              generator)
    return poison.data.subset(torch.cat([clean, poisoned])), len(clean)


def reactivation_attack(purified: nn.Module, retuned: nn.Module, clean_model: nn.Module,
                        adapter: TaskAdapter, poison: PoisonResult, test: TensorData,
                        attack: Attack, config: QRAConfig, device: torch.device | str,
                        seed: int = 0) -> dict:
    """Learn δ against ``purified`` (teacher ``retuned``, guard ``clean_model``) and score it."""
    device = torch.device(device)
    generator = torch.Generator().manual_seed(seed)
    if test.transform is not None or not adapter.can_predict_targets():
        raise ValueError("QRA needs inputs stored as the model takes them and single-label "
                         "classification (adapter.predicted_targets)")
    data, n_clean = qra_set(poison, config, generator)
    data = data.to(device)
    models = [copy.deepcopy(m).to(device).eval() for m in (purified, retuned, clean_model)]
    for m in models:
        for p in m.parameters():
            p.requires_grad_(False)
    purified, retuned, clean_model = models
    bounds = adapter.input_bounds()
    example = data.input_example(1)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        gen = PerturbationGenerator(example.shape[1:], config.hidden, config.eps).to(device)
    optimizer = torch.optim.SGD(gen.parameters(), lr=config.lr, momentum=config.momentum)
    with torch.no_grad():
        # the clean model's term wants true labels; dirty-label poisoning does not keep them for
        # the poisoned samples (the authors' code reads them from its files), so the clean
        # model's own prediction on the triggered input stands in for them (our choice)
        x_all, truth = data.batch(slice(None))
        truth = truth.clone()
        truth[n_clean:] = adapter.predicted_targets(clean_model, x_all[n_clean:])
    start = time.perf_counter()
    losses = []
    n = len(data)
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size].to(device)
            x, _ = data.batch(idx)
            shifted = _clamp(x + gen(x), bounds)
            with torch.no_grad():
                teacher = F.softmax(retuned(x), dim=1)
            distill = F.kl_div(F.log_softmax(purified(shifted), dim=1), teacher,
                               reduction="batchmean")
            loss = config.alpha * distill + F.cross_entropy(clean_model(shifted), truth[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
    wall = time.perf_counter() - start
    gen.eval()
    return {"qra": _score(gen, purified, clean_model, adapter, test, attack, bounds),
            "qra_info": {"wall_time_s": wall, "steps": len(losses), "final_loss": losses[-1],
                         "set_size": n}}


@torch.no_grad()
def _score(gen: nn.Module, purified: nn.Module, clean_model: nn.Module, adapter: TaskAdapter,
           test: TensorData, attack: Attack, bounds) -> dict:
    """Percentages: reactivated ASR on the purified and on the clean model, and the share of
    clean inputs + δ the purified model sends to the attack label."""
    hits = {"asr_purified": 0, "asr_clean_model": 0, "clean_to_target": 0}
    counts = {"triggered": 0, "clean": 0}
    for x, y in test.batches(512):
        keep = attack.eval_selection(y.cpu()).to(x.device)
        labels = attack.attack_labels(y)
        shifted = _clamp(x + gen(x), bounds)
        hits["clean_to_target"] += int((adapter.predicted_targets(purified, shifted)[keep]
                                        == labels[keep]).sum())
        counts["clean"] += int(keep.sum())
        trig = attack.apply_trigger(x[keep])
        trig = _clamp(trig + gen(trig), bounds)
        for name, model in (("asr_purified", purified), ("asr_clean_model", clean_model)):
            hits[name] += int((adapter.predicted_targets(model, trig) == labels[keep]).sum())
        counts["triggered"] += int(keep.sum())
    return {name: 100.0 * value / max(1, counts["clean" if name == "clean_to_target"
                                                  else "triggered"])
            for name, value in hits.items()}


__all__ = ["PerturbationGenerator", "QRAConfig", "qra_set", "reactivation_attack"]
