"""Executors: remote ones (one task per cell) write the same records as the local one."""
import json

import pytest

from benchmarks.runner.executors import RemoteExecutor, build_executor
from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.presets import load_preset
from benchmarks.runner.cli import main
from test_runner import FAST

SETS = [a for a in FAST if a not in ("--set", "--no-progress")]


class InProcess(RemoteExecutor):
    """The remote executors' two waves, with every call made right here."""

    name = "inprocess"

    def __init__(self):
        self.calls = []

    def map(self, fn, calls, on_done):
        for i, args in enumerate(calls):
            self.calls.append(fn.__name__)
            try:
                value = fn(*args)
            except Exception as exc:
                value = exc
            on_done(i, value)


def _results(out):
    rows = {}
    for path in sorted((out / "records").rglob("seed*.json")):
        record = json.loads(path.read_text())
        rows[str(path.relative_to(out))] = (record["status"], record.get("before"),
                                            record.get("after"))
    return rows


def _run(out, executor=None, **overrides):
    preset = load_preset("smoke", overrides, SETS)
    return MatrixRunner(preset, out, None, progress=False).run(executor)


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "run"
    outcome = _run(out, attacks=["blend", "patch"], seeds=[0, 1])
    assert len(outcome.written) == 4 and not outcome.errors
    return out


def test_remote_waves_write_the_same_records_as_local(tmp_path, local_run):
    executor = InProcess()
    outcome = _run(tmp_path / "run", executor, attacks=["blend", "patch"], seeds=[0, 1])
    assert len(outcome.written) == 4 and not outcome.errors
    # one backdoor task per (seed, attack), then one task per cell
    assert executor.calls == ["warm_cache"] * 4 + ["run_cell"] * 4
    assert _results(tmp_path / "run") == _results(local_run)
    # resumable like the local run: nothing left to do
    again = InProcess()
    assert not _run(tmp_path / "run", again, attacks=["blend", "patch"], seeds=[0, 1]).written
    assert again.calls == []


def test_a_failing_backdoor_becomes_error_rows_for_its_cells(tmp_path):
    from core.attack import Attack, AttackConfig
    from core.registry import ATTACKS

    class Broken(Attack):
        name = "broken_attack_for_test"
        Config = AttackConfig

        def prepare(self, train, adapter, device, seed):
            raise RuntimeError("planted attack failure")

        def apply_trigger(self, inputs):
            return inputs

    ATTACKS.register("broken_attack_for_test", Broken, namespace="synthetic", overwrite=True)
    executor = InProcess()
    outcome = _run(tmp_path / "run", executor, attacks=["broken_attack_for_test", "blend"])
    assert len(outcome.errors) == 1 and len(outcome.written) == 1
    # the failed backdoor is not retried per cell
    assert executor.calls == ["warm_cache", "warm_cache", "run_cell"]
    error = json.loads(outcome.errors[0].read_text())
    assert error["phase"] == "attack_train" and error["error"]["message"] == "planted attack failure"


def test_slurm_executor_through_submitit_debug_cluster(tmp_path, local_run):
    pytest.importorskip("submitit")
    out = tmp_path / "run"
    code = main(["--preset", "smoke", "--attacks", "blend,patch", "--seeds", "0,1", "--out",
                 str(out), "--executor", "slurm", "--slurm-cluster", "debug",
                 "--slurm-poll-s", "0", *FAST])
    assert code == 0
    assert _results(out) == _results(local_run)
    assert (out / "slurm").is_dir()         # submitit's job folders


def test_slurm_without_sbatch_is_a_clear_input_error(tmp_path, capsys, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["--preset", "smoke", "--out", str(tmp_path / "o"), "--executor", "slurm",
                 *FAST]) == 2
    assert "no `sbatch` on PATH" in capsys.readouterr().err


def test_unknown_executor():
    with pytest.raises(ValueError, match="unknown executor"):
        build_executor("dask", ".", {})


def test_ray_executor_with_a_local_ray_instance(tmp_path, local_run):
    ray = pytest.importorskip("ray")
    out = tmp_path / "run"
    try:
        code = main(["--preset", "smoke", "--attacks", "blend,patch", "--seeds", "0,1",
                     "--out", str(out), "--executor", "ray", "--ray-num-cpus", "2", *FAST])
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert code == 0
    records = _results(out)
    assert set(records) == set(_results(local_run))
    for key, (status, before, after) in records.items():
        local = _results(local_run)[key]
        assert status == "ok" and before == pytest.approx(local[1]) and after == pytest.approx(local[2])
