"""The frame of every dataset script: its arguments, the flow that prepares a dataset from a
folder, from archives or from the official downloads, the atomic install, and ``run``.

A script builds its dataset in a staging folder inside ``--data-root`` (``.<name>-partial-*``)
and renames it to ``<data root>/<name>/`` only once it is complete and its layout checks out, so
an interrupted run, a checksum mismatch or a malformed archive never leaves a half-written
dataset. A finished folder holds ``.prepared.json`` (source, date, summary); running a script
again on it only reports that it is prepared (``--force`` redoes it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from data_scripts.download import download, verify_checksum
from data_scripts.errors import PrepareError
from data_scripts.extract import safe_extract
from data_scripts.folders import copy_tree, find_dir

MARKER = ".prepared.json"


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
