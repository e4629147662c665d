"""What ``python benchmarks/run.py --task X`` runs when no ``--preset`` is given.

Every task adapter names its own default preset (``TaskAdapter.default_preset``): its smoke
preset (in-memory data, seconds), or its quick preset where the task has no smoke one (the image
task: CIFAR-10 from the offline copy). A default preset whose data is not prepared fails before
anything trains, in one line that names the command that prepares it.
"""
from __future__ import annotations

import importlib

from core.config import ConfigError
from core.registry import TASKS

from .presets import available, read_preset_data

importlib.import_module("tasks")   # registers the task adapters lazily


def default_preset(task: str) -> str:
    """The preset ``--task TASK`` runs alone; a task naming none, or one of another task, is a
    configuration error."""
    adapter = TASKS.get(task)        # unknown task: the registry's close-match error
    name = getattr(adapter, "default_preset", None)
    if not name:
        raise ConfigError(f"task {task!r} names no default preset (TaskAdapter.default_preset); "
                          f"give --preset, one of: {', '.join(available())}")
    owner = read_preset_data(name).get("task")
    if owner != task:
        raise ConfigError(f"task {task!r}'s default preset {name!r} is a preset of task {owner!r}")
    return name


def one_line(exc: BaseException) -> str:
    """A multi-line input error (e.g. a missing dataset with its prepare commands) as one line:
    its first line and the first command that fixes it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if len(lines) <= 1:
        return str(exc)
    fix = next((line for line in lines[1:] if line.startswith("python ")), None)
    return lines[0] + (f" Prepare it with: {fix}" if fix else "")
