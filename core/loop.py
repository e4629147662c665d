"""The step machinery every training loop shares: ``fit`` (backdoor training), the defenses'
``run_batches`` and NFT's ``nft_purify``.

One ``Loop`` holds what is the same in all of them:

* the device; bfloat16 autocast (``amp``) and channels_last inputs, both on CUDA only (on a
  CPU they are ignored, so CPU numbers do not depend on them) unless ``cpu_bf16`` asks for
  both on a CPU (``True``, or ``"auto"``: only where the CPU has native bf16, see
  ``core/cpu_numerics.py``); the model goes back to the default memory layout at the end;
* the seeded batch order (``batch_order``: shuffled epochs with the ragged tail dropped, or
  batches drawn with replacement), drawn up front and moved to the device once;
* reading batches through ``TensorData.batch``, then the augmentation; an augmentation that can
  draw its randomness ahead (``draw`` / ``apply``, e.g. MixUp) has all of it drawn before the
  first step, in step order (the same random stream), and moved to the device at once;
* the losses kept on the device, checked for NaN/inf every ``check_every`` steps and at the end
  (each check is one device sync), with the loop's own error type and message;
* the progress bar, and gradient clipping (``clip``) for steps that want it.

What a step does (optimiser, clamps, schedulers) stays with its loop: ``run`` calls
``step(inputs, targets) -> loss``.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from .cpu_numerics import CpuBf16, NumericPath, resolve_cpu_bf16
from .data import TensorData, move_to

StepFn = Callable[[torch.Tensor, Any], torch.Tensor]


def batch_indices(n: int, batch_size: int, epochs: int, iterations: int | None,
                  generator: torch.Generator) -> torch.Tensor:
    """(steps, batch_size) sample indices: ``epochs`` shuffled passes (ragged tail dropped), or
    ``iterations`` batches drawn with replacement (the official NFT sampler)."""
    if iterations is not None:
        return torch.randint(0, n, (iterations, batch_size), generator=generator)
    per_epoch = n // batch_size
    orders = [torch.randperm(n, generator=generator)[:per_epoch * batch_size]
              for _ in range(epochs)]
    return torch.cat(orders).view(-1, batch_size)


def can_draw_ahead(augmentation: Any) -> bool:
    return augmentation is not None and callable(getattr(augmentation, "draw", None)) \
        and callable(getattr(augmentation, "apply", None))


@dataclass
class Loop:
    device: torch.device
    desc: str = "train"
    amp: bool = False              # bfloat16 autocast (CUDA only)
    channels_last: bool = False    # 4-D inputs and the model in channels_last (CUDA only)
    grad_clip: float = 0.0         # global gradient-norm bound for ``clip`` (0 = off)
    check_every: int = 25          # steps between NaN checks (each is a device sync)
    progress: bool = True
    cpu_bf16: CpuBf16 = False      # on a CPU too: bfloat16 autocast + channels_last ("auto":
    #                                only where the CPU computes bf16 natively)

    def __post_init__(self) -> None:
        self.device = torch.device(self.device)
        cuda = self.device.type == "cuda"
        self.numeric_path: NumericPath = resolve_cpu_bf16(self.cpu_bf16, self.device)
        forced = self.numeric_path.cpu_bf16
        self.amp = (self.amp and cuda) or forced
        self.channels_last = (self.channels_last and cuda) or forced
        if self.check_every < 1:
            raise ValueError(f"check_every must be ≥ 1, got {self.check_every}")

    # -- pieces a step uses ---------------------------------------------------------------------
    def autocast(self) -> Any:
        """The forward pass's context: bfloat16 autocast when ``amp`` (CUDA), else nothing."""
        if not self.amp:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def release_model(self, model: nn.Module) -> nn.Module:
        """The model back in the default memory layout (safetensors wants contiguous)."""
        if self.channels_last:
            model.to(memory_format=torch.contiguous_format)
        return model

    def clip(self, params: Iterable[torch.Tensor]) -> None:
        if self.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, self.grad_clip)

    def order(self, n: int, batch_size: int, epochs: int, iterations: int | None,
              generator: torch.Generator) -> torch.Tensor:
        """The run's batch indices, drawn with ``generator`` and moved to the device once."""
        return batch_indices(n, batch_size, epochs, iterations, generator).to(self.device)

    # -- the loop -------------------------------------------------------------------------------
    def run(self, step: StepFn, data: TensorData, order: torch.Tensor, *,
            generator: torch.Generator, augmentation: Any = None,
            after_step: Callable[[int], None] | None = None,
            on_nonfinite: Callable[[int, float], Exception],
            draw_ahead: bool = True, start: int = 0) -> list[float]:
        """``step(inputs, targets) -> loss`` on every row of ``order``; returns the losses.

        ``after_step(i)`` runs after step ``i`` (schedulers); ``on_nonfinite(step, value)``
        builds the error raised for the first non-finite loss (1-based step). ``draw_ahead``:
        draw an able augmentation's randomness before the first step (only when nothing else
        draws from ``generator`` during the loop, or the random stream would change).
        ``start``: resume at this row of ``order`` (a checkpointed run; the draws ahead are still
        made for every row, so the rows from ``start`` get the same ones); returns the losses of
        the rows from ``start``.
        """
        drawn = None
        if draw_ahead and can_draw_ahead(augmentation):
            drawn = move_to([augmentation.draw(len(rows), generator) for rows in order],
                            self.device)
        losses = torch.zeros(len(order), device=self.device)
        bar = tqdm(order[start:], desc=self.desc, unit="step", disable=not self.progress,
                   leave=False)
        for i, rows in enumerate(bar, start=start):
            inputs, targets = data.batch(rows)
            if drawn is not None:
                inputs, targets = augmentation.apply(inputs, targets, drawn[i])
            elif augmentation is not None:
                inputs, targets = augmentation(inputs, targets, generator)
            if self.channels_last and inputs.dim() == 4:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            losses[i] = step(inputs, targets).detach().float()
            if after_step is not None:
                after_step(i)
            if (i + 1) % self.check_every == 0 or i + 1 == len(order):
                self._check(losses[:i + 1], on_nonfinite)
                bar.set_postfix(loss=f"{losses[i].item():.4f}")
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return losses[start:].cpu().tolist()

    @staticmethod
    def _check(losses: torch.Tensor, on_nonfinite: Callable[[int, float], Exception]) -> None:
        bad = torch.nonzero(~torch.isfinite(losses)).flatten()
        if len(bad):
            raise on_nonfinite(int(bad[0]) + 1, losses[bad[0]].item())


__all__ = ["Loop", "batch_indices", "can_draw_ahead"]
