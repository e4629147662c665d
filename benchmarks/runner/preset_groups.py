"""Preset groups: one preset name that runs several presets (of different tasks) into one
output folder, e.g. ``nightly_cpu`` (image, point cloud and text in one regression check).

A group is a YAML file in ``benchmarks/presets/`` with a ``parts`` list instead of a task::

    # header: hardware, expected, runs (as every preset)
    description: ...
    parts:
      - {preset: smoke, set: {train.cpu_bf16: false}}     # a preset name + dotted overrides
      - {preset: text_smoke}
    regression: {after: {clean_acc: 1.0}}                  # the group's tolerances

Records of every part land in the same ``OUT/records`` (they are kept apart by task / dataset /
model), so ``aggregate``, ``compare`` and ``--compare-to`` see the whole group as one run.
Flags and ``--set`` apply to every part (after the part's own ``set``); a flag that names one task,
dataset or model would merge the parts and is refused.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.config import ConfigError, from_dict

from .presets import Preset, check_tolerances, load_preset, parse_sets, read_preset_data

#: flags that would turn every part into the same matrix
PART_IDENTITY = ("task", "dataset", "model")


@dataclass(frozen=True)
class GroupPart:
    preset: str
    set: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PresetGroup:
    name: str
    parts: list
    regression: dict = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.parts:
            raise ConfigError(f"preset group {self.name!r} has no parts")
        check_tolerances(self.regression)


def is_group(name_or_path: str | None) -> bool:
    return bool(name_or_path) and "parts" in read_preset_data(name_or_path)


def load_group(name_or_path: str) -> PresetGroup:
    data = read_preset_data(name_or_path)
    group = from_dict(PresetGroup, data)
    parts = [from_dict(GroupPart, p) for p in group.parts]
    for part in parts:
        if is_group(part.preset):
            raise ConfigError(f"preset group {group.name!r}: part {part.preset!r} is a group")
    return PresetGroup(group.name, parts, group.regression, group.description)


def group_presets(name_or_path: str, overrides: dict[str, Any] | None = None,
                  sets: list[str] | None = None) -> tuple[PresetGroup, list[Preset]]:
    """The group and its parts as presets (part ``set`` first, then the flags and ``--set``)."""
    group = load_group(name_or_path)
    fixed = [k for k in PART_IDENTITY if (overrides or {}).get(k) is not None]
    if fixed:
        raise ConfigError(f"--{fixed[0]} cannot be given with the preset group {group.name!r} "
                          f"(its parts are different {'/'.join(PART_IDENTITY)})")
    flags = parse_sets(sets)     # --set goes after the part's own set
    presets = [load_preset(part.preset, overrides, None,
                           assignments=[*part.set.items(), *flags]) for part in group.parts]
    names = [(p.task, p.dataset, p.model) for p in presets]
    if len(set(names)) != len(names):
        raise ConfigError(f"preset group {group.name!r}: two parts share task/dataset/model "
                          f"{names}; their records would collide")
    return group, presets


def regression_block(name_or_path: str) -> dict:
    """The ``regression`` tolerances of a preset or a preset group."""
    if is_group(name_or_path):
        return load_group(name_or_path).regression
    return load_preset(name_or_path).regression
