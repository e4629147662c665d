"""PAM, Path-Aware Minimization (Min, Qin, Zhang, Shen & Cheng, NeurIPS 2024, "Uncovering,
Explaining, and Mitigating the Superficial Safety of Backdoor Defense", arXiv 2410.09838).

Their finding: defenses whose purified model stays close to the backdoored one *along the
backdoor-connected path* (the straight line between the two weight vectors) re-learn the
backdoor from a few poisoned samples (the Retuning Attack, ``core/retuning.py``). PAM fine-tunes
on the clean set with every gradient taken at a point moved further along that path:

    d = θ − θ_bd,   ε = ρ · d / ‖d‖   (global L2 over the trained parameters; ε = 0 while θ = θ_bd)
    θ ← θ − lr · SGD-step(∇L(θ + ε))

Settings. The update is the ``PAM`` optimiser of the authors' public code
(AISafety-HKUST/stable_backdoor_purification, ``fine_tune/sam.py``: ``first_step`` adds
ρ·v/‖v‖ of a second network's parameters v, ``second_step`` restores θ and steps the base
optimiser); its calling script is not public, so reading v as θ − θ_bd (the path direction the
paper names) is ours. ρ = 0.5: the middle of the paper's ablation grid ρ ∈ {0.3, 0.5, 0.7, 0.9}
(its Fig. on the path-aware step size); the paper's default could not be read here, so this is
our choice. Fine-tuning part: SGD lr 0.01, momentum 0.9 (the authors' FT/FST commands use lr
0.01), wd 5e-4, cosine, batch 128, the task's light augmentation and 100 epochs: the budget of
this suite's FT (``FinetuneConfig``), so PAM and FT differ only in the path-aware step (our
choice). Cost: one forward/backward pass per step, as FT.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import Defense, Workspace
from .configs import FinetuneConfig
from .finetune import lr_scheduler, sgd, steps_per_epoch
from .loops import run_batches


@dataclass(frozen=True)
class PAMConfig(FinetuneConfig):
    """FinetuneConfig (FT's budget) plus the path-aware step size ρ."""

    rho: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.rho < 0:
            raise ValueError(f"PAM rho must be ≥ 0, got {self.rho}")


@torch.no_grad()
def path_epsilon(params: list[torch.Tensor], origin: list[torch.Tensor],
                 rho: float) -> list[torch.Tensor]:
    """ρ · (θ − θ_bd) / ‖θ − θ_bd‖ per parameter (zeros while θ = θ_bd)."""
    diffs = [p - o for p, o in zip(params, origin)]
    norm = torch.norm(torch.stack([d.norm(2) for d in diffs]), 2)
    return [d * (rho / (norm + 1e-12)) for d in diffs]


class PAM(Defense):
    name = "pam"
    Config = PAMConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: PAMConfig = self.config
        work, adapter = ws.model, ws.adapter
        params = [p for p in work.parameters() if p.requires_grad]
        origin = [p.detach().clone() for p in params]          # θ_bd
        optimizer = sgd(params, config)
        scheduler = lr_scheduler(optimizer, config, steps_per_epoch(ws.data, config.batch_size))

        def step(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            shifts = path_epsilon(params, origin, config.rho)
            with torch.no_grad():
                for p, e in zip(params, shifts):
                    p.add_(e)
            loss = adapter.loss(work, inputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                for p, e in zip(params, shifts):
                    p.sub_(e)
            optimizer.step()
            return loss.detach()

        work.train()
        curve = run_batches(step, ws.data, batch_size=config.batch_size, generator=ws.generator,
                            epochs=config.epochs,
                            augmentation=adapter.train_augmentation() if config.augment else None,
                            schedulers=[scheduler] if scheduler is not None else [],
                            desc="PAM", progress=config.progress)
        work.eval()
        with torch.no_grad():
            distance = torch.norm(torch.stack([(p - o).norm(2) for p, o in zip(params, origin)]), 2)
        return work, {"loss_curve": curve, "steps": len(curve),
                      "distance_from_backdoored": float(distance)}
