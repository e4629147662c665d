"""The seq2seq text task adapter: machine translation (``mt``) and dialogue generation (``dg``).

Data (docs/design.md §5b): the defender's clean set is a seeded ``clean_fraction`` (paper: 10 %) of the
training pairs, held out before anything else; ``train_size`` / ``test_size`` take seeded /
leading subsets for CPU presets. Training pairs with more than ``max_tokens`` subword tokens on
either side are dropped (their count is recorded); test pairs are all kept unless
``test_max_tokens`` is set (CPU presets; the first ``test_size`` remaining pairs are used). A joint BPE (or
Unigram) tokenizer is trained on the attacker's training pairs and cached under
``<data root>/<dataset>/.cache``. ``TensorData.inputs`` are padded source ids, ``targets``
padded target ids, each row ``[tokens…, </s>, <pad>…]``; ``num_classes`` is the vocabulary size.

Metrics (percent / BLEU points): ``clean_bleu`` = CT, sacrebleu corpus BLEU of greedy outputs on
the clean test set (signature in ``Splits.info["bleu_signature"]``); ``asr`` = AT, the share of
triggered test inputs whose output *exactly* equals the attacker's sentence (what our tables
report); ``attack_bleu`` = BLEU of those outputs against the attacker's sentence (partial
success). Dialogue adds ``distinct_1`` / ``distinct_2`` of the clean outputs.

The NFT regulariser's N_c ("samples per class") is taken as clean target tokens per vocabulary
entry: every target token is one classification over the vocabulary.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.adapter import Splits, TaskAdapter
from core.attack import Attack
from core.bad_data import check_on_error, data_fingerprint
from core.config import from_dict
from core.data import TensorData
from core.registry import ATTACKS, DATASETS, MODELS, TASKS
from core.seeding import make_generator

from .datasets import Corpus, TextDataset
from .datasets import synthetic as synthetic_data
from .decoding import greedy_decode, trim
from .metrics import bleu_signature, corpus_bleu, distinct_n, exact_match_rate
from .tokenizer import BOS, EOS, PAD, Codec, TokenizerSettings, load_or_train

DEFAULT_DATA_ROOT = "data"


@dataclass(frozen=True)
class TextDataOptions:
    vocab_size: int = 8000
    tokenizer: Literal["bpe", "unigram"] = "bpe"
    lowercase: bool = False
    max_tokens: int = 64              # training pairs longer than this (either side) are dropped
    clean_fraction: float = 0.1       # paper: 10 % of the training data is the clean split
    clean_size: int | None = None     # overrides clean_fraction
    train_size: int | None = None     # attacker's subset after the clean split (None = all)
    test_size: int | None = None      # the first N test pairs (None = all)
    test_max_tokens: int | None = None  # drop longer test pairs too (CPU presets; None = keep all)
    reverse: bool = False             # translate target → source instead
    label_smoothing: float = 0.1
    bleu_tokenize: str = "13a"
    synthetic_train: int = 2400       # sizes of the generated corpus (dataset "synthetic" only)
    synthetic_test: int = 200
    on_error: Literal["raise", "skip"] = "raise"   # non-UTF-8 lines (core/bad_data.py)

    def __post_init__(self) -> None:
        check_on_error(self.on_error)
        if not 0.0 < self.clean_fraction < 1.0:
            raise ValueError(f"clean_fraction must lie in (0, 1), got {self.clean_fraction}")
        for name in ("clean_size", "train_size", "test_size", "test_max_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        if self.max_tokens < 4:
            raise ValueError(f"max_tokens must be ≥ 4, got {self.max_tokens}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}")


def decoder_inputs(targets: torch.Tensor) -> torch.Tensor:
    """Teacher-forcing inputs: ``<s>`` + targets shifted right, ``</s>`` turned into padding."""
    shifted = torch.cat([torch.full_like(targets[:, :1], BOS), targets[:, :-1]], dim=1)
    return shifted.masked_fill(shifted == EOS, PAD)


@TASKS.register("text")
class TextTask(TaskAdapter):
    name = "text"
    default_preset = "text_smoke"   # run.py --task text alone
    higher_is_better: ClassVar[dict[str, bool]] = {
        "clean_bleu": True, "asr": False, "attack_bleu": False,
        "distinct_1": True, "distinct_2": True}
    default_nft_augmentation: ClassVar[str] = "word_deletion"
    primary_metric: ClassVar[str] = "clean_bleu"
    # token ids cannot take an additive perturbation (I-BAU, AWM); the transformers have no
    # (N, C, *positions) feature maps to distil (NAD)
    continuous_inputs: ClassVar[bool] = False
    feature_maps: ClassVar[bool] = False

    def __init__(self) -> None:
        super().__init__()
        self.options = TextDataOptions()
        self.codec: Codec | None = None
        self.kind = "mt"
        self.languages = ("en", "de")

    # -- data ---------------------------------------------------------------------------------
    def _corpus(self, dataset: str, data_root: Path | None, opts: TextDataOptions) -> tuple[Corpus, Path | None]:
        spec: TextDataset = DATASETS.get(dataset, namespace=self.name)
        if spec.name == synthetic_data.NAME:
            return synthetic_data.generate(opts.synthetic_train, opts.synthetic_test), None
        root = Path(data_root or os.environ.get("NFT_DATA_ROOT", DEFAULT_DATA_ROOT))
        return spec.load(root, on_error=opts.on_error), root / spec.name / ".cache"

    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        opts = from_dict(TextDataOptions, options)
        corpus, cache_dir = self._corpus(dataset, data_root, opts)
        train, test = corpus.train, corpus.test
        src_train, tgt_train = (train.tgt, train.src) if opts.reverse else (train.src, train.tgt)
        src_test, tgt_test = (test.tgt, test.src) if opts.reverse else (test.src, test.tgt)
        languages = corpus.languages[::-1] if opts.reverse else corpus.languages

        generator = make_generator(seed)
        order = torch.randperm(len(src_train), generator=generator)
        n_clean = opts.clean_size or max(1, round(opts.clean_fraction * len(src_train)))
        if n_clean >= len(src_train):
            raise ValueError(f"clean split of {n_clean} leaves no training pairs "
                             f"(of {len(src_train)})")
        clean_idx, pool = order[:n_clean].sort().values, order[n_clean:]
        if opts.train_size is not None:
            pool = pool[:opts.train_size]
        train_idx = pool.sort().values

        settings = TokenizerSettings(kind=opts.tokenizer, vocab_size=opts.vocab_size,
                                     lowercase=opts.lowercase)
        texts = [src_train[i] for i in train_idx.tolist()] + [tgt_train[i] for i in train_idx.tolist()]
        codec, tok_info = load_or_train(texts, settings, cache_dir)

        def encode(index: list[int], src: list[str], tgt: list[str], limit: int | None,
                   size: int | None = None):
            s_ids = codec.encode_ids([src[i] for i in index])
            t_ids = codec.encode_ids([tgt[i] for i in index])
            keep = [j for j in range(len(index)) if limit is None
                    or (len(s_ids[j]) <= limit and len(t_ids[j]) <= limit)]
            keep = keep[:size] if size is not None else keep
            data = TensorData(Codec.pad([s_ids[j] for j in keep]),
                              Codec.pad([t_ids[j] for j in keep]))
            return data, len(index) - len(keep)

        train_data, dropped_train = encode(train_idx.tolist(), src_train, tgt_train, opts.max_tokens)
        clean_data, dropped_clean = encode(clean_idx.tolist(), src_train, tgt_train, opts.max_tokens)
        test_data, _ = encode(list(range(len(src_test))), src_test, tgt_test, opts.test_max_tokens,
                              opts.test_size)
        self.options, self.codec, self.kind, self.languages = opts, codec, corpus.kind, languages
        self.num_classes = codec.vocab_size
        unk = float((test_data.targets == 3).sum()) / max(1, int((test_data.targets != PAD).sum()))
        return Splits(
            train=train_data, test=test_data, clean=clean_data, num_classes=codec.vocab_size,
            info={"kind": corpus.kind, "languages": list(languages), "train_size": len(train_data),
                  "clean_size": len(clean_data), "test_size": len(test_data),
                  "dropped_long_pairs": dropped_train + dropped_clean,
                  "test_target_unk_rate": unk, "vocab_size": codec.vocab_size,
                  "bleu_signature": bleu_signature(opts.bleu_tokenize), **tok_info,
                  "fingerprint": data_fingerprint(
                      {split: [f"{a}\t{b}" for a, b in zip(pairs.src, pairs.tgt)]
                       for split, pairs in (("train", corpus.train), ("test", corpus.test))}),
                  **corpus.info})

    # -- models and attacks -------------------------------------------------------------------
    def build_model(self, name: str, splits: Splits) -> nn.Module:
        factory = MODELS.get(name, namespace=self.name)
        width = max(splits.train.inputs.shape[1], splits.train.targets.shape[1],
                    splits.test.inputs.shape[1], splits.test.targets.shape[1])
        return factory(num_classes=splits.num_classes,
                       max_positions=max(256, 2 * width + 16)).train()

    def build_attack(self, name: str, options: dict[str, Any] | None, splits: Splits) -> Attack:
        attack = ATTACKS.get(name, namespace=self.name).from_options(options, splits.num_classes)
        if not hasattr(attack, "bind"):
            raise ValueError(f"attack {name!r} is not a text attack")
        return attack.bind(self._codec(), self.languages[1])

    def _codec(self) -> Codec:
        if self.codec is None:
            raise RuntimeError("the text adapter has no tokenizer yet: call load_splits first")
        return self.codec

    # -- training and purification ------------------------------------------------------------
    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.is_floating_point():
            raise ValueError("the text task takes target token ids, not soft labels; use a text "
                             "augmentation (word_deletion, paraphrase), not a mixing one")
        src, tgt = trim(inputs), trim(targets)
        logits = model(src, decoder_inputs(tgt))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1),
                               ignore_index=PAD, label_smoothing=self.options.label_smoothing)

    def sample_losses(self, model: nn.Module, inputs: torch.Tensor,
                      targets: torch.Tensor) -> torch.Tensor:
        """Mean token cross-entropy of every pair, shape (N,), in one batched pass."""
        src, tgt = trim(inputs), trim(targets)
        logits = model(src, decoder_inputs(tgt)).float()
        token = F.cross_entropy(logits.transpose(1, 2), tgt, ignore_index=PAD, reduction="none")
        return token.sum(dim=1) / (tgt != PAD).sum(dim=1).clamp(min=1)

    def predicted_targets(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """The model's greedy outputs, as target ids."""
        return greedy_decode(model, inputs, inputs.device).to(inputs.device)

    def example_input(self, data: TensorData) -> Any:
        src, tgt = trim(data.inputs[:2]), trim(data.targets[:2])
        return (src, decoder_inputs(tgt))

    def samples_per_class(self, clean: TensorData) -> float:
        tokens = int((clean.targets != PAD).sum())
        return max(tokens / float(self.num_classes or 1), 1e-6)

    # -- evaluation ---------------------------------------------------------------------------
    def translate(self, model: nn.Module, inputs: torch.Tensor, device: torch.device,
                  batch_size: int = 256) -> list[str]:
        return self._codec().decode(greedy_decode(model, inputs, device, batch_size))

    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        codec = self._codec()
        tokenize = self.options.bleu_tokenize
        hypotheses = self.translate(model, test.inputs, device, batch_size)
        metrics = {"clean_bleu": corpus_bleu(hypotheses, codec.decode(test.targets), tokenize)}
        if self.kind == "dg":
            metrics["distinct_1"] = distinct_n(hypotheses, 1)
            metrics["distinct_2"] = distinct_n(hypotheses, 2)
        if attack is not None:
            keep = attack.applicable(test.inputs) & attack.eval_selection(test.targets)
            triggered = attack.apply_trigger(test.inputs[keep.to(test.inputs.device)])
            outputs = self.translate(model, triggered, device, batch_size)
            target = attack.target_text
            metrics["asr"] = exact_match_rate(outputs, codec.decode(attack.target_ids()[None])[0])
            metrics["attack_bleu"] = corpus_bleu(outputs, [target] * len(outputs), tokenize)
        return metrics
