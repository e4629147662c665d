"""The task adapter interface: everything modality-specific that core and the runner need.

One subclass per task kind (``tasks/<modality>/``). Core code (the purify loop, the defenses,
the runner) only talks to this interface, so a new modality is one adapter.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from .attack import Attack
from .augment import Augmentation, Identity
from .data import TensorData
from .masks import trace_layers
from .registry import ATTACKS, MODELS


class CleanSetError(ValueError):
    """The defender's clean set cannot be used (missing classes, too small, …)."""


@dataclass
class Splits:
    """What a dataset gives the runner.

    ``train`` is the attacker's data (to be poisoned); ``clean`` is the defender's clean split,
    held out from ``train``; ``test`` measures clean and triggered metrics.
    """

    train: TensorData
    test: TensorData
    clean: TensorData
    num_classes: int
    info: dict[str, Any] = field(default_factory=dict)


def probed_model(name: str, factory: Any, kwargs: dict[str, Any], example: torch.Tensor,
                 num_classes: int, noun: str = "inputs") -> nn.Module:
    """``factory(**kwargs)``, checked to map the batch ``example`` to ``(len(example),
    num_classes)`` before any training: a clear ``ValueError`` when the model cannot take these
    inputs (a size or channel mismatch in the factory or the forward pass)."""
    shape = "×".join(map(str, example.shape[1:]))
    try:
        model = factory(**kwargs)
        model.eval()
        with torch.no_grad():
            out = model(example)
    except Exception as exc:  # noqa: BLE001 - any failure here means "cannot take these inputs"
        raise ValueError(f"model {name!r} cannot take {shape} {noun}: "
                         f"{type(exc).__name__}: {exc}") from None
    expected = (example.shape[0], num_classes)
    if tuple(out.shape) != expected:
        raise ValueError(f"model {name!r} returns {tuple(out.shape)} for {example.shape[0]} "
                         f"{noun}, expected {expected}")
    return model.train()


class TaskAdapter(ABC):
    """Base class of task adapters."""

    name: ClassVar[str]
    #: metric name -> True when larger is better (recorded beside every result)
    higher_is_better: ClassVar[dict[str, bool]] = {}
    #: augmentation NFT mixes with by default (registry name)
    default_nft_augmentation: ClassVar[str] = "mixup"
    #: clean metric (a key of ``evaluate``'s result, larger is better) that defenses watch on the
    #: clean set: FP's accuracy-drop stop, RNP's unlearning stop
    primary_metric: ClassVar[str] = "clean_acc"
    #: the benchmark preset ``run.py --task NAME`` runs when no ``--preset`` is given: the task's
    #: smoke preset, or its quick preset where it has no smoke one (a name, so core imports nothing)
    default_preset: ClassVar[str | None] = None

    # -- declared capabilities: ``Defense.supports`` reads them before anything trains --------
    #: inputs (as ``TensorData.batch`` gives them) are continuous, so a defense may add a
    #: gradient-found perturbation to them (I-BAU, AWM); token ids are not
    continuous_inputs: ClassVar[bool] = True
    #: targets are class indices of one classification head and ``num_classes`` is set (FT-SAM's
    #: label smoothing; the default ``predicted_targets`` takes the arg-max of that head)
    single_label: ClassVar[bool] = False
    #: the models produce feature maps laid out (N, C, *positions) (NAD's attention maps);
    #: ``feature_layers`` names them
    feature_maps: ClassVar[bool] = True

    def __init__(self) -> None:
        self.num_classes: int | None = None

    def capability_reason(self, capability: str) -> str | None:
        """The task's own words for why it lacks the declared ``capability`` (the name of one of
        the capability attributes above, e.g. ``"continuous_inputs"``); a defense that refuses
        the task for that capability quotes it in place of its generic reason. Default None:
        the generic reason."""
        return None

    @classmethod
    def missing_methods(cls) -> list[str]:
        """The required (abstract) methods this adapter class leaves unimplemented."""
        return sorted(getattr(cls, "__abstractmethods__", ()))

    def implements(self, method: str) -> bool:
        """Whether this adapter overrides the optional ``TaskAdapter`` method ``method``."""
        return getattr(type(self), method, None) is not getattr(TaskAdapter, method, None)

    # -- data ---------------------------------------------------------------------------------
    @abstractmethod
    def load_splits(self, dataset: str, data_root: Path | None, options: dict[str, Any],
                    seed: int) -> Splits:
        """Load ``dataset`` and split it; must set ``self.num_classes`` where it applies."""

    # -- models and attacks -------------------------------------------------------------------
    #: the word for the task's inputs in messages ("images", "clips", "clouds", ...)
    input_noun: ClassVar[str] = "inputs"
    #: build_model checks, before any training, that the model takes two training inputs and
    #: returns one row of ``num_classes`` outputs each (tasks whose models map an input to
    #: per-class scores)
    probe_model: ClassVar[bool] = False

    def build_model(self, name: str, splits: Splits) -> nn.Module:
        """The registered model ``name`` for these splits (``num_classes`` plus
        ``model_kwargs``); with ``probe_model``, checked on two training inputs (in eval mode,
        no gradient) and returned in train mode."""
        factory = MODELS.get(name, namespace=self.name)
        kwargs = {"num_classes": splits.num_classes, **self.model_kwargs(splits)}
        if not self.probe_model:
            return factory(**kwargs)
        return probed_model(name, factory, kwargs, splits.train.input_example(2).cpu(),
                            splits.num_classes, self.input_noun)

    def model_kwargs(self, splits: Splits) -> dict[str, Any]:
        """Extra keyword arguments for model factories (e.g. input channels)."""
        return {}

    def build_attack(self, name: str, options: dict[str, Any] | None, splits: Splits) -> Attack:
        cls = ATTACKS.get(name, namespace=self.name)
        return cls.from_options(options, splits.num_classes)

    # -- training and purification ------------------------------------------------------------
    @abstractmethod
    def loss(self, model: nn.Module, inputs: torch.Tensor, targets: Any) -> torch.Tensor:
        """The task loss of ``model`` on a batch, a scalar in train *and* eval mode (targets as
        ``TensorData.batch`` gives them: a tensor, possibly soft rows, or a list)."""

    def smooth_targets(self, targets: torch.Tensor, amount: float) -> torch.Tensor:
        """Targets with label smoothing ``amount`` (``TrainConfig.label_smoothing``); tasks
        whose targets are not class labels leave it unsupported."""
        raise NotImplementedError(f"task {self.name!r} does not support label smoothing")

    def train_augmentation(self) -> Augmentation:
        """Light augmentation for training and before NFT's mixing (images: crop + flip)."""
        return Identity()

    def example_input(self, data: TensorData) -> Any:
        """One small batch the model accepts (used to trace layers before masking)."""
        return data.input_example(2)

    def samples_per_class(self, clean: TensorData) -> float:
        """N_c of the NFT regulariser."""
        return float(len(clean))

    def check_clean_set(self, clean: TensorData, batch_size: int) -> None:
        """Raise ``CleanSetError`` when ``clean`` cannot drive a defense."""
        if len(clean) < batch_size:
            raise CleanSetError(f"the clean set has {len(clean)} samples, fewer than one batch "
                                f"of {batch_size}; lower the batch size or give more clean data")

    # -- evaluation ---------------------------------------------------------------------------
    @abstractmethod
    def evaluate(self, model: nn.Module, test: TensorData, attack: Attack | None,
                 device: torch.device, batch_size: int = 512) -> dict[str, float]:
        """Metrics in percent (``clean_acc``, ``asr``, …)."""

    # -- what the baseline defenses need (core/defenses) --------------------------------------
    def sample_losses(self, model: nn.Module, inputs: torch.Tensor,
                      targets: Any) -> torch.Tensor:
        """The task loss of every sample, shape (N,), in one batched pass (ABL's isolation,
        CBD's sample weights). Optional: a task without it cannot run ABL or CBD, which say so
        before anything trains (``Defense.supports``)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement sample_losses (per-sample losses), "
            f"which ABL and CBD need")

    def predicted_targets(self, model: nn.Module, inputs: torch.Tensor) -> Any:
        """The model's own predictions as targets for ``loss`` (I-BAU's and AWM's trigger
        search maximise the loss against them). Default, for ``single_label`` tasks: arg-max
        over the last output dim; other tasks override it (or I-BAU and AWM refuse them)."""
        if not self.single_label:
            raise NotImplementedError(
                f"{type(self).__name__} does not implement predicted_targets, which I-BAU and "
                f"AWM need for tasks that are not single-label classification")
        return model(inputs).argmax(dim=-1)

    def perturbable_inputs(self, data: TensorData) -> bool:
        """Whether the inputs are continuous, so that defenses may add a gradient-found
        perturbation to them (I-BAU, AWM). Default: ``continuous_inputs`` and floating-point
        batches (token ids are not)."""
        return self.continuous_inputs and data.input_example(1).is_floating_point()

    def can_predict_targets(self) -> bool:
        """Whether ``predicted_targets`` works for this task (default or overridden)."""
        return self.single_label or self.implements("predicted_targets")

    def input_bounds(self) -> tuple[float | torch.Tensor, float | torch.Tensor] | None:
        """``(low, high)`` of valid inputs (scalars or tensors broadcastable to a batch), used to
        clamp perturbed inputs; None: continuous but unbounded (e.g. point coordinates)."""
        return None

    def output_layers(self, model: nn.Module, example_input: Any) -> list[str]:
        """Names of the model's output layers (heads): NFT, ANP and RNP do not mask them
        (NFT: unless ``mask_classifier``), AWM leaves their weights unmasked, FP prunes the
        features they read. Default: the last Conv/Linear that runs in forward. Override for
        models with several heads (a detector's class, box and proposal heads)."""
        order = trace_layers(model, example_input).order
        if not order:
            raise ValueError(f"{type(model).__name__} runs no Conv/Linear layer")
        return [order[-1]]

    def feature_layers(self, model: nn.Module, example_input: Any) -> list[str]:
        """Modules whose outputs are feature maps laid out (N, C, *positions), shallow to deep
        (NAD distils attention maps of the deepest ones).

        Default: every convolution except the output layers, named by the normalisation layer
        that consumes it directly when there is one (its normalised output), else by the
        convolution itself. Linear layers are left out: their outputs have no position axes
        behind the channel axis. An empty list means the model has no such feature maps.
        """
        traced = trace_layers(model, example_input)
        outputs = set(self.output_layers(model, example_input))
        modules = dict(model.named_modules())
        convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
        return [traced.followed_by.get(name, name) for name in traced.order
                if name not in outputs and isinstance(modules[name], convs)]
