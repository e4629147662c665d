"""The shared step machinery (core/loop.py) behind fit, run_batches and nft_purify."""
import pytest
import torch

from core.augment import Compose, Identity, MixUp
from core.data import TensorData
from core.loop import Loop, can_draw_ahead


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    return TensorData(torch.rand(n, 3, 4, 4, generator=g), torch.arange(n) % 4)


def _run(draw_ahead, augmentation, seen):
    loop = Loop("cpu", progress=False)
    generator = torch.Generator().manual_seed(7)
    order = loop.order(64, 16, 2, None, generator)

    def step(inputs, targets):
        seen.append((inputs.clone(), targets.clone()))
        return inputs.mean() + targets.float().sum()

    return loop.run(step, _data(), order, generator=generator, augmentation=augmentation,
                    on_nonfinite=lambda s, v: RuntimeError(s), draw_ahead=draw_ahead)


def test_randomness_drawn_ahead_gives_the_same_batches():
    mix = Compose(Identity(), MixUp(num_classes=4))
    assert can_draw_ahead(mix) and not can_draw_ahead(Compose(lambda x, y, g: (x, y), mix))
    ahead, per_step = [], []
    assert _run(True, mix, ahead) == _run(False, mix, per_step)
    assert len(ahead) == 8
    for (xa, ya), (xb, yb) in zip(ahead, per_step):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_first_non_finite_loss_raises_the_loops_error():
    loop = Loop("cpu", progress=False, check_every=100)
    order = loop.order(64, 16, 3, None, torch.Generator().manual_seed(0))
    calls = []

    def step(inputs, targets):
        calls.append(1)
        return torch.tensor(float("nan") if len(calls) == 5 else 1.0)

    with pytest.raises(ArithmeticError, match="step 5: nan"):
        loop.run(step, _data(), order, generator=torch.Generator(),
                 on_nonfinite=lambda s, v: ArithmeticError(f"step {s}: {v}"))
    assert len(calls) == 12          # checked at the end of the run (every 100 steps)


def test_amp_and_channels_last_only_on_cuda_unless_cpu_bf16():
    loop = Loop("cpu", amp=True, channels_last=True)
    assert not loop.amp and not loop.channels_last
    forced = Loop("cpu", cpu_bf16=True)
    assert forced.amp and forced.channels_last
    with forced.autocast():
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="check_every"):
        Loop("cpu", check_every=0)
