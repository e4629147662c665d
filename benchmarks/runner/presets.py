"""Presets: YAML files in ``benchmarks/runner/presets/`` read into a typed ``Preset``.

Each file starts with a comment header saying the hardware it is meant for, the numbers it is
expected to reach and how many runs it makes. Unknown keys are errors. Command-line flags and
``--set dotted.key=value`` override the file.

``per_dataset: {<dataset>: {<preset keys>}}`` holds what changes with the dataset the run
gets (``--dataset``), e.g. the attack target: a VOC class for ``voc07``, a COCO class for
``coco``. The block of the run's dataset is merged over the file (mappings key by key) before
``--set`` applies; blocks of other datasets are dropped.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from benchmarks.reporting.regression import check_tolerances
from core.config import ConfigError, from_dict, set_dotted

PRESET_DIR = Path(__file__).resolve().parent / "presets"


@dataclass
class Preset:
    name: str
    task: str
    dataset: str
    model: str
    attacks: list[str]
    defenses: list[str]
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "cpu"
    data: dict = field(default_factory=dict)              # dataset options (adapter.load_splits)
    train: dict = field(default_factory=dict)             # core.training.TrainConfig options
    attack_options: dict = field(default_factory=dict)    # attack name -> options
    defense_options: dict = field(default_factory=dict)   # defense name -> options
    eval_batch_size: int = 512
    save_features: int = 0       # > 0: keep penultimate features of that many test inputs (t-SNE)
    # nightly regression tolerances: {stage: {metric: tolerance}}, stage before/after/timings_s;
    # a number is absolute (metric units), "N%" is relative to the baseline value
    regression: dict = field(default_factory=dict)
    # post-purification probes run after every defense (benchmarks/runner/post_purification.py): "ra"
    post_purification: list[str] = field(default_factory=list)
    post_purification_options: dict = field(default_factory=dict)   # probe -> options
    description: str = ""

    def __post_init__(self) -> None:
        if "all" in self.defenses:
            if len(self.defenses) > 1:
                raise ConfigError(f"defenses: 'all' stands alone, got {self.defenses}")
            self.defenses = all_defenses()
        if not self.attacks or not self.defenses or not self.seeds:
            raise ConfigError("a preset needs at least one attack, one defense and one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds repeat: {self.seeds}")
        if self.save_features < 0:
            raise ConfigError(f"save_features must be ≥ 0, got {self.save_features}")
        check_tolerances(self.regression)
        from .post_purification import check_probes
        check_probes(self.post_purification, self.post_purification_options)


def all_defenses() -> list[str]:
    """What ``defenses: all`` (``--defenses all``) expands to: every registered defense; the
    runner then records the ones the task cannot use as ``unsupported``."""
    from core.defenses import DEFENSES   # registers the shipped defenses

    return DEFENSES.names()


def available() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def parse_sets(items: list[str] | None) -> list[tuple[str, Any]]:
    """``["a.b=1", ...]`` → ``[("a.b", 1), ...]`` (values parsed as YAML)."""
    out = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
        out.append((key.strip(), yaml.safe_load(raw)))
    return out


def read_named_yaml(name_or_path: str, directory: Path, kind: str) -> tuple[Path, dict]:
    """A YAML mapping given by a path, or by a bare name looked up as ``directory/NAME.yaml``
    (presets, sweeps); an unknown name lists what ``directory`` holds."""
    path = Path(name_or_path)
    if not path.suffix:
        path = directory / f"{name_or_path}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in directory.glob("*.yaml"))
        raise ConfigError(f"unknown {kind} {name_or_path!r}; available: {', '.join(names)}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping")
    return path, data


def read_preset_data(name_or_path: str) -> dict:
    path, data = read_named_yaml(name_or_path, PRESET_DIR, "preset")
    data.setdefault("name", path.stem)
    return data


def merge_into(base: dict, extra: Mapping[str, Any]) -> None:
    """``extra`` merged into ``base`` in place, mappings key by key, other values replaced."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_into(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def apply_per_dataset(data: dict) -> None:
    """Merge the ``per_dataset`` block of ``data["dataset"]`` into ``data`` (module docstring)."""
    blocks = data.pop("per_dataset", None) or {}
    if not isinstance(blocks, dict) or not all(isinstance(b, dict) for b in blocks.values()):
        raise ConfigError("per_dataset must map dataset names to mappings of preset keys")
    chosen = blocks.get(data.get("dataset"))
    if chosen:
        if {"dataset", "task", "per_dataset"} & set(chosen):
            raise ConfigError("a per_dataset block cannot set dataset, task or per_dataset")
        merge_into(data, chosen)


def load_preset(name_or_path: str, overrides: dict[str, Any] | None = None,
                sets: list[str] | None = None,
                assignments: list[tuple[str, Any]] | None = None) -> Preset:
    """Read a preset by name (``smoke``) or path, then apply, in this order, ``overrides``
    (flags), ``key=value`` strings (``--set``) and parsed ``(dotted key, value)`` pairs."""
    data = copy.deepcopy(read_preset_data(name_or_path))
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    apply_per_dataset(data)
    # a flag that narrows the file's attacks/defenses drops the file's options for the names it
    # removed (they are the preset's, not the user's); options given with --set are still
    # checked against what the run uses
    for names, options in (("attacks", "attack_options"), ("defenses", "defense_options")):
        if (overrides or {}).get(names) is not None and isinstance(data.get(options), dict):
            data[options] = {k: v for k, v in data[options].items() if k in data[names]}
    for key, value in [*parse_sets(sets), *(assignments or [])]:
        set_dotted(data, key, copy.deepcopy(value))
    return from_dict(Preset, data)
