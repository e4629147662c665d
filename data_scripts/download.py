"""Checksums and downloads: a file's digest, its check against a published md5, and a
download that keeps a verified copy (``<data root>/downloads`` by default)."""
from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from data_scripts.errors import ChecksumError, PrepareError
from data_scripts.progress import CHUNK, progress_bar


def file_digest(path: Path, algorithm: str = "md5") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: Path, expected: str, algorithm: str = "md5") -> None:
    """Raise ``ChecksumError`` unless ``path``'s digest is ``expected``."""
    actual = file_digest(path, algorithm)
    if actual.lower() != expected.strip().lower():
        raise ChecksumError(f"checksum mismatch for {path}: {algorithm} is {actual}, expected "
                            f"{expected}. The file is corrupt, incomplete or not the official "
                            f"release; delete it and try again.")


def sha256(path: Path) -> str:
    """SHA-256 of ``path``: recorded for releases that publish no checksum."""
    return file_digest(path, "sha256")


def download(url: str, dest: Path, md5: str | None) -> Path:
    """Fetch ``url`` to ``dest`` unless a copy with the right md5 is there; verify it.

    ``md5=None`` is for releases that publish no checksum: a copy already at ``dest`` is reused
    and nothing is verified (callers print and record the file's ``sha256`` instead).
    """
    if dest.is_file() and md5 is None:
        print(f"using the downloaded {dest} (no published checksum)")
        return dest
    if dest.is_file():
        try:
            verify_checksum(dest, md5)
            print(f"using the downloaded {dest} (checksum ok)")
            return dest
        except ChecksumError:
            print(f"{dest} has the wrong checksum; downloading it again")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    print(f"downloading {url}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            size = response.headers.get("Content-Length")
            with progress_bar(int(size) if size else None, dest.name) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
        if md5 is not None:
            verify_checksum(partial, md5)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise PrepareError(f"download of {url} failed: {exc}. Without internet, prepare the "
                           f"dataset from a local copy with --from-archive or --from-folder.") from exc
    except ChecksumError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return dest
