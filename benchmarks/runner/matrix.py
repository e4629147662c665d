"""Run an attack × defense × seed matrix: one record per cell, resumable, errors isolated.

For every seed the dataset is loaded once; for every attack the backdoored model is trained
once (or loaded from the cache, keyed by a hash of everything that determines it) and reused by
every defense. A cell whose record exists is skipped; a cell that fails writes an error record
and the matrix goes on. How cells are executed (in this process, on Ray, on SLURM) is the
executor's business (``benchmarks/runner/executors.py``); every executor writes the same records.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import json
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from core.adapter import CleanSetError, Splits, TaskAdapter
from core.attack import Attack, PoisonResult, tensor_hash
from core.bad_data import content_fingerprint, skipped_summary
from core.checkpoint import load_model, save_model
from core.config import from_dict, to_dict
from core.cpu_numerics import resolve_cpu_bf16
from core.data import TensorData
from core.defenses.base import Defense, UnsupportedDefenseError
from core.record import git_info, hardware, now_iso, versions, write_record, SCHEMA_VERSION
from core.registry import ATTACKS, AUGMENTATIONS, DATASETS, DEFENSES, MODELS, TASKS
from core.seeding import make_generator, seed_everything
from core.training import TrainConfig, fit

from ..reporting.features import save_features
from .post_purification import RetuningProbe, check_probes
from .presets import Preset

importlib.import_module("tasks")   # registers the task adapters lazily


@dataclass(frozen=True)
class Cell:
    seed: int
    attack: str
    defense: str

    def __str__(self) -> str:
        return f"{self.attack}/{self.defense}/seed{self.seed}"


@dataclass
class MatrixOutcome:
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    errors: list[Path] = field(default_factory=list)
    unsupported: list[Path] = field(default_factory=list)   # refused in validation


@dataclass
class AttackState:
    """What every defense of one (seed, attack) shares: the backdoored model and its scores."""

    attack: Attack
    poison: PoisonResult
    model: torch.nn.Module
    train_info: dict
    before: dict
    before_eval_s: float


def record_path(out: Path, preset: Preset, attack: str, defense: str, seed: int) -> Path:
    return (out / "records" / preset.task / preset.dataset / preset.model / attack / defense
            / f"seed{seed}.json")


#: TrainConfig options added after backdoored models were first cached; at their defaults they
#: train exactly as before they existed, so they are left out of the cache key there and the
#: models cached earlier stay valid
_LATER_TRAIN_OPTIONS = ("optimizer", "grad_clip", "warmup_steps", "nesterov", "norm_lr_scale",
                        "triangle", "triangle_peak", "label_smoothing", "lookahead_every",
                        "lookahead_decay", "cpu_bf16")


def train_cache_key(config: TrainConfig) -> dict:
    """The training options that determine a backdoored model (progress bars do not)."""
    defaults = to_dict(TrainConfig())
    return {k: v for k, v in (to_dict(config) | {"progress": None}).items()
            if not (k in _LATER_TRAIN_OPTIONS and v == defaults[k])}


def _hash(payload: Any) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _clean_hash(clean: TensorData) -> str:
    return tensor_hash(clean.inputs)


def error_info(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc))}


def data_options_class(task: str, dataset: str) -> type | None:
    """The dataclass that types a task's ``data`` options, found without loading any data:
    ``Adapter.DataOptions``, a dataclass registered as the dataset, or the single
    ``*DataOptions`` dataclass of the adapter's module. None when there is none to check."""
    adapter_cls = TASKS.get(task)
    explicit = getattr(adapter_cls, "DataOptions", None)
    if dataclasses.is_dataclass(explicit):
        return explicit
    entry = DATASETS.get(dataset, namespace=task)
    if isinstance(entry, type) and dataclasses.is_dataclass(entry):
        return entry
    module = sys.modules.get(adapter_cls.__module__)
    found = [v for k, v in vars(module or object()).items()
             if k.endswith("DataOptions") and isinstance(v, type) and dataclasses.is_dataclass(v)]
    return found[0] if len(found) == 1 else None


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
        # cpu_bf16 "auto" resolved once, here: the records and the model cache key hold the path
        # that ran (true/false), so a victim trained in bf16 is never taken for a float32 one
        numeric = resolve_cpu_bf16(self.train_config.cpu_bf16, self.device)
        self.numeric_path = numeric.as_record()
        self.train_config = dataclasses.replace(self.train_config, cpu_bf16=numeric.cpu_bf16)
        #: defense name -> why it cannot serve this task (``Defense.supports``, set by validate)
        self.unsupported: dict[str, str] = {}
        # taken once, at start: the code that runs is the code checked out now, even if the
        # checkout changes while a long matrix is running
        self.provenance = {"versions": versions(), "git": git_info(),
                           "hardware": hardware(self.device)}
        ra, qra = check_probes(preset.post_purification, preset.post_purification_options)
        self.retuning = RetuningProbe(self, ra, qra) if ra is not None else None

    def quiet_copy(self) -> "MatrixRunner":
        """A copy without progress bars (for worker processes of remote executors)."""
        clone = copy.copy(self)
        clone.progress = False
        clone.train_config = dataclasses.replace(self.train_config, progress=False)
        return clone

    # -- validation before any training -------------------------------------------------------
    def validate(self) -> None:
        """Resolve every name and option so that bad input fails before training starts."""
        p = self.preset
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for but torch sees no CUDA device")
        adapter_cls = TASKS.get(p.task)
        missing = adapter_cls.missing_methods()
        if missing:
            raise ValueError(f"task adapter {adapter_cls.__name__} ({p.task!r}) does not implement "
                             f"the required method(s) {', '.join(missing)} "
                             f"(README.md, \"Adding a modality\")")
        DATASETS.get(p.dataset, namespace=p.task)
        MODELS.get(p.model, namespace=p.task)
        options_cls = data_options_class(p.task, p.dataset)
        if options_cls is not None:
            from_dict(options_cls, p.data)
        for name in p.attacks:
            from_dict(ATTACKS.get(name, namespace=p.task).Config, p.attack_options.get(name))
        adapter = adapter_cls()
        self.unsupported = {}
        for name in p.defenses:
            defense = self.build_defense(name)
            augmentation = getattr(defense.config, "augmentation", None)
            if isinstance(augmentation, str):
                AUGMENTATIONS.get(augmentation, namespace=p.task)
            reason = defense.supports(adapter)
            if reason:
                self.unsupported[name] = reason
        unknown = set(p.attack_options) - set(p.attacks)
        unknown |= set(p.defense_options) - set(p.defenses)
        if unknown:
            raise ValueError(f"options given for {sorted(unknown)}, which this run does not use")
        if self.unsupported and len(self.unsupported) == len(p.defenses):
            raise ValueError(f"no requested defense can serve task {p.task!r}: " + "; ".join(
                f"{name}: {reason}" for name, reason in self.unsupported.items()))
        for name, reason in self.unsupported.items():
            tqdm.write(f"unsupported: {name} on task {p.task!r} ({reason}); an 'unsupported' "
                       f"record is written for its cells")

    def build_defense(self, name: str) -> Defense:
        cls = DEFENSES.get(name)
        options = {"progress": self.progress} if "progress" in cls.Config.__dataclass_fields__ else {}
        options.update(self.preset.defense_options.get(name) or {})
        return cls.from_options(options)

    # -- cells --------------------------------------------------------------------------------
    def cells(self) -> list[Cell]:
        p = self.preset
        return [Cell(s, a, d) for s in p.seeds for a in p.attacks for d in p.defenses]

    def path(self, cell: Cell) -> Path:
        return record_path(self.out, self.preset, cell.attack, cell.defense, cell.seed)

    def cell_path(self, seed: int, attack: str, defense: str) -> Path:
        """The record path of one cell (for the post-purification rows, which have no Cell)."""
        return self.path(Cell(seed, attack, defense))

    def run(self, executor: Any = None) -> MatrixOutcome:
        """Validate, then hand every unfinished cell to ``executor`` (default: this process)."""
        self.validate()
        if self.progress:
            print(f"numeric path: {self.numeric_path['path']} ({self.numeric_path['reason']})",
                  file=sys.stderr)
        outcome = MatrixOutcome()
        cells = self.cells()
        for cell in cells:        # a refusal is decided again on every run (options may change)
            if self._status(cell) == "unsupported":
                self.path(cell).unlink()
        for cell in cells:        # refusals are recorded before anything trains
            if cell.defense in self.unsupported and self._status(cell) is None:
                outcome.unsupported.append(self.write_unsupported(
                    cell, self.unsupported[cell.defense], phase="validation"))
        runnable = [c for c in cells if c.defense not in self.unsupported]
        pending = [c for c in runnable if self._status(c) is None]
        outcome.skipped = [self.path(c) for c in cells
                           if c not in pending and self.path(c) not in outcome.unsupported]
        bar = tqdm(total=len(cells), initial=len(cells) - len(pending), desc="matrix",
                   unit="cell", disable=not self.progress, dynamic_ncols=True)
        try:
            if executor is None:
                self.run_local(pending, outcome, bar)
            else:
                executor.execute(self, pending, outcome, bar)
            bar.set_postfix_str(f"{len(outcome.errors)} failed" if outcome.errors else "done")
        finally:
            bar.close()
        return outcome

    def _status(self, cell: Cell) -> str | None:
        """The status of ``cell``'s record (None: no record; "unreadable": not JSON)."""
        path = self.path(cell)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text()).get("status") or "unreadable"
        except (OSError, json.JSONDecodeError):
            return "unreadable"

    def load(self, seed: int, attacks: list[str]) -> tuple[TaskAdapter, Splits, dict[str, Attack]]:
        """The seed's splits and attacks; option and model/input errors surface here."""
        p = self.preset
        adapter: TaskAdapter = TASKS.get(p.task)()
        splits = adapter.load_splits(p.dataset, self.data_root, p.data, seed)
        skipped = skipped_summary(f"{p.task}/{p.dataset}", splits.info)
        if skipped:
            tqdm.write(skipped)
        built = {a: adapter.build_attack(a, p.attack_options.get(a), splits) for a in attacks}
        adapter.build_model(p.model, splits)
        self.check_fit(adapter, splits)
        return adapter, splits, built

    def check_fit(self, adapter: TaskAdapter, splits: Splits) -> None:
        """Before any training: the training split holds one training batch and the clean split
        at least one batch of every requested defense that purifies on it. Otherwise one error
        naming the preset keys to change and values that fit (the runner stops; nothing is
        capped silently)."""
        p, clean, fixes, reasons = self.preset, splits.clean, [], []
        if len(splits.train) < self.train_config.batch_size:
            reasons.append(f"training: the attacker's split holds {len(splits.train)} sample(s), "
                           f"fewer than one batch of {self.train_config.batch_size}")
            fixes.append(f"train.batch_size={len(splits.train)}")
        for name in p.defenses:
            if name in self.unsupported:
                continue
            defense = self.build_defense(name)
            batch = getattr(defense.config, "batch_size", None)
            if getattr(defense, "training_time", False) or not isinstance(batch, int):
                continue
            try:
                adapter.check_clean_set(clean, batch)
            except CleanSetError as exc:
                reasons.append(f"{name}: {exc}")
                if len(clean) < batch:
                    fixes.append(f"defense_options.{name}.batch_size={len(clean)}")
        if reasons:
            fix = (f"change {' '.join('--set ' + f for f in fixes)} (or give the splits more "
                   f"data: the task's data.clean_* / data.train_* options)" if fixes else
                   "enlarge the clean split with the task's data.clean_* options")
            raise CleanSetError(f"preset {p.name!r} does not fit {p.task}/{p.dataset} (clean "
                                f"split {len(clean)}, training split {len(splits.train)} "
                                f"sample(s)): " + "; ".join(reasons) + f"; {fix}")

    def run_local(self, cells: list[Cell], outcome: MatrixOutcome, bar: tqdm) -> None:
        """In this process: data loaded once per seed, backdoor trained once per attack."""
        for seed in dict.fromkeys(c.seed for c in cells):
            by_attack: dict[str, list[str]] = {}
            for c in cells:
                if c.seed == seed:
                    by_attack.setdefault(c.attack, []).append(c.defense)
            bar.set_postfix_str(f"seed{seed}: loading data")
            adapter, splits, attacks = self.load(seed, list(by_attack))
            for name, defenses in by_attack.items():
                self._run_attack(adapter, splits, attacks[name], seed, defenses, outcome, bar)

    def prepare_attack(self, adapter: TaskAdapter, splits: Splits, attack: Attack,
                       seed: int) -> AttackState:
        attack.artifact_dir = self.cache_dir   # learned trigger parts are cached beside models
        attack.progress = self.progress
        attack.prepare(splits.train, adapter, self.device, seed)
        poison = attack.poison(splits.train, make_generator(seed))
        model, train_info = self._backdoored_model(adapter, splits, attack, poison, seed)
        start = time.perf_counter()
        before = adapter.evaluate(model, splits.test, attack, self.device,
                                  self.preset.eval_batch_size)
        return AttackState(attack, poison, model, train_info, before,
                           time.perf_counter() - start)

    def _run_attack(self, adapter: TaskAdapter, splits: Splits, attack: Attack, seed: int,
                    defenses: list[str], outcome: MatrixOutcome, bar: tqdm) -> None:
        bar.set_postfix_str(f"{attack.name}/seed{seed}: backdoor")
        try:
            state = self.prepare_attack(adapter, splits, attack, seed)
        except Exception as exc:  # the whole attack failed: every pending cell gets an error row
            for name in defenses:
                outcome.errors.append(self.write_error(Cell(seed, attack.name, name),
                                                       error_info(exc), phase="attack_train"))
                bar.update(1)
            return
        for name in defenses:
            bar.set_postfix_str(f"{Cell(seed, attack.name, name)}: defense")
            path, ok = self._run_defense(adapter, splits, state, name, seed)
            (outcome.written if ok else outcome.errors).append(path)
            bar.update(1)

    def _run_defense(self, adapter: TaskAdapter, splits: Splits, state: AttackState,
                     name: str, seed: int) -> tuple[Path, bool]:
        attack, cell = state.attack, Cell(seed, state.attack.name, name)
        base = self._base_record(splits, attack, state.poison, name, seed, state.train_info)
        try:
            defense = self.build_defense(name)
            if getattr(defense, "training_time", False):
                # ABL, CBD: the defense trains its own model on the poisoned data instead;
                # "before" stays the normally trained backdoored model
                seed_everything(seed)
                fresh = adapter.build_model(self.preset.model, splits)
                result = defense.train(fresh, adapter, state.poison.data, self.train_config,
                                       self.device, seed)
            else:
                result = defense.purify(state.model, adapter, splits.clean, self.device, seed)
            start = time.perf_counter()
            after = adapter.evaluate(result.model, splits.test, attack, self.device,
                                     self.preset.eval_batch_size)
            after_eval = time.perf_counter() - start
            if self.preset.save_features:
                save_features(self.path(cell).with_suffix(".features.npz"), state.model,
                              result.model, splits.test, attack, self.device,
                              self.preset.save_features, self.preset.eval_batch_size)
            record = {**base, "status": "ok", "before": state.before, "after": after,
                      "config": {**base["config"], "defense": defense.describe()},
                      "timings_s": {"attack_train": state.train_info["wall_time_s"],
                                    "defense": result.wall_time_s,
                                    "eval": state.before_eval_s + after_eval},
                      "diagnostics": result.diagnostics}
            if self.retuning is not None:   # post-purification robustness (Retuning Attack)
                extra = self.retuning.after_defense(adapter, splits, state, result.model, seed)
                record["timings_s"]["ra"] = extra.pop("ra_s")
                record.update(extra)
            return write_record(self.path(cell), record), True
        except UnsupportedDefenseError as exc:   # found only once it ran: a refusal, not a failure
            return self.write_unsupported(cell, str(exc), phase="defense", base=base), True
        except Exception as exc:
            return self.write_error(cell, error_info(exc), phase="defense", base=base), False

    # -- one cell at a time (remote executors) ------------------------------------------------
    def warm_cache(self, seed: int, attack: str) -> dict | None:
        """Train (or find) the backdoored model of (seed, attack); an error dict on failure."""
        try:
            adapter, splits, attacks = self.load(seed, [attack])
            self.prepare_attack(adapter, splits, attacks[attack], seed)
            return None
        except Exception as exc:
            return error_info(exc)

    def run_cell(self, cell: Cell) -> tuple[str, bool]:
        """Run one cell from scratch (its backdoored model usually comes from the cache)."""
        phase = "load"
        try:
            adapter, splits, attacks = self.load(cell.seed, [cell.attack])
            phase = "attack_train"
            state = self.prepare_attack(adapter, splits, attacks[cell.attack], cell.seed)
        except Exception as exc:
            return str(self.write_error(cell, error_info(exc), phase=phase)), False
        path, ok = self._run_defense(adapter, splits, state, cell.defense, cell.seed)
        return str(path), ok

    # -- backdoored models, cached by config hash ---------------------------------------------
    def _backdoored_model(self, adapter: TaskAdapter, splits: Splits, attack: Attack,
                          poison: PoisonResult, seed: int) -> tuple[torch.nn.Module, dict]:
        return self.cached_fit(adapter, splits, poison.data, seed, attack.name,
                               {"attack": attack.describe(), "poison": poison.index_hash},
                               attack.describe())

    def cached_fit(self, adapter: TaskAdapter, splits: Splits, data: TensorData, seed: int,
                   label: str, key: dict, attack_note: Any) -> tuple[torch.nn.Module, dict]:
        """The preset's model trained by the victim recipe on ``data`` — read from the model
        cache when an entry with the same key exists, else trained (resumably: per-epoch
        checkpoints beside the entry) and saved there. The key is the task, dataset, data
        options, model, training recipe, seed and clean split, plus ``key`` (what the training
        data is: the attack and its poisoned indices, or the clean control's marker); ``label``
        names the entry's file, ``attack_note`` goes into its metadata. Returns the model and
        what the records say about it (cache hit, key, wall time, last loss, resumed epoch)."""
        p = self.preset
        key_hash = _hash({"task": p.task, "dataset": p.dataset, "data": p.data, "model": p.model,
                          "train": train_cache_key(self.train_config), "seed": seed,
                          "clean": _clean_hash(splits.clean), **key})
        path = self.cache_dir / f"{p.task}-{p.dataset}-{p.model}-{label}-{key_hash}.safetensors"
        seed_everything(seed)
        model = adapter.build_model(p.model, splits)
        if path.exists():
            load_model(model, path)
            return model.to(self.device).eval(), {"cache_hit": True, "cache_key": key_hash,
                                                  "wall_time_s": 0.0}
        # per-epoch checkpoints beside the cache entry: a rerun after an interruption resumes
        partial = path.with_suffix(".partial")
        info = fit(model, adapter, data, self.train_config, self.device, seed,
                   checkpoint_dir=partial)
        save_model(model, path, metadata={"task": p.task, "dataset": p.dataset, "model": p.model,
                                          "attack": attack_note, "seed": seed})
        shutil.rmtree(partial, ignore_errors=True)
        resumed = {"resumed_from_epoch": info["resumed_from_epoch"]} \
            if "resumed_from_epoch" in info else {}
        return model, {"cache_hit": False, "cache_key": key_hash,
                       "wall_time_s": info["wall_time_s"], "final_loss": info["loss_curve"][-1],
                       **resumed}

    # -- records ------------------------------------------------------------------------------
    def _base_record(self, splits: Splits, attack: Attack, poison: PoisonResult, defense: str,
                     seed: int, train_info: dict) -> dict:
        p = self.preset
        return {
            **self._identity(Cell(seed, attack.name, defense)),
            "config": {"preset": to_dict(p), "train": to_dict(self.train_config),
                       "attack": attack.describe(), "data_root": self.data_root},
            "data": {**splits.info, "clean_hash": _clean_hash(splits.clean),
                     "fingerprint": splits.info.get("fingerprint") or content_fingerprint(
                         {"train": splits.train, "test": splits.test, "clean": splits.clean})},
            "poison_index_hash": poison.index_hash, "poisoned_count": len(poison.indices),
            "model_cache": {k: v for k, v in train_info.items() if k != "wall_time_s"},
            "numeric_path": self.numeric_path,
            "attack_artifacts": dict(attack.artifacts),
            **self.provenance,
        }

    def _identity(self, cell: Cell) -> dict:
        """What every record starts with: schema, time, the cell and the task's metrics."""
        p = self.preset
        adapter_cls = TASKS.get(p.task)
        return {"schema": SCHEMA_VERSION, "created": now_iso(), "task": p.task,
                "dataset": p.dataset, "model": p.model, "attack": cell.attack,
                "defense": cell.defense, "seed": cell.seed, "preset": p.name,
                "command": self.command, "primary_metric": adapter_cls.primary_metric,
                "higher_is_better": dict(adapter_cls.higher_is_better)}

    def write_unsupported(self, cell: Cell, reason: str, phase: str,
                          base: dict | None = None) -> Path:
        """The record of a defense that cannot serve this task (not an error: exit 0)."""
        record = {**(base or {**self._identity(cell),
                              "config": {"preset": to_dict(self.preset),
                                         "defense": self.build_defense(cell.defense).describe()},
                              **self.provenance}),
                  "status": "unsupported", "phase": phase, "reason": reason}
        return write_record(self.path(cell), record)

    def write_error(self, cell: Cell, error: dict, phase: str, base: dict | None = None) -> Path:
        path = self.path(cell)
        stamp = now_iso().replace(":", "").replace("-", "")
        path = path.with_name(f"{path.stem}.error-{stamp}.json")
        n = 0
        while path.exists():
            n += 1
            path = path.with_name(f"seed{cell.seed}.error-{stamp}-{n}.json")
        record = {**(base or {**self._identity(cell), **self.provenance}),
                  "status": "error", "phase": phase, "error": error}
        tqdm.write(f"error in {cell} ({phase}): {error.get('type')}: {error.get('message')}")
        return write_record(path, record)
