"""``reproduce --smoke``: the overrides that cut a paper-scale run to 1-2 optimisation steps per
phase at the paper's model and input size (``benchmarks/runner/reproduce_specs/smoke.yaml``)."""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import Any

import yaml

from core.registry import ATTACKS, DEFENSES, TASKS

from .paper_tables import SPEC_DIR, Specs, resolve_run
from .presets import Preset


@lru_cache(maxsize=1)
def smoke_spec() -> dict:
    return yaml.safe_load((SPEC_DIR / "smoke.yaml").read_text())


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()


def smoke_assignments(specs: Specs, run: str) -> list[tuple[str, Any]]:
    """Dotted ``(key, value)`` pairs for run ``run`` (applied after the run's own overrides)."""
    import core.defenses  # noqa: F401  (registers the shipped defenses)
    import tasks  # noqa: F401  (the task adapters, lazily)

    spec = smoke_spec()
    preset = resolve_run(specs, run)
    out: list[tuple[str, Any]] = [("device", spec["device"]),
                                  ("eval_batch_size", spec["eval_batch_size"])]
    out += [(f"train.{k}", v) for k, v in spec["train"].items()]
    out.append(("train.batch_size", spec["train_batch"][preset.dataset]))
    out += [(f"data.{k}", v) for k, v in (spec["data"].get(preset.dataset) or {}).items()]
    for name in preset.defenses:
        known = _fields(DEFENSES.get(name).Config)
        out += [(f"defense_options.{name}.{k}", v) for k, v in spec["defense_keys"].items()
                if k in known]
        if "batch_size" in known:
            out.append((f"defense_options.{name}.batch_size", spec["defense_batch"][preset.dataset]))
    TASKS.get(preset.task)                     # imports the task: registers its attacks
    for name in preset.attacks:
        known = _fields(ATTACKS.get(name, namespace=preset.task).Config)
        keys = {**spec["attack_keys"], **(spec["attack_data"].get(preset.dataset) or {}),
                **(spec["attack_named"].get(name) or {})}
        out += [(f"attack_options.{name}.{k}", v) for k, v in keys.items() if k in known]
    return out


def smoke_matrices(preset: Preset, refused: set[str] | frozenset = frozenset(),
                   variant: bool = False) -> list[Preset]:
    """The run cut to cells that exercise each of its attacks and each of its defenses once:
    max(#attacks, #defenses) cells instead of their product, as min(#attacks, #defenses)
    matrices (the longer list dealt out over the shorter one; same output folder). A matrix
    whose defenses the task all ``refused`` (their refusal is still recorded) also runs the
    first defense it serves. A ``variant`` run (one that ``extends`` another: an ablation of
    its base run, whose attacks the base run exercises) keeps only as many attacks as defenses."""
    attacks, defenses = preset.attacks, preset.defenses
    if variant:
        attacks = attacks[:len(defenses)]
    if len(attacks) >= len(defenses):
        groups = [(attacks[j::len(defenses)], [d]) for j, d in enumerate(defenses)]
    else:
        groups = [([a], defenses[i::len(attacks)]) for i, a in enumerate(attacks)]
    served = [d for d in defenses if d not in refused]
    out = []
    for chosen_attacks, chosen in groups:
        if served and all(d in refused for d in chosen):
            chosen = [*chosen, served[0]]
        out.append(dataclasses.replace(
            preset, attacks=list(chosen_attacks), defenses=list(chosen),
            attack_options={k: v for k, v in preset.attack_options.items() if k in chosen_attacks},
            defense_options={k: v for k, v in preset.defense_options.items() if k in chosen}))
    return out
