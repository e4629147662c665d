"""The contracts every registered model, attack and defense keeps, stated once and checked by
iterating the registries (tests/test_contracts.py). Nothing here names a model, an attack or a
defense: a part registered anywhere (a test file included) is covered with no list edited.

* a model declares ``input_shape`` (and, where its forward is not ``(N, *input_shape) ->
  (N, num_classes)`` logits, ``inputs="tokens"`` / ``outputs="seq2seq"|"detections"``) where it
  is registered; it builds, runs a forward pass at that shape with finite outputs, and takes
  NFT's neuron masks (folding them back leaves the outputs unchanged);
* an attack, built by its task for that task's toy data, poisons a copy of the training set
  (the input untouched, the indices in range, labels kept when it is clean-label) and its
  trigger is evaluated by the task (finite metrics);
* a defense either refuses the toy task of a modality (``supports`` gives the reason, before
  anything trains) or runs on it and returns a model of the same class and state_dict keys,
  leaving the input model as it was.

"Toy task" of a modality: its ``<task>_smoke`` preset (``smoke`` for the synthetic task) shrunk
to a few hundred samples; the image task has no synthetic dataset, so it gets random images.
Budgets are shrunk generically: every integer option named like a count of epochs, iterations,
rounds or steps is set to 1 and batch sizes to at most 16 (``tiny_options``).
"""
from __future__ import annotations

import dataclasses
import functools
import importlib
import math
from typing import Any

import torch

from core.adapter import Splits
from core.data import TensorData
from core.defenses.base import UnsupportedDefenseError
from core.masks import fold_masks, inject_masks
from core.registry import ATTACKS, DATASETS, DEFENSES, MODELS, TASKS
from core.seeding import make_generator
from core.training import TrainConfig, fit

CPU = torch.device("cpu")
BUDGET_WORDS = ("epochs", "iterations", "rounds", "steps", "outer", "inner")
#: which runner preset is each task's toy task (a task with none gets random data or, when it
#: registers one dataset, that dataset with its defaults)
SMALL_DATA = {"train_size": 240, "test_size": 60, "clean_size": 60}


def load_registries() -> None:
    """Import every shipped task (they register their parts) and every lazy entry."""
    importlib.import_module("tasks")
    for task in TASKS.names():
        TASKS.get(task)
    for registry in (MODELS, ATTACKS, DEFENSES, DATASETS):
        for namespace, name in registry.entries():
            registry.get(name, namespace)


def model_cases() -> list[tuple[str | None, str]]:
    load_registries()
    return MODELS.entries()


def attack_cases() -> list[tuple[str, str]]:
    load_registries()
    return [(ns, name) for ns, name in ATTACKS.entries() if ns is not None]


def defense_cases() -> list[str]:
    load_registries()
    return DEFENSES.names()


def toy_task_names() -> list[str]:
    load_registries()
    return TASKS.names()


def tiny_options(config_cls: type, **extra: Any) -> dict[str, Any]:
    """The config's budgets (int fields named like epochs/iterations/rounds/steps) at 1."""
    out = {}
    for field in dataclasses.fields(config_cls):
        default = field.default
        if (isinstance(default, int) and not isinstance(default, bool) and default > 1
                and any(field.name.endswith(word) for word in BUDGET_WORDS)):
            out[field.name] = 1
    names = {f.name for f in dataclasses.fields(config_cls)}
    if "progress" in names:
        out["progress"] = False
    for field in dataclasses.fields(config_cls):        # batches that fit a toy clean set
        if field.name.endswith("batch_size") and isinstance(field.default, int):
            out[field.name] = min(field.default, 16)
    out.update({k: v for k, v in extra.items() if k in names})
    return out


# -- models ---------------------------------------------------------------------------------
def example_batch(info: dict[str, Any], num_classes: int, n: int = 2) -> Any:
    """Two inputs of the declared shape (token ids below ``num_classes``, the vocabulary)."""
    shape = tuple(info["input_shape"])
    generator = make_generator(0)
    if info.get("inputs") == "tokens":
        tokens = torch.randint(4, num_classes, (n, *shape), generator=generator)
        return (tokens, tokens) if info.get("outputs") == "seq2seq" else tokens
    return torch.rand((n, *shape), generator=generator)


def _tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    return [t for item in out for t in _tensors(item)]


def _forward(model: torch.nn.Module, batch: Any) -> Any:
    with torch.no_grad():
        return model(*batch) if isinstance(batch, tuple) else model(batch)


def check_model(namespace: str | None, name: str, num_classes: int = 12) -> None:
    info = MODELS.info(name, namespace)
    assert "input_shape" in info, (f"model {name!r} declares no input_shape; register it with "
                                   f"MODELS.register(..., input_shape=(...))")
    torch.manual_seed(0)
    model = MODELS.get(name, namespace)(num_classes=num_classes).eval()
    batch = example_batch(info, num_classes)
    out = _forward(model, batch)
    assert all(torch.isfinite(t.float()).all() for t in _tensors(out)), name
    if info.get("outputs", "logits") == "logits":
        assert tuple(out.shape) == (2, num_classes), (name, tuple(out.shape))
    masked = inject_masks(model, batch)
    assert masked, f"{name}: no maskable layer"
    with torch.no_grad():
        for layer in masked:
            layer.mask.fill_(1.0)
    fold_masks(model)
    again = _forward(model, batch)
    for before, after in zip(_tensors(out), _tensors(again)):
        assert torch.allclose(before, after, atol=1e-5), f"{name}: masks at 1 changed outputs"


# -- toy tasks ------------------------------------------------------------------------------
def _preset_for(task: str):
    from benchmarks.runner.presets import available, load_preset

    names = [f"{task}_smoke"] + (["smoke"] if task == "synthetic" else [])
    for preset in names:
        if preset in available():
            return load_preset(preset)
    return None


def _random_images(adapter: Any, classes: int = 4, per_class: int = 40) -> Splits:
    generator = make_generator(0)
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = torch.rand((len(labels), 3, 32, 32), generator=generator)
    adapter.num_classes = classes
    part = len(labels) // 4
    order = torch.randperm(len(labels), generator=generator)
    pick = {"train": order[2 * part:], "test": order[:part], "clean": order[part:2 * part]}
    data = {k: TensorData(images[v], labels[v]) for k, v in pick.items()}
    return Splits(train=data["train"], test=data["test"], clean=data["clean"],
                  num_classes=classes)


@functools.lru_cache(maxsize=None)
def toy_task(task: str) -> tuple[Any, Splits, str]:
    """(adapter, splits, model name) of ``task``'s toy task."""
    preset = _preset_for(task)
    adapter = TASKS.get(task)()
    if preset is not None:
        data = dict(preset.data)
        for key, value in SMALL_DATA.items():
            if key in data or key in _dataset_fields(task, preset.dataset):
                data[key] = min(value, data.get(key, value) or value)
        splits = adapter.load_splits(preset.dataset, None, data, 0)
        return adapter, splits, preset.model
    datasets = [n for n in DATASETS.names(task) if f"{task}/{n}" in DATASETS]
    if task == "image" or not datasets:
        return adapter, _random_images(adapter), "small_cnn"
    splits = adapter.load_splits(datasets[0], None, {}, 0)
    models = [n for ns, n in MODELS.entries() if ns == task]
    return adapter, splits, models[0]


def _dataset_fields(task: str, dataset: str) -> set[str]:
    """Option names of the task's data config (where the sizes live), best effort."""
    options = getattr(TASKS.get(task), "Options", None)
    fields = set()
    for cls in (options, DATASETS.get(dataset, task) if f"{task}/{dataset}" in DATASETS else None):
        if cls is not None and dataclasses.is_dataclass(cls):
            fields |= {f.name for f in dataclasses.fields(cls)}
    return fields


# -- attacks ---------------------------------------------------------------------------------
def check_attack(namespace: str, name: str) -> None:
    adapter, splits, model_name = toy_task(namespace)
    cls = ATTACKS.get(name, namespace)
    preset = _preset_for(namespace)
    given = (preset.attack_options.get(name) or {}) if preset is not None else {}
    attack = adapter.build_attack(name, {**tiny_options(cls.Config), **given}, splits)
    attack.prepare(splits.train, adapter, CPU, 0)
    before = splits.train.inputs.clone()
    result = attack.poison(splits.train, make_generator(0))
    assert torch.equal(splits.train.inputs, before), f"{name} modified its input"
    assert len(result.data) == len(splits.train)
    assert len(result.indices) > 0 and int(result.indices.max()) < len(splits.train)
    if attack.clean_label:
        assert torch.equal(torch.as_tensor(result.data.targets[result.indices]),
                           torch.as_tensor(splits.train.targets[result.indices]))
    model = adapter.build_model(model_name, splits)
    metrics = adapter.evaluate(model, splits.test, attack, CPU)
    assert metrics and all(math.isfinite(v) for v in metrics.values()), metrics


# -- defenses ---------------------------------------------------------------------------------
def check_defense(name: str, task: str) -> str:
    """Run defense ``name`` on the toy task; returns "ran" or "refused: <reason>"."""
    adapter, splits, model_name = toy_task(task)
    cls = DEFENSES.get(name)
    defense = cls.from_options(tiny_options(cls.Config))
    reason = defense.supports(adapter)
    if reason is not None:
        assert isinstance(reason, str) and reason, name
        return f"refused: {reason}"
    torch.manual_seed(0)
    model = adapter.build_model(model_name, splits)
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        if cls.training_time:
            # at least 400 samples (repeated), so that a 1 % share (ABL's isolation) is not a
            # single sample, which BatchNorm cannot train on
            train = splits.train.subset(torch.arange(len(splits.train))
                                        .repeat(-(-400 // len(splits.train))))
            config = TrainConfig(epochs=1, batch_size=32, progress=False)
            result = defense.train(model, adapter, train, config, CPU, 0)
        else:
            fit(model, adapter, splits.train, TrainConfig(epochs=1, batch_size=32,
                                                          progress=False), CPU, 0)
            snapshot = {k: v.clone() for k, v in model.state_dict().items()}
            result = defense.purify(model, adapter, splits.clean, CPU, 0)
    except UnsupportedDefenseError as exc:   # a refusal found on the model, still before work
        return f"refused: {exc}"
    assert type(result.model) is type(model)
    assert list(result.model.state_dict()) == list(model.state_dict())
    for key, value in snapshot.items():
        assert torch.equal(model.state_dict()[key], value), f"{name} modified its input ({key})"
    assert result.wall_time_s >= 0
    return "ran"


def importable(module: str) -> bool:
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False
