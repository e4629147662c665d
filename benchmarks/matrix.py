"""Run an attack × defense × seed matrix: one record per cell, resumable, errors isolated.

For every seed the dataset is loaded once; for every attack the backdoored model is trained
once (or loaded from the cache, keyed by a hash of everything that determines it) and reused by
every defense. A cell whose record exists is skipped; a cell that fails writes an error record
and the matrix goes on.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

import tasks  # noqa: F401  (registers the task adapters lazily)
from core.adapter import Splits, TaskAdapter
from core.attack import Attack, PoisonResult
from core.checkpoint import load_model, save_model
from core.config import from_dict, to_dict
from core.data import TensorData
from core.defenses.base import Defense
from core.record import git_info, hardware, now_iso, versions, write_record, SCHEMA_VERSION
from core.registry import DATASETS, DEFENSES, MODELS, TASKS
from core.seeding import make_generator, seed_everything
from core.training import TrainConfig, fit

from .presets import Preset


@dataclass
class MatrixOutcome:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    errors: list[Path] = field(default_factory=list)


def record_path(out: Path, preset: Preset, attack: str, defense: str, seed: int) -> Path:
    return (out / "records" / preset.task / preset.dataset / preset.model / attack / defense
            / f"seed{seed}.json")


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _clean_hash(clean: TensorData) -> str:
    data = clean.inputs.detach().cpu().contiguous().numpy().tobytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()


class MatrixRunner:
    def __init__(self, preset: Preset, out: Path, data_root: Path | None,
                 cache_dir: Path | None = None, progress: bool = True,
                 command: str | None = None) -> None:
        self.preset = preset
        self.command = command
        self.out = Path(out)
        self.data_root = Path(data_root) if data_root else None
        self.cache_dir = Path(cache_dir) if cache_dir else self.out / "cache" / "models"
        self.progress = progress
        self.device = torch.device(preset.device)
        self.train_config = from_dict(TrainConfig, {"progress": progress, **preset.train})
        # taken once, at start: the code that runs is the code checked out now, even if the
        # checkout changes while a long matrix is running
        self.provenance = {"versions": versions(), "git": git_info(),
                           "hardware": hardware(self.device)}

    # -- validation before any training -------------------------------------------------------
    def validate(self) -> None:
        """Resolve every name and option so that bad input fails before training starts."""
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")
        TASKS.get(self.preset.task)
        DATASETS.get(self.preset.dataset, namespace=self.preset.task)
        MODELS.get(self.preset.model, namespace=self.preset.task)
        for name in self.preset.defenses:
            self.build_defense(name)
        unknown = set(self.preset.attack_options) - set(self.preset.attacks)
        unknown |= set(self.preset.defense_options) - set(self.preset.defenses)
        if unknown:
            raise ValueError(f"options given for {sorted(unknown)}, which this run does not use")

    def build_defense(self, name: str) -> Defense:
        cls = DEFENSES.get(name)
        options = {"progress": self.progress} if "progress" in cls.Config.__dataclass_fields__ else {}
        options.update(self.preset.defense_options.get(name, {}))
        return cls.from_options(options)

    # -- the matrix ---------------------------------------------------------------------------
    def run(self) -> MatrixOutcome:
        self.validate()
        outcome = MatrixOutcome()
        p = self.preset
        total = len(p.seeds) * len(p.attacks) * len(p.defenses)
        bar = tqdm(total=total, desc="matrix", unit="cell", disable=not self.progress)
        for seed in p.seeds:
            pending = {a: [d for d in p.defenses if not record_path(self.out, p, a, d, seed).exists()]
                       for a in p.attacks}
            done = sum(len(p.defenses) - len(v) for v in pending.values())
            outcome.skipped += [record_path(self.out, p, a, d, seed) for a in p.attacks
                                for d in p.defenses if d not in pending[a]]
            bar.update(done)
            if not any(pending.values()):
                continue
            adapter: TaskAdapter = TASKS.get(p.task)()
            splits = adapter.load_splits(p.dataset, self.data_root, p.data, seed)
            attacks = {a: adapter.build_attack(a, p.attack_options.get(a), splits)
                       for a in p.attacks if pending[a]}   # option errors surface before training
            adapter.build_model(p.model, splits)            # so do model/input mismatches
            for attack_name, attack in attacks.items():
                self._run_attack(adapter, splits, attack, seed, pending[attack_name], outcome, bar)
        bar.close()
        return outcome

    def _run_attack(self, adapter: TaskAdapter, splits: Splits, attack: Attack, seed: int,
                    defenses: list[str], outcome: MatrixOutcome, bar: tqdm) -> None:
        try:
            attack.prepare(splits.train, adapter, self.device, seed)
            poison = attack.poison(splits.train, make_generator(seed))
            model, train_info = self._backdoored_model(adapter, splits, attack, poison, seed)
            start = time.perf_counter()
            before = adapter.evaluate(model, splits.test, attack, self.device,
                                      self.preset.eval_batch_size)
            before_eval = time.perf_counter() - start
        except Exception as exc:  # the whole attack failed: every pending cell gets an error row
            for name in defenses:
                outcome.errors.append(self._write_error(attack.name, name, seed, exc,
                                                        phase="attack_train"))
                bar.update(1)
            return
        for name in defenses:
            base = self._base_record(adapter, splits, attack, poison, name, seed, train_info)
            try:
                defense = self.build_defense(name)
                result = defense.purify(model, adapter, splits.clean, self.device, seed)
                start = time.perf_counter()
                after = adapter.evaluate(result.model, splits.test, attack, self.device,
                                         self.preset.eval_batch_size)
                after_eval = time.perf_counter() - start
                record = {**base, "status": "ok", "before": before, "after": after,
                          "config": {**base["config"], "defense": defense.describe()},
                          "timings_s": {"attack_train": train_info["wall_time_s"],
                                        "defense": result.wall_time_s,
                                        "eval": before_eval + after_eval},
                          "diagnostics": result.diagnostics}
                path = record_path(self.out, self.preset, attack.name, name, seed)
                outcome.written.append(write_record(path, record))
            except Exception as exc:
                outcome.errors.append(self._write_error(attack.name, name, seed, exc,
                                                        phase="defense", base=base))
            bar.update(1)

    # -- backdoored models, cached by config hash ---------------------------------------------
    def _backdoored_model(self, adapter: TaskAdapter, splits: Splits, attack: Attack,
                          poison: PoisonResult, seed: int) -> tuple[torch.nn.Module, dict]:
        p = self.preset
        key = _hash({"task": p.task, "dataset": p.dataset, "data": p.data, "model": p.model,
                     "attack": attack.describe(), "train": to_dict(self.train_config) | {"progress": None},
                     "seed": seed, "poison": poison.index_hash, "clean": _clean_hash(splits.clean)})
        path = self.cache_dir / f"{p.task}-{p.dataset}-{p.model}-{attack.name}-{key}.safetensors"
        seed_everything(seed)
        model = adapter.build_model(p.model, splits)
        if path.exists():
            load_model(model, path)
            return model.to(self.device).eval(), {"cache_hit": True, "cache_key": key,
                                                  "wall_time_s": 0.0}
        info = fit(model, adapter, poison.data, self.train_config, self.device, seed)
        save_model(model, path, metadata={"task": p.task, "dataset": p.dataset, "model": p.model,
                                          "attack": attack.describe(), "seed": seed})
        return model, {"cache_hit": False, "cache_key": key, "wall_time_s": info["wall_time_s"],
                       "final_loss": info["loss_curve"][-1]}

    # -- records ------------------------------------------------------------------------------
    def _base_record(self, adapter: TaskAdapter, splits: Splits, attack: Attack,
                     poison: PoisonResult, defense: str, seed: int, train_info: dict) -> dict:
        p = self.preset
        return {
            "schema": SCHEMA_VERSION, "created": now_iso(),
            "task": p.task, "dataset": p.dataset, "model": p.model, "attack": attack.name,
            "defense": defense, "seed": seed, "preset": p.name, "command": self.command,
            "higher_is_better": dict(adapter.higher_is_better),
            "config": {"preset": to_dict(p), "train": to_dict(self.train_config),
                       "attack": attack.describe(), "data_root": self.data_root},
            "data": {**splits.info, "clean_hash": _clean_hash(splits.clean)},
            "poison_index_hash": poison.index_hash, "poisoned_count": len(poison.indices),
            "model_cache": {k: v for k, v in train_info.items() if k != "wall_time_s"},
            **self.provenance,
        }

    def _write_error(self, attack: str, defense: str, seed: int, exc: BaseException,
                     phase: str, base: dict | None = None) -> Path:
        p = self.preset
        path = record_path(self.out, p, attack, defense, seed)
        stamp = now_iso().replace(":", "").replace("-", "")
        path = path.with_name(f"{path.stem}.error-{stamp}.json")
        n = 0
        while path.exists():
            n += 1
            path = path.with_name(f"seed{seed}.error-{stamp}-{n}.json")
        record = {**(base or {"schema": SCHEMA_VERSION, "created": now_iso(), "task": p.task,
                              "dataset": p.dataset, "model": p.model, "attack": attack,
                              "defense": defense, "seed": seed, "preset": p.name,
                              **self.provenance}),
                  "status": "error", "phase": phase,
                  "error": {"type": type(exc).__name__, "message": str(exc),
                            "traceback": traceback.format_exc()}}
        tqdm.write(f"error in {attack}/{defense}/seed{seed} ({phase}): {type(exc).__name__}: {exc}")
        return write_record(path, record)
