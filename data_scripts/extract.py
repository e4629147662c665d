"""Safe extraction of tar (any compression) and zip archives: member by member, refusing
names and links that would land outside the target folder, and special files."""
from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from data_scripts.errors import PrepareError, UnsafeArchiveError
from data_scripts.progress import CHUNK, progress_bar


def member_path(target: Path, name: str, archive: Path) -> Path:
    """``target/name`` after refusing absolute names, drive letters and ``..`` components.

    ``target`` is a fresh folder that only this extraction writes to, and it never creates links,
    so a checked name cannot leave it through a link either.
    """
    clean = name.replace("\\", "/")
    pure = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":") or ".." in pure.parts:
        raise UnsafeArchiveError(f"refusing {archive}: member {name!r} points outside the "
                                 f"extraction folder")
    parts = [p for p in pure.parts if p not in ("", ".")]
    return target.joinpath(*parts) if parts else target


class _Dirs:
    """Creates each parent folder once (a syscall per file is what makes extraction slow)."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.made: set[Path] = set()

    def ensure(self, folder: Path) -> None:
        if folder not in self.made:
            if not folder.resolve().is_relative_to(self.target):
                raise UnsafeArchiveError(f"{folder} resolves outside {self.target}")
            folder.mkdir(parents=True, exist_ok=True)
            self.made.add(folder)


def _write(source, path: Path) -> None:
    with open(path, "wb", buffering=0) as out:     # unbuffered: no isatty/seek per file
        shutil.copyfileobj(source, out, CHUNK)


def _extract_tar(archive: Path, target: Path) -> int:
    count, dirs = 0, _Dirs(target)
    with open(archive, "rb") as raw, tarfile.open(fileobj=raw, mode="r:*") as tar, \
            progress_bar(archive.stat().st_size, f"extracting {archive.name}") as bar:
        for member in tar:
            path = member_path(target, member.name, archive)
            if member.isdir():
                dirs.ensure(path)
            elif member.isfile():
                dirs.ensure(path.parent)
                _write(tar.extractfile(member), path)
                count += 1
            elif member.issym() or member.islnk():
                if member.issym():       # relative to the link's folder
                    link = (path.parent / member.linkname).resolve()
                else:                    # hard links name another member
                    link = (target / member.linkname.lstrip("/")).resolve()
                if member.linkname.startswith("/") or not link.is_relative_to(target):
                    raise UnsafeArchiveError(f"refusing {archive}: link {member.name!r} -> "
                                             f"{member.linkname!r} points outside the folder")
                if not link.is_file():
                    raise UnsafeArchiveError(f"refusing {archive}: link {member.name!r} -> "
                                             f"{member.linkname!r} is not an extracted file")
                dirs.ensure(path.parent)
                shutil.copyfile(link, path)          # links inside become plain copies
                count += 1
            else:
                raise UnsafeArchiveError(f"refusing {archive}: member {member.name!r} is a "
                                         f"device, fifo or other special file")
            bar.update(raw.tell() - bar.n)
    return count


def _extract_zip(archive: Path, target: Path) -> int:
    count, dirs = 0, _Dirs(target)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        with progress_bar(len(infos), f"extracting {archive.name}", unit="file") as bar:
            for info in infos:
                path = member_path(target, info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise UnsafeArchiveError(f"refusing {archive}: member {info.filename!r} is "
                                             f"a symbolic link")
                if info.is_dir():
                    dirs.ensure(path)
                else:
                    dirs.ensure(path.parent)
                    with zf.open(info) as source:
                        _write(source, path)
                    count += 1
                bar.update(1)
    return count


def safe_extract(archive: Path, target: Path) -> int:
    """Extract a tar (any compression) or zip archive into ``target``; returns the file count.

    Refuses absolute names, ``..`` components, links that point outside ``target`` and special
    files (``UnsafeArchiveError``); links inside are written as plain copies.
    """
    archive = Path(archive)
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, target)
    if tarfile.is_tarfile(archive):
        return _extract_tar(archive, target)
    raise PrepareError(f"{archive} is neither a tar nor a zip archive")
