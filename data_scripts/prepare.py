"""Shared machinery of the dataset scripts: arguments, checksummed download, safe extraction,
atomic install.

A script builds its dataset in a staging folder inside ``--data-root`` (``.<name>-partial-*``)
and renames it to ``<data root>/<name>/`` only once it is complete and its layout checks out, so
an interrupted run, a checksum mismatch or a malformed archive never leaves a half-written
dataset. A finished folder holds ``.prepared.json`` (source, date, summary); running a script
again on it only reports that it is prepared (``--force`` redoes it).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

MARKER = ".prepared.json"
CHUNK = 1 << 20


class PrepareError(RuntimeError):
    """A dataset cannot be prepared; the message says why and what to do."""


class ChecksumError(PrepareError):
    """A file whose digest differs from the published one."""


class UnsafeArchiveError(PrepareError):
    """An archive member that would land outside the target folder (or is a device, …)."""


def _bar(total: int | None, desc: str, unit: str = "B"):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", leave=False,
                mininterval=0.5, disable=None)


# -- checksums and downloads --------------------------------------------------------------------
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
            with _bar(int(size) if size else None, dest.name) as bar:
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


# -- safe extraction ----------------------------------------------------------------------------
def _member_path(target: Path, name: str, archive: Path) -> Path:
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
            _bar(archive.stat().st_size, f"extracting {archive.name}") as bar:
        for member in tar:
            path = _member_path(target, member.name, archive)
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
        with _bar(len(infos), f"extracting {archive.name}", unit="file") as bar:
            for info in infos:
                path = _member_path(target, info.filename, archive)
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


def copy_tree(source: Path, dest: Path) -> None:
    """Copy a folder with a progress bar (symbolic links are followed)."""
    files = [Path(d) / f for d, _, fs in os.walk(source, followlinks=True) for f in fs]
    with _bar(len(files), f"copying {source.name}", unit="file") as bar:
        for path in files:
            out = dest / path.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            bar.update(1)


def find_dir(top: Path, wanted: Callable[[Path], bool], max_depth: int = 3) -> Path | None:
    """The shallowest folder under ``top`` (``top`` included) for which ``wanted`` holds."""
    level = [top]
    for _ in range(max_depth + 1):
        for folder in level:
            if wanted(folder):
                return folder
        level = [c for folder in level for c in sorted(folder.iterdir())
                 if c.is_dir() and not c.is_symlink() and not c.name.startswith(".")]
    return None


# -- command line and install -------------------------------------------------------------------
def parser(description: str, *, archive_help: str, folder_help: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, required=True,
                   help="folder that holds the prepared datasets (benchmarks/run.py --data-root)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from-archive", type=Path, action="append", metavar="PATH",
                        help=archive_help + " (repeat for several archives)")
    source.add_argument("--from-folder", type=Path, metavar="PATH", help=folder_help)
    p.add_argument("--link", action="store_true",
                   help="with --from-folder: symlink the folder's splits instead of copying them")
    p.add_argument("--md5", help="verify a single --from-archive file against this md5")
    p.add_argument("--download-dir", type=Path,
                   help="where downloads are kept (default: <data root>/downloads)")
    p.add_argument("--force", action="store_true", help="prepare again even if already prepared")
    return p


def check_archives(args: argparse.Namespace, known_md5: dict[str, str]) -> list[Path]:
    """The ``--from-archive`` paths, existing and verified (published md5 by file name, --md5)."""
    archives = [Path(a).expanduser().resolve() for a in args.from_archive]
    for archive in archives:
        if not archive.is_file():
            raise PrepareError(f"archive not found: {archive}")
    if args.md5 and len(archives) != 1:
        raise PrepareError("--md5 verifies exactly one --from-archive file")
    for archive in archives:
        expected = args.md5 or known_md5.get(archive.name)
        if expected:
            print(f"verifying the md5 of {archive.name}")
            verify_checksum(archive, expected)
        else:
            print(f"{archive.name}: no published checksum for this file; its layout is checked "
                  f"after extraction instead")
    return archives


def install(data_root: Path, name: str, build: Callable[[Path], Path],
            describe: Callable[[Path], str], source: str, force: bool = False) -> int:
    """Build ``<data root>/<name>/`` atomically; see the module docstring."""
    data_root = Path(data_root).expanduser().resolve()
    final = data_root / name
    if final.exists() and not force:
        if (final / MARKER).is_file():
            print(f"{name} is already prepared in {final} (pass --force to prepare it again)")
            return 0
        try:
            summary = describe(final)
        except (OSError, ValueError) as exc:
            raise PrepareError(f"{final} exists but is not a complete {name} dataset ({exc}); "
                               f"remove it or pass --force") from None
        print(f"{name} is already prepared in {final}: {summary}")
        return 0
    data_root.mkdir(parents=True, exist_ok=True)
    for stale in data_root.glob(f".{name}-partial-*"):      # left by an interrupted run
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-partial-", dir=data_root))
    started = time.perf_counter()
    try:
        ready = build(staging)
        try:
            summary = describe(ready)
        except (OSError, ValueError) as exc:
            raise PrepareError(f"the prepared {name} does not have the expected layout: {exc}") from None
        (ready / MARKER).write_text(json.dumps({
            "dataset": name, "source": source, "summary": summary,
            "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n")
        if final.exists() or final.is_symlink():
            old = staging / "replaced"
            os.replace(final, old)
        os.replace(ready, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"prepared {name} in {final} in {time.perf_counter() - started:.1f} s: {summary}")
    return 0


def find_file(top: Path, name: str, max_depth: int = 4) -> Path | None:
    """The shallowest file called ``name`` under ``top`` (links followed)."""
    top_depth = len(top.parts)
    for folder, dirs, files in os.walk(top, followlinks=True):
        if name in files:
            return Path(folder) / name
        if len(Path(folder).parts) - top_depth >= max_depth:
            dirs.clear()
        dirs.sort()
    return None


def prepare(args: argparse.Namespace, *, name: str, describe: Callable[[Path], str],
            is_dataset: Callable[[Path], bool], expected: str,
            downloads: list[tuple[str, str, str]] | None = None,
            known_md5: dict[str, str] | None = None,
            arrange: Callable[[Path, Path, Path], Path] | None = None) -> int:
    """The common flow: from a folder, from archives, or from the official downloads.

    ``downloads`` lists (url, file name, md5); ``is_dataset(folder)`` recognises the dataset's
    top folder among the extracted files; ``arrange(found, staging, extracted)`` turns it into
    the folder the loader reads (default: ``found`` itself).
    """
    arrange = arrange or (lambda found, staging, extracted: found)
    if args.from_folder is None and args.link:
        raise PrepareError("--link only applies to --from-folder")
    if args.from_folder is not None:
        source_dir = Path(args.from_folder).expanduser().resolve()
        if not source_dir.is_dir():
            raise PrepareError(f"folder not found: {source_dir}")
        found_src = find_dir(source_dir, is_dataset, max_depth=2)
        if found_src is None:
            raise PrepareError(f"{source_dir} does not hold {expected}")
        how = "linked" if args.link else "copied"
        source = f"folder {found_src} ({how})"

        def build(staging: Path) -> Path:
            copy = staging / "copy"
            copy.mkdir()
            for entry in sorted(found_src.iterdir()):
                if entry.name.startswith("."):
                    continue
                if args.link:
                    (copy / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
                elif entry.is_dir():
                    copy_tree(entry, copy / entry.name)
                else:
                    shutil.copyfile(entry, copy / entry.name)
            return arrange(copy, staging, found_src)
    else:
        if args.from_archive:
            source = "archive " + ", ".join(str(Path(a).resolve()) for a in args.from_archive)
        elif downloads:
            source = "download " + ", ".join(url for url, _, _ in downloads)
        else:
            raise PrepareError(f"{name} has no public download: prepare it from your copy with "
                               f"--from-folder PATH or --from-archive PATH ({expected})")

        def build(staging: Path) -> Path:
            if args.from_archive:
                archives = check_archives(args, known_md5 or {})
            else:
                folder = Path(args.download_dir or Path(args.data_root) / "downloads").expanduser()
                archives = [download(url, folder / file, md5) for url, file, md5 in downloads]
            extracted = staging / "extract"
            for archive in archives:
                print(f"extracting {archive}")
                safe_extract(archive, extracted)
            found = find_dir(extracted, is_dataset)
            if found is None:
                raise PrepareError(f"the archive(s) do not hold {expected}")
            return arrange(found, staging, extracted)

    return install(args.data_root, name, build, describe, source, args.force)


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Call ``main``; a ``PrepareError`` becomes a one-line error and exit status 1."""
    try:
        return main(argv)
    except PrepareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing was installed", file=sys.stderr)
        return 130
