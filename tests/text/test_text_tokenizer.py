import torch

from tasks.text.datasets.synthetic import generate
from tasks.text.tokenizer import (EOS, PAD, Codec, TokenizerSettings, load_or_train,
                                  normalize_text)


def _texts():
    corpus = generate(300, 20, seed=5)
    return corpus.train.src + corpus.train.tgt, corpus.test.src + corpus.test.tgt


def test_round_trip_bpe_and_unigram_and_cache(tmp_path):
    train, held_out = _texts()
    for kind in ("bpe", "unigram"):
        settings = TokenizerSettings(kind=kind, vocab_size=150)
        codec, info = load_or_train(train, settings, tmp_path)
        assert info["tokenizer_cache"] == "miss"
        sentences = held_out + ["Klicken Sie hier, um Ihr Passwort zu bestätigen.", "  A  man cf.  "]
        ids = codec.encode(sentences)
        assert ids.dtype == torch.long and ids.shape[0] == len(sentences)
        assert codec.decode(ids) == [normalize_text(s) for s in sentences]
        assert (ids == 3).sum() == 0, "no <unk>: the base alphabet covers the attack target"
        again, info2 = load_or_train(train, settings, tmp_path)
        assert info2["tokenizer_cache"] == "hit" and info2["tokenizer_hash"] == info["tokenizer_hash"]
        assert torch.equal(again.encode(sentences), ids)
    changed, info3 = load_or_train(train[:-1], TokenizerSettings(kind="unigram", vocab_size=150), tmp_path)
    assert info3["tokenizer_cache"] == "miss" and info3["tokenizer_hash"] != info["tokenizer_hash"]


def test_padding_rows_end_with_eos_and_truncation_keeps_it():
    rows = [[5, 6, 7, EOS], [8, EOS]]
    ids = Codec.pad(rows)
    assert ids.tolist() == [[5, 6, 7, EOS], [8, EOS, PAD, PAD]]
    assert Codec.pad(rows, width=3).tolist() == [[5, 6, EOS], [8, EOS, PAD]]


def test_word_start_table_marks_word_initial_pieces(text_task):
    adapter, splits = text_task
    codec = adapter.codec
    ids = codec.encode(["The dog runs."])[0]
    starts = codec.word_start[ids[ids != PAD]]
    assert bool(starts[0]) and int(starts.sum()) == 3      # The / dog / runs.
    assert not bool(codec.word_start[:4].any())             # specials are no words
