"""Post-purification robustness in the matrix: the Retuning Attack (``core/retuning.py``) after
every defense, with its two reference rows.

Opt-in per matrix: ``post_purification: [ra]`` in a preset (options under
``post_purification_options.ra``, the fields of ``core.retuning.RetuningConfig``) or
``--post-purification ra`` on the command line. Then

* every defense record gains ``after_ra`` (the task's metrics after RA on the purified model) and
  ``post_purification.ra`` (settings, the drawn set, timing, the two reference rows' ``after_ra``);
* per (seed, attack) two more records are written beside the defenses, once (a record that
  exists is reused, like a cached victim):
  ``ra_clean_control`` — RA on a clean model of the same task (trained once per task/config with
  the victim's recipe on the unpoisoned training set, cached beside the victims): the backdoor
  *implanted fresh* by this budget; ``ra_backdoored`` — RA on the backdoored model itself.

A defense whose ``after_ra`` ASR lands near ``ra_backdoored`` and far above ``ra_clean_control``
left the backdoor in place under a low ASR: superficial safety in Min et al.'s sense.
"""
from __future__ import annotations

import difflib
import json
from typing import Any

import torch

from core.adapter import Splits, TaskAdapter
from core.checkpoint import load_model, save_model
from core.config import ConfigError, from_dict, to_dict
from core.record import write_record
from core.qra import QRAConfig, reactivation_attack
from core.retuning import REFERENCE_ROWS, RetuningConfig, retuning_attack, retuning_set
from core.seeding import make_generator, seed_everything
from core.training import fit

# the matrix passes its runner and attack state in (no import of it: no cycle)
MatrixRunner = AttackState = Any

#: post-purification probes the runner knows
PROBES = ("ra", "qra")
CONTROL_ROWS = REFERENCE_ROWS


def check_probes(names: list[str], options: dict
                 ) -> tuple[RetuningConfig | None, QRAConfig | None]:
    """Validate a preset's ``post_purification`` names and options; the RA and QRA configs
    (None: not asked for). QRA needs RA (its teacher is the RA-retuned model)."""
    for name in [*names, *options]:
        if name not in PROBES:
            close = difflib.get_close_matches(name, PROBES, n=1, cutoff=0.4)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown post_purification probe {name!r} (known: "
                              f"{', '.join(PROBES)}){hint}")
    if set(options) - set(names):
        raise ConfigError(f"post_purification_options given for {sorted(set(options) - set(names))}"
                          f", which post_purification does not list")
    if "qra" in names and "ra" not in names:
        raise ConfigError("post_purification qra needs ra as well (QRA distils the RA-retuned "
                          "model): use [ra, qra]")
    return (from_dict(RetuningConfig, options.get("ra") or {}) if "ra" in names else None,
            from_dict(QRAConfig, options.get("qra") or {}) if "qra" in names else None)


class RetuningProbe:
    """RA for one matrix runner: the reference rows once per (seed, attack), then per defense."""

    def __init__(self, runner: MatrixRunner, config: RetuningConfig,
                 qra: QRAConfig | None) -> None:
        self.runner, self.config, self.qra = runner, config, qra
        self._refs: dict[tuple[int, str], dict] = {}

    def _set(self, state: AttackState, seed: int):
        return retuning_set(state.poison, self.config, make_generator(seed))

    def _attack(self, model: torch.nn.Module, adapter: TaskAdapter, splits: Splits,
                state: AttackState, seed: int) -> dict:
        ra_set, info = self._set(state, seed)
        result = retuning_attack(model, adapter, ra_set, splits.test, state.attack, self.config,
                                 self.runner.device, seed, self.runner.preset.eval_batch_size,
                                 trainable_like=state.model)
        return {**result, "set": info}

    def clean_model(self, adapter: TaskAdapter, splits: Splits, seed: int
                    ) -> tuple[torch.nn.Module, dict]:
        """The control: the victim's model and recipe trained on the unpoisoned training set
        (the runner's model cache, as the victims; resumable the same way)."""
        return self.runner.cached_fit(adapter, splits, splits.train, seed, "clean",
                                      {"attack": None, "train_size": len(splits.train)},
                                      "none (clean control)")

    def references(self, adapter: TaskAdapter, splits: Splits, state: AttackState,
                   seed: int) -> dict:
        """``{"clean": record, "backdoored": record}``: read, or run and written once."""
        cached = self._refs.get((seed, state.attack.name))
        if cached is not None:
            return cached
        r, out = self.runner, {}
        for which, name in CONTROL_ROWS.items():
            path = r.cell_path(seed, state.attack.name, name)
            if path.exists():
                record = json.loads(path.read_text())
                if record.get("status") == "ok" and record.get("config", {}).get("ra") == \
                        to_dict(self.config):
                    out[which] = record
                    continue
            if which == "clean":
                model, info = self.clean_model(adapter, splits, seed)
                before = adapter.evaluate(model, splits.test, state.attack, r.device,
                                          r.preset.eval_batch_size)
            else:
                model, info, before = state.model, state.train_info, state.before
            ra = self._attack(model, adapter, splits, state, seed)
            base = r._base_record(splits, state.attack, state.poison, name, seed, state.train_info)
            record = {**base, "status": "ok", "before": before, "after": before,
                      "after_ra": ra["after_ra"], "config": {**base["config"],
                                                             "ra": to_dict(self.config)},
                      "post_purification": {"ra": {"set": ra["set"], "ra": ra["ra"],
                                                   "model": info}},
                      "timings_s": {"attack_train": state.train_info["wall_time_s"],
                                    "defense": 0.0, "eval": ra["ra"]["eval_s"],
                                    "ra": ra["ra"]["wall_time_s"]}}
            write_record(path, record)
            out[which] = record
        self._refs[(seed, state.attack.name)] = out
        return out

    def after_defense(self, adapter: TaskAdapter, splits: Splits, state: AttackState,
                      model: torch.nn.Module, seed: int) -> dict[str, Any]:
        """What a defense record gains: ``after_ra``, ``post_purification`` and the RA time."""
        refs = self.references(adapter, splits, state, seed)
        ra = self._attack(model, adapter, splits, state, seed)
        out = {"after_ra": ra["after_ra"],
               "post_purification": {"ra": {
                   "config": to_dict(self.config), "set": ra["set"], "ra": ra["ra"],
                   "control_after_ra": refs["clean"]["after_ra"],
                   "backdoored_after_ra": refs["backdoored"]["after_ra"]}},
               "ra_s": ra["ra"]["wall_time_s"] + ra["ra"]["eval_s"]}
        if self.qra is not None and adapter.continuous_inputs and adapter.can_predict_targets():
            clean, _ = self.clean_model(adapter, splits, seed)     # from the cache by now
            q = reactivation_attack(model, ra["model"], clean, adapter, state.poison,
                                    splits.test, state.attack, self.qra, self.runner.device, seed)
            out["after_qra"] = q["qra"]
            out["post_purification"]["qra"] = {"config": to_dict(self.qra), **q["qra_info"]}
            out["ra_s"] += q["qra_info"]["wall_time_s"]
        return out


__all__ = ["CONTROL_ROWS", "PROBES", "RetuningProbe", "check_probes"]
