"""The errors of the dataset scripts. Each message says what went wrong and what to do;
``prepare.run`` prints it as one line and exits with status 1."""
from __future__ import annotations


class PrepareError(RuntimeError):
    """A dataset cannot be prepared; the message says why and what to do."""


class ChecksumError(PrepareError):
    """A file whose digest differs from the published one."""


class UnsafeArchiveError(PrepareError):
    """An archive member that would land outside the target folder (or is a device, …)."""
