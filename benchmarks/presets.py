"""Presets: YAML files in ``benchmarks/presets/`` read into a typed ``Preset``.

Each file starts with a comment header saying the hardware it is meant for, the numbers it is
expected to reach and how many runs it makes. Unknown keys are errors. Command-line flags and
``--set dotted.key=value`` override the file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.config import ConfigError, from_dict

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
    description: str = ""

    def __post_init__(self) -> None:
        if not self.attacks or not self.defenses or not self.seeds:
            raise ConfigError("a preset needs at least one attack, one defense and one seed")


def available() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {key!r} is not a mapping")
    node[keys[-1]] = value


def load_preset(name_or_path: str, overrides: dict[str, Any] | None = None,
                sets: list[str] | None = None) -> Preset:
    """Read a preset by name (``smoke``) or path, then apply overrides and ``key=value`` sets."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PRESET_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name_or_path!r}; available: {', '.join(available())}")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping")
    data.setdefault("name", path.stem)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    for item in sets or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
        _set_dotted(data, key.strip(), yaml.safe_load(raw))
    return from_dict(Preset, data)
