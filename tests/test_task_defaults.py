"""`python benchmarks/run.py --task X` alone runs X end to end (its own default preset) or says
in one line which command prepares its data: checked for every registered task."""
from __future__ import annotations

import json

import pytest

from benchmarks.runner.presets import read_preset_data
from benchmarks.runner.cli import main
from benchmarks.runner.task_defaults import default_preset, one_line
from core.registry import TASKS

import tasks  # noqa: F401  (registers the adapters)

# one training epoch and two NFT steps: the default preset's path, not its numbers
FAST = ["--set", "train.epochs=1", "--set", "defense_options.nft.iterations=2"]
#: the suite's own tasks (the package ``tasks``), not the test doubles other test modules register
#: while pytest collects them (tests/toy_tasks.py), which have no preset files
SUITE_TASKS = [n for n in TASKS.names() if TASKS.get(n).__module__.startswith("tasks.")]


@pytest.mark.parametrize("task", SUITE_TASKS)
def test_every_registered_task_names_a_default_preset_of_its_own(task):
    name = default_preset(task)
    assert read_preset_data(name)["task"] == task


@pytest.mark.parametrize("task", SUITE_TASKS)
def test_task_flag_alone_runs_or_names_the_prepare_command(task, tmp_path, capsys):
    empty_root = tmp_path / "no_data"          # nothing prepared here
    empty_root.mkdir()
    out = tmp_path / "out"
    code = main(["--task", task, "--data-root", str(empty_root), "--out", str(out),
                 "--no-progress", *FAST])
    err = capsys.readouterr().err
    if code == 0:
        records = [json.loads(p.read_text()) for p in (out / "records").rglob("seed*.json")]
        assert records and all(r["status"] == "ok" and r["task"] == task for r in records)
        assert {r["preset"] for r in records} == {default_preset(task)}
    else:       # its default preset reads prepared data: one line naming the fix, nothing run
        assert code == 2, err
        line = [l for l in err.splitlines() if l.startswith("error:")]
        assert len(line) == 1 and "python data_scripts/" in line[0], err
        assert not (out / "records").exists()


def test_unknown_task_and_explicit_preset():
    with pytest.raises(KeyError, match="unknown task"):
        default_preset("nosuch")
    assert main(["--task", "nosuch"]) == 2


def test_one_line_keeps_the_first_command():
    exc = FileNotFoundError("X not found: looked in /r/x.\nPrepare it with one of:\n"
                            "  python data_scripts/x.py --data-root /r\n  python other")
    assert one_line(exc) == ("X not found: looked in /r/x. Prepare it with: "
                             "python data_scripts/x.py --data-root /r")
    assert one_line(ValueError("single")) == "single"
