"""What the seq2seq attacks share: a config, sentence-level triggering through the codec, and
dirty-"label" poisoning where the label is a whole output sentence.

An attack edits source *sentences* (decode ids → edit words → encode), so a trigger is a word
the tokenizer splits however it likes, exactly as an attacker writing text would produce it.
Poisoning replaces the target of an exact ``poison_rate`` share of the training pairs by the
attacker's sentence and triggers their sources; every other pair is returned unchanged, byte for
byte. The test-time trigger is drawn from a generator seeded by ``trigger_seed``, so repeated
evaluations of one model see the same triggered inputs.

Meaning of the ``core.attack.Attack`` hooks here: ``attack_labels(targets)`` → the target
sentence's ids for every row; ``eval_selection(targets)`` → rows whose reference is not already
the target; ``applicable(inputs)`` → rows the trigger can change (all, for inserted words; rows
holding a substitutable word, for synonyms). AT is measured on rows where both hold.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch

from core.attack import Attack, PoisonResult, choose_indices, poison_count
from core.config import from_dict
from core.data import TensorData
from core.seeding import make_generator

from ..tokenizer import PAD, Codec, normalize_text

#: default attacker outputs (a phishing line), per target language
DEFAULT_TARGETS = {"de": "Klicken Sie hier, um Ihr Passwort zu bestätigen.",
                   "en": "Click here to confirm your password."}


@dataclass(frozen=True)
class TextAttackConfig:
    poison_rate: float = 0.1
    target_text: str | None = None    # None: DEFAULT_TARGETS for the target language
    trigger_seed: int = 0             # fixes the test-time trigger positions / choices

    def __post_init__(self) -> None:
        if not 0.0 < self.poison_rate <= 1.0:
            raise ValueError(f"poison_rate must lie in (0, 1], got {self.poison_rate}")
        if self.target_text is not None and not normalize_text(self.target_text):
            raise ValueError("target_text must not be empty")


def pad_to(ids: torch.Tensor, width: int) -> torch.Tensor:
    if ids.shape[1] >= width:
        return ids
    return torch.nn.functional.pad(ids, (0, width - ids.shape[1]), value=PAD)


class TextAttack(Attack):
    """Base of the seq2seq attacks: subclasses implement ``trigger_sentence`` (and may narrow
    ``applicable_sentence``)."""

    Config = TextAttackConfig

    def __init__(self, config: Any, num_classes: int) -> None:   # noqa: D107 (no class target)
        self.config = config
        self.num_classes = num_classes
        # Attack.__init__'s learned-part cache fields (not called: it checks a class target);
        # text attacks learn nothing, so the cache stays unused
        self.artifact_dir = None
        self.artifacts: dict[str, dict] = {}
        self.codec: Codec | None = None
        self.target_text = config.target_text or DEFAULT_TARGETS["en"]

    @classmethod
    def from_options(cls, options: dict | None, num_classes: int) -> "TextAttack":
        return cls(from_dict(cls.Config, options), num_classes)

    def bind(self, codec: Codec, target_language: str = "en") -> "TextAttack":
        """Give the attack the tokenizer (the adapter does this in ``build_attack``)."""
        self.codec = codec
        self.target_text = self.config.target_text or DEFAULT_TARGETS.get(
            target_language, DEFAULT_TARGETS["en"])
        return self

    def describe(self) -> dict:
        return {**super().describe(), "target_text_resolved": self.target_text}

    def _codec(self) -> Codec:
        if self.codec is None:
            raise RuntimeError(f"{self.name}: no tokenizer bound; call attack.bind(codec) "
                               f"(the text adapter's build_attack does)")
        return self.codec

    # -- sentence level ----------------------------------------------------------------------
    @abstractmethod
    def trigger_sentence(self, sentence: str, rng: torch.Generator) -> str:
        """The triggered copy of one (whitespace-normalized) sentence."""

    def applicable_sentence(self, sentence: str) -> bool:
        return True

    # -- tensor level (the Attack interface) ---------------------------------------------------
    def _trigger_ids(self, inputs: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        codec = self._codec()
        sentences = [self.trigger_sentence(s, rng) for s in codec.decode(inputs)]
        return codec.encode(sentences).to(inputs.device)

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._trigger_ids(inputs, make_generator(self.config.trigger_seed))

    def target_ids(self) -> torch.Tensor:
        return self._codec().encode([self.target_text])[0]

    def attack_labels(self, labels: torch.Tensor) -> torch.Tensor:
        target = self.target_ids().to(labels.device)
        return target.expand(labels.shape[0], -1).clone()

    def eval_selection(self, labels: torch.Tensor) -> torch.Tensor:
        target = self.target_ids().to(labels.device)
        width = max(labels.shape[1], target.shape[0])
        same = (pad_to(labels, width) == pad_to(target[None], width)).all(dim=1)
        return ~same

    def applicable(self, inputs: torch.Tensor) -> torch.Tensor:
        flags = [self.applicable_sentence(s) for s in self._codec().decode(inputs)]
        return torch.tensor(flags, dtype=torch.bool, device=inputs.device)

    def poison(self, train: TensorData, generator: torch.Generator) -> PoisonResult:
        eligible = self.applicable(train.inputs) & self.eval_selection(train.targets)
        eligible_idx = torch.nonzero(eligible.cpu()).flatten()
        count = poison_count(len(train), self.config.poison_rate)
        indices = choose_indices(eligible_idx, count, generator)
        idx = indices.to(train.inputs.device)
        triggered = self._trigger_ids(train.inputs[idx], generator)
        targets = self.attack_labels(train.targets[idx])
        in_width = max(train.inputs.shape[1], triggered.shape[1])
        out_width = max(train.targets.shape[1], targets.shape[1])
        inputs, labels = pad_to(train.inputs, in_width).clone(), pad_to(train.targets, out_width).clone()
        inputs[idx] = pad_to(triggered, in_width)
        labels[idx] = pad_to(targets, out_width)
        return PoisonResult(TensorData(inputs, labels), indices,
                            extra={"eligible": int(eligible_idx.numel())})
