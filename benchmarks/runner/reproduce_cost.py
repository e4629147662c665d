"""``reproduce --list``: whether a table's datasets are prepared, and what its runs cost.

Cost = measured seconds per training sample of each (task, model)
(``benchmarks/runner/reproduce_specs/step_costs.yaml``, written from ``reproduce --smoke`` runs by
``python benchmarks/run.py reproduce --write-costs SMOKE_OUT``; scaled from the input size it was
measured at to the preset's, in proportion to pixels × frames) × the samples the runs process:
each distinct backdoored model's epochs × training set (victims shared between runs counted
once), each defense's passes over its clean set (from its config), and the before / after
evaluations at a third of a training sample's cost (forward only). A learned trigger's own
training (Input-aware, LIRA, ISSBA, …) is not counted.
"""
from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.registry import DEFENSES

from .paper_tables import SPEC_DIR, Specs
from .presets import Preset

COSTS_FILE = SPEC_DIR / "step_costs.yaml"


@lru_cache(maxsize=1)
def datasets() -> dict:
    return yaml.safe_load((SPEC_DIR / "datasets.yaml").read_text())


@lru_cache(maxsize=1)
def step_costs() -> dict:
    return yaml.safe_load(COSTS_FILE.read_text()) if COSTS_FILE.is_file() else {}


def COST_NOTE() -> str:  # noqa: N802  (a constant computed on demand)
    meta = step_costs().get("measured", {})
    device = meta.get("device", "no measurement yet")
    return (f"Cost: estimated hours on {device} (seconds per training sample measured by "
            f"{meta.get('command', '-')} on {meta.get('date', '-')}, {COSTS_FILE.name}) x samples "
            "processed (victims' epochs x training set, each defense's passes over its clean set, "
            "evaluations at 1/3); learned triggers' own training not counted. No GPU has been "
            "lent to this project, so no GPU figure exists yet: rerun `reproduce --smoke` and "
            "`reproduce --write-costs` on the GPU to get one.")


def data_status(presets: list[Preset], data_root: Path | None) -> str:
    parts = []
    for name in dict.fromkeys(p.dataset for p in presets):
        info = datasets().get(name, {})
        folder = Path(data_root or "data") / info.get("folder", name)
        ready = folder.is_dir() and any(folder.iterdir())
        parts.append(f"{name} " + ("prepared" if ready else
                                    f"NOT prepared ({folder}; {info.get('prepare', '?')})"))
    return "; ".join(parts) or "–"


def _options(name: str, preset: Preset) -> dict:
    import core.defenses  # noqa: F401

    cls = DEFENSES.get(name).Config
    defaults = {f.name: f.default for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING}
    return {**defaults, **(preset.defense_options.get(name) or {})}


def defense_samples(name: str, preset: Preset, clean: float, train: float) -> float:
    """Training samples (forward + backward) one defense cell processes."""
    o = _options(name, preset)
    epochs = o.get("epochs") or 1
    batch = o.get("batch_size") or 128
    if name in ("nft", "nft_prune", "nft_sam"):
        steps = o["iterations"] * batch if o.get("iterations") else epochs * clean
        return steps * (2 if name == "nft_sam" else 1)
    if name == "anp":
        return 2 * o["iterations"] * batch
    if name == "awm":
        return 2 * o["outer"] * o["inner"] * clean
    if name == "ibau":
        return o["rounds"] * clean * (2 + o["fixed_point_iterations"])
    if name == "rnp":
        return (o["unlearning_epochs"] + o["recovering_epochs"]) * clean
    if name == "ftsam":
        return 2 * epochs * clean
    if name in ("nad", "mcr"):
        return 2 * epochs * clean
    if name in ("abl", "cbd"):         # training-time: about a second victim
        return 1.5 * train * (preset.train.get("epochs") or 1)
    return epochs * clean


def run_cost(preset: Preset, seen_victims: set) -> tuple[float | None, str]:
    """Seconds for one run (victims already counted in ``seen_victims`` are free)."""
    info = datasets().get(preset.dataset, {})
    cost = step_costs().get(f"{preset.task}/{preset.model}", {})
    per = cost.get("seconds_per_sample")
    if per is not None:
        per *= _scale(cost, preset)
    if per is None:
        return None, f"no measured step cost for {preset.task}/{preset.model}"
    if info.get("train") is None:
        return None, f"size of {preset.dataset} unknown"
    train, test = float(info["train"]), float(info["test"])
    fraction = (preset.data.get("clean_fraction") or 0.01)
    clean = (preset.data.get("clean_per_class") or 0) * info.get("classes", 10) \
        or preset.data.get("clean_size") or fraction * train
    samples = 0.0
    for seed in preset.seeds:
        for attack in preset.attacks:
            key = json.dumps([preset.task, preset.dataset, preset.model, attack, seed, preset.data,
                              preset.train, preset.attack_options.get(attack)], sort_keys=True,
                             default=str)
            if key not in seen_victims:
                seen_victims.add(key)
                samples += (preset.train.get("epochs") or 1) * train + 2 * test / 3
            for defense in preset.defenses:
                samples += defense_samples(defense, preset, clean, train) + 2 * test / 3
    return samples * per, ""


def cost_lines(specs: Specs, presets: list[Preset]) -> str:
    seen: set = set()
    total, gaps = 0.0, []
    for preset in presets:
        seconds, why = run_cost(preset, seen)
        if seconds is None:
            gaps.append(why)
        else:
            total += seconds
    device = step_costs().get("measured", {}).get("device_short", "?")
    text = f"{total / 3600:,.1f} h on {device}" if total else "–"
    return text + (f" (not counted: {'; '.join(dict.fromkeys(gaps))})" if gaps else "")


def _input_size(record: dict) -> dict:
    """The side (px) and frame count the cost was measured at, where the data says them."""
    data, preset = record.get("data") or {}, (record.get("config") or {}).get("preset") or {}
    side = data.get("image_size") or (data.get("image_shape") or [None])[-1] \
        or (preset.get("data") or {}).get("frame_size")
    frames = (preset.get("data") or {}).get("num_frames") if record["task"] == "video" else None
    return {k: v for k, v in (("side", side), ("frames", frames)) if v}


def _scale(cost: dict, preset: Preset) -> float:
    """Per-sample cost at the preset's input size from the measured one (∝ pixels × frames)."""
    side = preset.data.get("image_size") or preset.data.get("frame_size")
    scale = (side / cost["side"]) ** 2 if side and cost.get("side") else 1.0
    if cost.get("frames") and preset.data.get("num_frames"):
        scale *= preset.data["num_frames"] / cost["frames"]
    return scale


def write_costs(smoke_out: Path, command: str) -> dict[str, Any]:
    """Seconds per training sample per (task, model) from the victims of a ``--smoke`` run:
    the victim's training wall time / its training samples (1 epoch; includes the first step's
    warm-up, so an upper bound), with the input side / frame count it ran at; ``run_cost``
    scales it to the preset's input (pixels × frames)."""
    from core.record import hardware, now_iso

    costs: dict[str, Any] = {}
    for path in sorted(Path(smoke_out).rglob("records/**/seed*.json")):
        record = json.loads(path.read_text())
        wall = (record.get("timings_s") or {}).get("attack_train")
        size = (record.get("data") or {}).get("train_size")
        if record.get("status") != "ok" or not wall or not size:
            continue
        key = f"{record['task']}/{record['model']}"
        per = wall / size
        if key not in costs or per < costs[key]["seconds_per_sample"]:
            costs[key] = {"seconds_per_sample": round(per, 5), "dataset": record["dataset"],
                          "from": str(path), **_input_size(record)}
    meta = {"device": "Intel Xeon with AMX/avx512_bf16 (2 shared cores), 1 torch thread, float32",
            "device_short": "1 CPU thread", "date": now_iso(), "command": command,
            "hardware": hardware("cpu")}
    data = {"measured": meta, **costs}
    COSTS_FILE.write_text("# written by: " + command + "\n" + yaml.safe_dump(data, sort_keys=True))
    return data
