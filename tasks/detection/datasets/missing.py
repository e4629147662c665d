"""What a detection loader raises when its dataset is not prepared: the path it looked for and
the ``data_scripts`` command that prepares it."""
from __future__ import annotations

from pathlib import Path


class DatasetMissingError(FileNotFoundError):
    """A dataset folder or file is missing; the message names the path and the script."""


def missing(path: Path, what: str, command: str) -> DatasetMissingError:
    return DatasetMissingError(f"{what} not found at {path}; prepare it with: {command}")
