import copy

import pytest
import torch

from core.masks import fold_masks, inject_masks
from core.registry import MODELS
from tasks.text.adapter import decoder_inputs
from tasks.text.decoding import greedy_decode
from tasks.text.models import Seq2SeqTransformer


def _model(splits, seed=0):
    torch.manual_seed(seed)
    return MODELS.get("transformer_tiny", namespace="text")(num_classes=splits.num_classes).eval()


@pytest.mark.parametrize("name", ["transformer_tiny", "transformer_small", "transformer_base"])
def test_registered_sizes_build_and_run(name):
    model = MODELS.get(name, namespace="text")(num_classes=50, max_positions=64)
    src, tgt = torch.randint(4, 50, (2, 7)), torch.randint(4, 50, (2, 5))
    assert model(src, tgt).shape == (2, 5, 50)


def test_nft_masks_reach_every_linear_and_fold_back(text_task):
    adapter, splits = text_task
    model = _model(splits)
    reference = copy.deepcopy(model)
    example = adapter.example_input(splits.clean)
    masked = inject_masks(model, example)
    names = {m.name for m in masked}
    linears = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    # every Linear but the first (never masked) and the output head (the classifier)
    assert names == set(linears) - {"encoder.0.attn.q_proj", "output"}
    for part in ("encoder.1.attn.k_proj", "encoder.0.ff.fc2", "decoder.0.self_attn.v_proj",
                 "decoder.1.cross_attn.q_proj", "decoder.1.cross_attn.out_proj", "decoder.1.ff.fc1"):
        assert part in names
    assert all(m.via == "weight" for m in masked)       # pre-LN: no Linear feeds a norm directly
    assert [m.depth for m in masked] == list(range(1, len(masked) + 1))
    with torch.no_grad():
        assert torch.allclose(model(*example), reference(*example), atol=1e-6)
        gen = torch.Generator().manual_seed(1)
        for layer in masked:
            layer.mask.copy_(torch.rand(layer.mask.shape, generator=gen))
        want = model(*example)
    fold_masks(model)
    assert type(model) is Seq2SeqTransformer
    assert list(model.state_dict()) == list(reference.state_dict())
    assert not any("parametrizations" in k for k in model.state_dict())
    with torch.no_grad():
        assert torch.allclose(model(*example), want, atol=1e-5)
    restored = _model(splits, seed=3)
    restored.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(restored(*example), want, atol=1e-5)


def test_cached_greedy_decoding_equals_full_recomputation(text_task):
    adapter, splits = text_task
    model = _model(splits)
    src = splits.test.inputs[:5]
    fast = greedy_decode(model, src, "cpu", batch_size=2, max_len=12)
    # reference: re-run the whole decoder on the growing prefix, no cache
    out = torch.full((5, 1), 1, dtype=torch.long)
    with torch.no_grad():
        for _ in range(fast.shape[1]):
            nxt = model(src, out)[:, -1].argmax(-1, keepdim=True)
            out = torch.cat([out, nxt], dim=1)
    slow = out[:, 1:]
    for f, s in zip(fast, slow):
        n = int((f != 0).sum())
        assert torch.equal(f[:n], s[:n])


def test_decoder_inputs_shift_right():
    targets = torch.tensor([[5, 6, 2, 0], [7, 2, 0, 0]])
    assert decoder_inputs(targets).tolist() == [[1, 5, 6, 0], [1, 7, 0, 0]]
