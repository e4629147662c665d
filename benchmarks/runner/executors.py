"""Executors: how the unfinished cells of a matrix are run. Every executor writes the same
records (``benchmarks/runner/matrix.py`` does the work); they differ in where the work happens.

* ``local`` (default): in this process, data loaded once per seed and every backdoored model
  trained once per (seed, attack), then reused by each defense.
* ``ray``: one Ray task per cell, on a local Ray instance or the cluster at ``--ray-address``.
* ``slurm``: one SLURM array task per cell through ``submitit``.

The remote executors work in two waves: first one task per (seed, attack) trains the
backdoored model into the model cache; then one task per cell loads it from there, runs the
defense and writes the record. The run folder (records and model cache) must therefore be on
a filesystem every worker sees, at the same path, and the repository must be importable there
(the executors put it on ``PYTHONPATH``). Ray and submitit are optional: ``pip install
-e ".[scale]"``.
"""
from __future__ import annotations

import os
import shutil
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, Sequence

from .matrix import Cell, MatrixOutcome, MatrixRunner, error_info

ROOT = Path(__file__).resolve().parents[2]
EXECUTORS = ("local", "ray", "slurm")


class Executor(ABC):
    name: str

    @abstractmethod
    def execute(self, runner: MatrixRunner, cells: list[Cell], outcome: MatrixOutcome,
                bar: Any) -> None:
        """Run ``cells`` (all unfinished), adding their record paths to ``outcome``."""


class LocalExecutor(Executor):
    name = "local"

    def execute(self, runner: MatrixRunner, cells: list[Cell], outcome: MatrixOutcome,
                bar: Any) -> None:
        runner.run_local(cells, outcome, bar)


# -- remote work: module-level functions, so that workers import them by name -----------------
def call_packed(fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    return fn(*args)


def warm_cache(runner: MatrixRunner, seed: int, attack: str) -> dict | None:
    return runner.warm_cache(seed, attack)


def run_cell(runner: MatrixRunner, cell: Cell) -> tuple[str, bool]:
    return runner.run_cell(cell)


def _pythonpath() -> str:
    parts = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parts))


class RemoteExecutor(Executor):
    """Two waves of independent tasks; subclasses say how a list of calls is mapped."""

    def execute(self, runner: MatrixRunner, cells: list[Cell], outcome: MatrixOutcome,
                bar: Any) -> None:
        if not cells:
            return
        # surface data, option and model/input errors here, before anything is submitted
        first = cells[0].seed
        runner.load(first, list(dict.fromkeys(c.attack for c in cells if c.seed == first)))
        worker = runner.quiet_copy()
        self.start(runner)
        try:
            groups = list(dict.fromkeys((c.seed, c.attack) for c in cells))
            bar.set_postfix_str(f"{self.name}: {len(groups)} backdoored model(s)")
            failed: dict[tuple[int, str], dict] = {}

            def warmed(i: int, value: Any) -> None:
                if isinstance(value, BaseException):
                    value = error_info(value)
                if value is not None:
                    failed[groups[i]] = value

            self.map(warm_cache, [(worker, s, a) for s, a in groups], warmed)
            todo = []
            for cell in cells:
                if (cell.seed, cell.attack) in failed:
                    outcome.errors.append(runner.write_error(cell, failed[(cell.seed, cell.attack)],
                                                             phase="attack_train"))
                    bar.update(1)
                else:
                    todo.append(cell)
            bar.set_postfix_str(f"{self.name}: {len(todo)} cell(s)")

            def finished(i: int, value: Any) -> None:
                if isinstance(value, BaseException):   # the worker itself died
                    outcome.errors.append(runner.write_error(todo[i], error_info(value),
                                                             phase="worker"))
                else:
                    path, ok = value
                    (outcome.written if ok else outcome.errors).append(Path(path))
                bar.update(1)

            self.map(run_cell, [(worker, c) for c in todo], finished)
        finally:
            self.stop()

    def start(self, runner: MatrixRunner) -> None:
        """Connect to / start the backend (called once per matrix)."""

    def stop(self) -> None:
        """Release what ``start`` took."""

    @abstractmethod
    def map(self, fn: Callable[..., Any], calls: list[tuple], on_done: Callable[[int, Any], None]
            ) -> None:
        """Run ``fn(*args)`` for every ``args`` in ``calls``; call ``on_done(index, result)`` as
        each finishes (``result`` is the exception when the call raised)."""


class RayExecutor(RemoteExecutor):
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 cpus_per_cell: float = 1.0, gpus_per_cell: float | None = None) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_cell = cpus_per_cell
        self.gpus_per_cell = gpus_per_cell
        self._started = False
        self._remote: Any = None

    def start(self, runner: MatrixRunner) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("--executor ray needs Ray: pip install -e \".[scale]\"") from None
        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=None if self.address else self.num_cpus,
                     runtime_env={"env_vars": {"PYTHONPATH": _pythonpath()}},
                     include_dashboard=False, log_to_driver=True)
            self._started = True
        gpus = self.gpus_per_cell
        if gpus is None:
            gpus = 1.0 if runner.device.type == "cuda" else 0.0
        self._remote = ray.remote(num_cpus=self.cpus_per_cell, num_gpus=gpus,
                                  max_retries=0)(call_packed)

    def stop(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def map(self, fn: Callable[..., Any], calls: list[tuple],
            on_done: Callable[[int, Any], None]) -> None:
        import ray

        refs = [self._remote.remote(fn, args) for args in calls]
        where = {ref: i for i, ref in enumerate(refs)}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                try:
                    value = ray.get(ref)
                except Exception as exc:   # RayTaskError, worker crash
                    value = exc
                on_done(where[ref], value)


class SlurmExecutor(RemoteExecutor):
    """SLURM through submitit: one job array per wave. ``cluster`` ``local`` / ``debug`` are
    submitit's stand-ins (subprocesses / in-process) for trying the path without SLURM."""

    name = "slurm"
    DEFAULTS = {"timeout_min": 240, "cpus_per_task": 4, "tasks_per_node": 1, "name": "nft-matrix"}

    def __init__(self, folder: Path, cluster: str = "slurm", parameters: dict | None = None,
                 poll_s: float = 10.0) -> None:
        self.folder = Path(folder)
        self.cluster = cluster
        self.parameters = dict(parameters or {})
        self.poll_s = poll_s
        self._executor: Any = None

    def start(self, runner: MatrixRunner) -> None:
        try:
            import submitit
        except ImportError:
            raise RuntimeError("--executor slurm needs submitit: pip install -e \".[scale]\"") from None
        if self.cluster == "slurm" and shutil.which("sbatch") is None:
            raise RuntimeError("--executor slurm: no `sbatch` on PATH; run this on a SLURM login "
                               "node (or --slurm-cluster local to try the path on this machine)")
        os.environ["PYTHONPATH"] = _pythonpath()    # exported to the jobs
        executor = submitit.AutoExecutor(folder=self.folder / "%j", cluster=self.cluster)
        params = dict(self.DEFAULTS)
        if runner.device.type == "cuda":
            params["gpus_per_node"] = 1
        params.update(self.parameters)
        try:
            executor.update_parameters(**params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--slurm-option: {exc}") from None
        self._executor = executor

    def map(self, fn: Callable[..., Any], calls: list[tuple],
            on_done: Callable[[int, Any], None]) -> None:
        jobs = self._executor.map_array(call_packed, [fn] * len(calls), calls)
        pending = dict(enumerate(jobs))
        while pending:
            for i, job in list(pending.items()):
                try:
                    if not job.done():
                        continue
                    value = job.result()
                except Exception as exc:   # the job failed (or, on "debug", raised when run)
                    value = exc
                del pending[i]
                on_done(i, value)
            if pending:
                time.sleep(self.poll_s)


def build_executor(name: str, out: Path, options: dict[str, Any]) -> Executor:
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=options.get("ray_address"), num_cpus=options.get("ray_num_cpus"),
                           cpus_per_cell=options.get("ray_cpus_per_cell") or 1.0,
                           gpus_per_cell=options.get("ray_gpus_per_cell"))
    if name == "slurm":
        return SlurmExecutor(Path(out) / "slurm", cluster=options.get("slurm_cluster") or "slurm",
                             parameters=options.get("slurm_parameters"),
                             poll_s=options.get("slurm_poll_s") or 10.0)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
