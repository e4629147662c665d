"""What a video loader raises when its dataset or a split file is not prepared: the path and the
``data_scripts`` command that prepares it."""
from __future__ import annotations

from pathlib import Path


class MissingSplitError(FileNotFoundError):
    """A dataset folder or split file is missing; the message names the path and the command."""


#: arguments a preparation script needs beyond --data-root (offline sources of this repository)
SCRIPT_ARGS = {"synthetic_actions": " --objects ../shared/datasets/cifar10-jpg.tar.gz "
                                    "--backgrounds ../shared/datasets/video"}


def missing(path: Path, what: str, script: str) -> MissingSplitError:
    return MissingSplitError(
        f"{what} not found: {path}. Prepare the dataset with "
        f"`python data_scripts/{script}.py --data-root DIR{SCRIPT_ARGS.get(script, '')}` and "
        f"pass --data-root DIR")
