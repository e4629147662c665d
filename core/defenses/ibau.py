"""Implicit Backdoor Adversarial Unlearning (I-BAU; Zeng et al., ICLR 2022).

A minimax problem over the weights θ and a universal additive perturbation δ:

    min_θ  L_outer(θ, δ*(θ)),   δ*(θ) = argmin_δ  −L(f_θ(x + δ), y) + 0.001·‖δ‖²

Each of ``rounds`` rounds (K = 5):

1. δ from zero, one pass of SGD (lr 10) over the clean set in order, maximising the loss
   against the model's own predictions (``adapter.predicted_targets``), with the 0.001·‖δ‖²
   penalty;
2. for every clean batch, one Adam step (lr 1e-3) on the *implicit hypergradient* of the outer
   loss (the task loss on the batch with δ added to a random ``portion`` of its samples): the
   fixed point v = (∂Φ/∂δ)ᵀv + ∂L_outer/∂δ of the inner gradient-descent map Φ(δ) = δ − 0.1·∇_δ
   L_inner (``fixed_point_iterations`` = 5 iterations, inner loss on the first clean batch with
   the true labels), then ∇θ = ∂L_outer/∂θ + (∂Φ/∂θ)ᵀv.

Defaults: official code (github.com/YiZeng623/I-BAU, defense.py and hypergrad.py; docs/design.md §5):
Adam 1e-3, 5 rounds, 5 fixed-point iterations, inner step 0.1, perturbation SGD lr 10,
penalty 0.001, portion 0.01, batch 100, model in eval mode throughout, no augmentation, no
bound on δ (the official L2-ball line is commented out; ``pert_l2_bound`` restores it). Unlike
the official code, at least one sample per batch gets δ (``int(portion · batch)`` is zero for
batches under 100), and perturbed inputs are clamped to ``adapter.input_bounds()`` when
``clamp`` (the official clamps are commented out).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from tqdm.auto import tqdm

from .base import Defense, Workspace
from .configs import check_positive, check_unit_interval
from .loops import DefenseDivergedError
from .support import PerturbsInputs, clamp_to


@dataclass(frozen=True)
class IBAUConfig:
    lr: float = 1e-3                   # Adam on the weights (outer optimiser)
    rounds: int = 5                    # n_rounds (the paper's K)
    fixed_point_iterations: int = 5    # hypergradient fixed-point iterations
    inner_lr: float = 0.1              # step of the inner gradient-descent map Φ
    perturbation_lr: float = 10.0      # SGD on δ
    perturbation_penalty: float = 1e-3 # weight of ‖δ‖² in the inner loss
    pert_l2_bound: float | None = None # project δ into this L2 ball (official: commented out)
    portion: float = 0.01              # share of each batch that gets δ in the outer loss
    batch_size: int = 100
    clamp: bool = True                 # clamp perturbed inputs to adapter.input_bounds()
    progress: bool = True

    def __post_init__(self) -> None:
        check_positive(self, "lr", "rounds", "fixed_point_iterations", "inner_lr",
                       "perturbation_lr", "batch_size")
        check_unit_interval(self, "portion")
        if self.perturbation_penalty < 0:
            raise ValueError("I-BAU perturbation_penalty must be ≥ 0")
        if self.pert_l2_bound is not None and self.pert_l2_bound <= 0:
            raise ValueError("I-BAU pert_l2_bound must be > 0 or None")


def _grads(output: torch.Tensor, inputs: list[torch.Tensor], **kw: bool) -> list[torch.Tensor]:
    """``torch.autograd.grad`` with zeros for inputs the output does not depend on."""
    grads = torch.autograd.grad(output, inputs, allow_unused=True, **kw)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs)]


class IBAU(PerturbsInputs, Defense):
    name = "ibau"
    label = "I-BAU"
    Config = IBAUConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        config: IBAUConfig = self.config
        ws.model.eval()
        params = [p for p in ws.model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=config.lr)
        bounds = ws.adapter.input_bounds() if config.clamp else None
        batches = list(ws.data.batches(config.batch_size))
        first_x, first_y = batches[0]

        def inner_loss(delta: torch.Tensor) -> torch.Tensor:
            loss = ws.adapter.loss(ws.model, clamp_to(first_x + delta, bounds), first_y)
            return -loss + config.perturbation_penalty * delta.pow(2).sum()

        def outer_loss(delta: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor,
                       generator: torch.Generator) -> torch.Tensor:
            count = max(1, int(inputs.shape[0] * config.portion))
            chosen = torch.randperm(inputs.shape[0], generator=generator)[:count]
            patch = torch.zeros_like(inputs)
            patch[chosen.to(inputs.device)] = delta[0]
            return ws.adapter.loss(ws.model, clamp_to(inputs + patch, bounds), targets)

        def hypergradient_step(delta: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor,
                               generator: torch.Generator) -> torch.Tensor:
            delta = delta.detach().requires_grad_(True)
            outer = outer_loss(delta, inputs, targets, generator)
            (g_delta,) = _grads(outer, [delta], retain_graph=True)
            g_theta = _grads(outer, params)
            (g_inner,) = torch.autograd.grad(inner_loss(delta), [delta], create_graph=True)
            mapped = delta - config.inner_lr * g_inner
            v = torch.zeros_like(delta)
            for _ in range(config.fixed_point_iterations):
                previous = v
                (v,) = _grads(mapped, [delta], grad_outputs=v, retain_graph=True)
                v = v + g_delta
                if float(torch.norm(v - previous)) < 1e-10:
                    break
            implicit = _grads(mapped, params, grad_outputs=v)
            optimizer.zero_grad(set_to_none=True)
            for param, g_direct, g_implicit in zip(params, g_theta, implicit):
                param.grad = g_direct + g_implicit
            optimizer.step()
            return outer.detach()

        perturbation_losses: list[float] = []
        outer_losses: list[float] = []
        delta_norms: list[float] = []
        # the hypergradient differentiates twice; fused attention kernels have no double
        # backward, the math one does
        with sdpa_kernel([SDPBackend.MATH]):
            bar = tqdm(total=config.rounds * 2 * len(batches), desc="I-BAU", unit="step",
                       disable=not config.progress, leave=False)
            for _ in range(config.rounds):
                delta = torch.zeros_like(first_x[:1], requires_grad=True)
                delta_opt = torch.optim.SGD([delta], lr=config.perturbation_lr)
                for inputs, _targets in batches:
                    with torch.no_grad():
                        predicted = ws.adapter.predicted_targets(ws.model, inputs)
                    loss = ws.adapter.loss(ws.model, clamp_to(inputs + delta, bounds), predicted)
                    regularised = -loss + config.perturbation_penalty * delta.pow(2).sum()
                    (delta.grad,) = torch.autograd.grad(regularised, [delta])
                    delta_opt.step()
                    perturbation_losses.append(loss.detach())
                    bar.update()
                delta = delta.detach()
                if config.pert_l2_bound is not None:
                    delta = delta * torch.clamp(config.pert_l2_bound / (delta.norm() + 1e-12),
                                                max=1.0)
                delta_norms.append(float(delta.norm()))
                for inputs, targets in batches:
                    outer_losses.append(hypergradient_step(delta, inputs, targets, ws.generator))
                    bar.update()
            bar.close()
            curves = [torch.stack(perturbation_losses).cpu(), torch.stack(outer_losses).cpu()]
            for param in ws.model.parameters():
                param.grad = None
        for curve in curves:
            if not torch.isfinite(curve).all():
                raise DefenseDivergedError("I-BAU: the loss became non-finite; the input model "
                                           "is unchanged. Lower lr or perturbation_lr.")
        return ws.model.eval(), {
            "delta_l2": delta_norms, "perturbation_loss_curve": curves[0].tolist(),
            "outer_loss_curve": curves[1].tolist(), "steps": len(outer_losses)}
