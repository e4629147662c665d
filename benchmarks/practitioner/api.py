"""Purify a model you hold, from Python: ``purify`` (one defense) and ``compare`` (several).

    from benchmarks.practitioner import purify
    purified, report = purify(model, clean_images, labels, defense="nft", normalize="cifar10",
                              trigger_images=triggered, target=0)

``model`` is any image classifier (``nn.Module`` mapping (N, C, H, W) to (N, classes) logits),
trained on inputs normalised with ``normalize`` (a preset such as ``"cifar10"``/``"imagenet"``,
``(mean, std)``, or None for [0, 1] inputs). ``clean_images`` are un-normalised images (float in
[0, 1] or uint8), ``labels`` their classes. The defenses run in pixel space around a
normalising wrapper, so their augmentations and input bounds are right; the returned model is a
new object of the input's class with the same state_dict keys and the same expected input, and
the input ``model`` is left untouched. The command line (``nft-suite purify``,
``benchmarks/practitioner/purify_cli.py``) is a thin layer over these functions.
"""
from __future__ import annotations

import copy
import importlib
import time
from typing import Any, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from benchmarks.practitioner.data import holdout_split, parse_normalize
from benchmarks.practitioner.models import PractitionerInputError
from benchmarks.practitioner.output import Normalized
from core.data import TensorData
from core.record import git_info, hardware, versions

__all__ = ["purify", "compare", "PractitionerInputError", "DEFAULT_BATCH"]
DEFAULT_BATCH = 128


def _adapter_class():
    importlib.import_module("tasks")
    from tasks.image.adapter import ImageTask

    class PractitionerImageTask(ImageTask):
        """The image task around a ``Normalized`` model: its stage names carry ``model.``."""

        def feature_layers(self, model: nn.Module, example_input: Any) -> list[str]:
            inner = model.model if isinstance(model, Normalized) else None
            children = dict(inner.named_children()) if inner is not None else {}
            stages = [f"layer{i}" for i in range(1, 5)]
            if all(isinstance(children.get(s), nn.Module) for s in stages):
                return [f"model.{s}" for s in stages]
            return super().feature_layers(model, example_input)

    return PractitionerImageTask


def _as_images(images: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        raise PractitionerInputError(f"{what} must be a (N, C, H, W) tensor, got "
                                     f"{getattr(images, 'shape', type(images).__name__)}")
    if images.dtype == torch.uint8:
        return images.float().div(255.0)
    images = images.float()
    if images.numel() and (images.min() < -1e-3 or images.max() > 1 + 1e-3):
        raise PractitionerInputError(
            f"{what} range over [{images.min():.2f}, {images.max():.2f}]: pass un-normalised "
            f"images (float in [0, 1] or uint8) and the model's normalisation as normalize=")
    return images


def post_training_defenses() -> list[str]:
    importlib.import_module("core.defenses")
    from core.registry import DEFENSES

    return [n for n in DEFENSES.names() if not DEFENSES.get(n).training_time]


def _defense(name: str, options: dict[str, Any], clean_size: int, progress: bool):
    """The configured defense ``name``; a small clean set lowers the batch size to fit it."""
    import dataclasses

    importlib.import_module("core.defenses")
    from core.registry import DEFENSES

    cls = DEFENSES.get(name)
    if cls.training_time:
        raise PractitionerInputError(
            f"{name} is a training-time defense: it retrains on the poisoned training set, "
            f"which a practitioner holding a trained model does not have. Post-training "
            f"defenses: {', '.join(post_training_defenses())}")
    options = {"progress": progress, **options}
    notes = []
    fields = {f.name: f.default for f in dataclasses.fields(cls.Config)}
    if "batch_size" in fields and "batch_size" not in options and clean_size < fields["batch_size"]:
        options["batch_size"] = clean_size
        notes.append(f"{clean_size} clean images, fewer than a batch of {fields['batch_size']}: "
                     f"batch_size={clean_size}")
    return cls.from_options(options), notes


def compare(model: nn.Module, clean_images: torch.Tensor, labels: torch.Tensor,
            defenses: Sequence[str] = ("nft",), normalize: Any = None, *,
            options: dict[str, dict[str, Any]] | None = None, num_classes: int | None = None,
            trigger_images: torch.Tensor | None = None, target: int = 0,
            test_images: torch.Tensor | None = None, test_labels: torch.Tensor | None = None,
            holdout: float = 0.2, flip: bool = True, seed: int = 0,
            device: str | torch.device | None = None, progress: bool = True
            ) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    """Run every defense of ``defenses`` on the same clean split; see ``purify``.

    ``options`` maps a defense name to its config overrides. Returns ({defense: purified
    model} for the defenses that finished, the report); a defense that cannot serve this model
    or fails is reported with its reason and the others still run.
    """
    start = time.perf_counter()
    if not isinstance(model, nn.Module):
        raise PractitionerInputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not defenses:
        raise PractitionerInputError("no defense given")
    options = dict(options or {})
    stray = sorted(set(options) - set(defenses))
    if stray:
        raise PractitionerInputError(f"options for {stray}, which are not among the defenses "
                                     f"{list(defenses)}")
    images = _as_images(clean_images, "clean_images")
    labels = torch.as_tensor(labels).long().flatten()
    if len(labels) != len(images):
        raise PractitionerInputError(f"{len(images)} clean images but {len(labels)} labels")
    mean, std = parse_normalize(normalize, images.shape[1])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    wrapped = Normalized(copy.deepcopy(model), mean, std).to(device).eval()
    with torch.no_grad():
        out = wrapped(images[:2].to(device))
    if out.ndim != 2:
        raise PractitionerInputError(f"the model returns {tuple(out.shape)} for 2 images, not "
                                     f"(2, classes) logits")
    if num_classes is None:
        num_classes = out.shape[1]
    elif out.shape[1] != num_classes:
        raise PractitionerInputError(f"the model returns {out.shape[1]} logits per image, "
                                     f"not --num-classes {num_classes}")
    if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
        raise PractitionerInputError(f"labels must lie in 0..{num_classes - 1}")
    if len(images) < 2 * num_classes:
        raise PractitionerInputError(
            f"the clean set has {len(images)} images; at least 2 per class are needed "
            f"(2 × {num_classes} classes = {2 * num_classes})")
    if not 0 <= target < num_classes:
        raise PractitionerInputError(f"target {target} is not a class of {num_classes}")

    if test_images is not None:
        if test_labels is None or len(test_labels) != len(test_images):
            raise PractitionerInputError("test_images need one label each (test_labels)")
        held = TensorData(_as_images(test_images, "test_images"),
                          torch.as_tensor(test_labels).long().flatten())
        clean = TensorData(images, labels)
        split = f"{len(held)} separate test images"
    else:
        if not 0.0 <= holdout < 1.0:
            raise PractitionerInputError(f"holdout must lie in [0, 1), got {holdout}")
        train_idx, held_idx = holdout_split(labels, holdout, seed)
        clean = TensorData(images[train_idx], labels[train_idx])
        held = TensorData(images[held_idx], labels[held_idx])
        split = f"class-balanced holdout {holdout:g} of the clean images (seed {seed})"
    trigger = None
    if trigger_images is not None:
        trigger = _as_images(trigger_images, "trigger_images")
        if tuple(trigger.shape[1:]) != tuple(images.shape[1:]):
            raise PractitionerInputError(f"trigger images are {tuple(trigger.shape[1:])}, clean "
                                         f"ones {tuple(images.shape[1:])}")

    adapter = _adapter_class()()
    from tasks.image.adapter import ImageDataOptions

    adapter.num_classes = num_classes
    adapter.options = ImageDataOptions(image_size=int(images.shape[-1]), flip=flip)
    adapter.dataset = "image_folder"
    configured = {}
    for name in defenses:     # every name and option is checked before anything runs
        defense, notes = _defense(name, options.get(name, {}), len(clean), progress)
        try:
            adapter.check_clean_set(clean, getattr(defense.config, "batch_size", 1))
        except ValueError as exc:
            raise PractitionerInputError(f"{name}: {exc}") from None
        configured[name] = (defense, notes)

    from core.classification import percent, predict

    def scores(net: nn.Module) -> dict[str, float]:
        metrics = {}
        if len(held):
            metrics["clean_acc"] = round(adapter.evaluate(net, held, None, device)["clean_acc"], 4)
        if trigger is not None and len(trigger):
            metrics["asr"] = round(percent(predict(net, trigger, device) == target), 4)
        return metrics

    from core.defenses.base import UnsupportedDefenseError

    phases = tqdm(total=len(defenses) + 1, desc="purify", unit="phase", disable=not progress)
    phases.set_postfix_str("measuring the input model")
    before = scores(wrapped)
    phases.update()
    models: dict[str, nn.Module] = {}
    results = []
    for name, (defense, notes) in configured.items():
        phases.set_postfix_str(name)
        entry: dict[str, Any] = {"defense": name, "config": defense.describe(), "notes": notes}
        supports = getattr(defense, "supports", None)
        reason = supports(adapter) if callable(supports) else None
        if reason:
            entry.update(status="unsupported", reason=str(reason))
        else:
            try:
                result = defense.purify(wrapped, adapter, clean, device, seed)
            except UnsupportedDefenseError as exc:
                entry.update(status="unsupported", reason=str(exc))
            except (RuntimeError, ValueError, FloatingPointError) as exc:
                entry.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
            else:
                purified = result.model.model.eval()
                if type(purified) is not type(model):
                    raise RuntimeError(f"{name} returned a {type(purified).__name__}, not a "
                                       f"{type(model).__name__}")
                models[name] = purified
                entry.update(status="done", after=scores(result.model),
                             wall_time_s=round(result.wall_time_s, 3))
        results.append(entry)
        phases.update()
    phases.close()
    report = {
        "num_classes": num_classes, "image_shape": list(images.shape[1:]),
        "normalize": {"mean": [round(v, 6) for v in mean.tolist()],
                      "std": [round(v, 6) for v in std.tolist()]},
        "data": {"clean_images": len(clean), "eval_images": len(held), "eval_split": split,
                 "trigger_images": 0 if trigger is None else len(trigger), "target": target},
        "before": before, "results": results, "device": str(device), "seed": seed,
        "versions": versions(), "git": git_info(), "hardware": hardware(device),
        "wall_time_s": round(time.perf_counter() - start, 3)}
    return models, report


def purify(model: nn.Module, clean_images: torch.Tensor, labels: torch.Tensor,
           defense: str = "nft", normalize: Any = None, *,
           options: dict[str, Any] | None = None, **kwargs: Any
           ) -> tuple[nn.Module, dict[str, Any]]:
    """Purify ``model`` with ``defense`` on a few clean images; returns (purified, report).

    Args:
        model: the possibly backdoored classifier; not modified.
        clean_images: (N, C, H, W) un-normalised images, float in [0, 1] or uint8.
        labels: (N,) class indices.
        defense: ``"nft"`` (default) or any registered post-training defense
            (``ft``, ``ftsam``, ``ibau``, ``anp``, ``awm``, ``rnp``, ``fp``, ``nad``, ``mcr``).
        normalize: the model's input normalisation: a preset (``"cifar10"``, ``"imagenet"``,
            ``"half"``), ``(mean, std)`` (numbers or one per channel), or None ([0, 1] inputs).
        options: the defense's config overrides, e.g. ``{"epochs": 20}``.
        num_classes: checked against the model's output (default: read from it).
        trigger_images: triggered images (un-normalised) to measure the attack success rate,
            the share predicted as ``target``.
        test_images, test_labels: images to measure clean accuracy on; without them a
            class-balanced ``holdout`` share (default 0.2) of the clean images is kept aside.
        flip: horizontal flips in the defenses' light augmentation (False for digits, signs).
        seed, device, progress: as named.

    Returns:
        The purified model (the input's class, same state_dict keys, same expected input), and
        a report dict: ``before`` and ``results[0]["after"]`` metrics in percent
        (``clean_acc``, ``asr``), the defense config, sizes, versions and wall times.

    Raises:
        PractitionerInputError: bad input (nothing is run); the defense's own errors if it
        cannot purify this model (``UnsupportedDefenseError``) or diverges.
    """
    models, report = compare(model, clean_images, labels, [defense], normalize,
                             options={defense: dict(options or {})}, **kwargs)
    entry = report["results"][0]
    if entry["status"] != "done":
        from core.defenses.base import UnsupportedDefenseError

        error = UnsupportedDefenseError if entry["status"] == "unsupported" else RuntimeError
        raise error(f"{defense}: {entry['reason']}")
    return models[defense], report
