import pytest
import torch

from core.registry import AUGMENTATIONS
from core.seeding import make_generator
from tasks.text.augmentations.word_deletion import word_index
from tasks.text.models import transformer_tiny
from tasks.text.tokenizer import EOS, PAD


def test_word_deletion_drops_whole_words_keeps_eos_and_shapes(text_task):
    adapter, splits = text_task
    assert adapter.default_nft_augmentation == "word_deletion"
    aug = AUGMENTATIONS.get("word_deletion", namespace="text")(adapter, rate=0.3)
    x, y = splits.clean.inputs[:64], splits.clean.targets[:64]
    out, out_y = aug(x, y, make_generator(0))
    assert out.shape == x.shape and out.dtype == x.dtype and out_y is y
    lengths_in, lengths_out = (x != PAD).sum(1), (out != PAD).sum(1)
    assert (lengths_out <= lengths_in).all() and (lengths_out < lengths_in).any()
    assert ((out == EOS).sum(1) == 1).all()
    assert (out.gather(1, (lengths_out - 1)[:, None]) == EOS).all()    # padding only after </s>
    codec = adapter.codec
    for before, after in zip(codec.decode(x), codec.decode(out)):
        words = before.split()
        kept = after.split()
        assert kept, "never empties a sentence"
        it = iter(words)
        assert all(w in it for w in kept), "a subsequence of whole words"
    same, _ = AUGMENTATIONS.get("word_deletion", namespace="text")(adapter, rate=0.0)(x, y, make_generator(0))
    assert torch.equal(same, x)
    with pytest.raises(ValueError):
        AUGMENTATIONS.get("word_deletion", namespace="text")(adapter, rate=1.0)


def test_word_index_counts_words(text_task):
    adapter, _ = text_task
    ids = adapter.codec.encode(["The dog runs."])
    idx = word_index(ids, adapter.codec.word_start)[0][:int((ids != PAD).sum())]
    assert idx[0] == 0 and idx.max() == 2


def test_paraphrase_needs_binding_and_swaps_same_kind_tokens(text_task):
    adapter, splits = text_task
    aug = AUGMENTATIONS.get("paraphrase", namespace="text")(adapter, rate=0.5, neighbours=3)
    x, y = splits.clean.inputs[:32], splits.clean.targets[:32]
    with pytest.raises(RuntimeError, match="bound"):
        aug(x, y, make_generator(0))
    torch.manual_seed(0)
    aug.bind(transformer_tiny(num_classes=splits.num_classes), None)
    out, out_y = aug(x, y, make_generator(0))
    assert out.shape == x.shape and out_y is y
    assert torch.equal(out == PAD, x == PAD) and torch.equal(out == EOS, x == EOS)
    changed = out != x
    assert changed.any()
    ws = adapter.codec.word_start
    assert torch.equal(ws[out[changed]], ws[x[changed]]), "word boundaries are kept"


def test_paraphrase_rows_leaves_the_other_rows_clean(text_task):
    adapter, splits = text_task
    make = AUGMENTATIONS.get("paraphrase", namespace="text")
    x, y = splits.clean.inputs[:64], splits.clean.targets[:64]
    torch.manual_seed(0)
    model = transformer_tiny(num_classes=splits.num_classes)
    aug = make(adapter, rate=1.0, neighbours=3, rows=0.5)
    aug.bind(model, None)
    out, _ = aug(x, y, make_generator(0))
    touched = (out != x).any(dim=1)
    assert 0 < int(touched.sum()) < len(x), "some rows paraphrased, some left whole"
    full = make(adapter, rate=1.0, neighbours=3)
    full.bind(model, None)
    assert (full(x, y, make_generator(0))[0] != x).any(dim=1).all()
    with pytest.raises(ValueError, match="rows"):
        make(adapter, rows=1.5)
