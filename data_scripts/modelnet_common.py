"""What the ModelNet scripts share: the layout check, the summary and the optional cache warm-up."""
from __future__ import annotations

from pathlib import Path

from core.bad_data import check_splits
from data_scripts.download import download, sha256
from data_scripts.prepare import parser, prepare
from tasks.pointcloud import datasets as loader

EXPECTED = ("<class>/train|test/*.pcd (offline copy), <class>/train|test/*.off (official meshes) "
            "or ply_data_train*.h5 (HDF5 release)")


def describe(folder: Path) -> str:
    found = loader.find_layout(folder)
    if found is None:
        raise ValueError(f"no {EXPECTED} under {folder}")
    layout, data_dir = found
    files = loader._listing(data_dir, layout)
    if layout == "h5":
        return f"HDF5 release, {len(files)} file(s) in {data_dir.relative_to(folder) or '.'}"
    classes = sorted({f.parent.parent.name for f in files})
    splits = {s: sum(1 for f in files if f.parent.name == s) for s in ("train", "test")}
    check_splits(data_dir, splits)
    return (f"{layout.upper()} layout, {len(classes)} classes, {splits['train']} train / "
            f"{splits['test']} test shapes")


def main_for(name: str, description: str, downloads: list[tuple[str, str]],
             argv: list[str] | None) -> int:
    p = parser(description, archive_help="a tar/zip holding one of the layouts",
               folder_help="a folder holding one of the layouts")
    p.add_argument("--cache", type=int, metavar="N", default=None,
                   help="after preparing, decode and cache the shapes at N points per shape")
    args = p.parse_args(argv)
    if not args.from_archive and args.from_folder is None:
        folder = Path(args.download_dir or Path(args.data_root) / "downloads").expanduser()
        for url, file in downloads:      # no published checksums: fetch, then record sha256
            path = download(url, folder / file, md5=None)
            print(f"sha256 of {file}: {sha256(path)}")
            args.from_archive = (args.from_archive or []) + [path]
    code = prepare(args, name=name, describe=describe,
                   is_dataset=lambda d: loader.find_layout(d, max_depth=0) is not None,
                   expected=EXPECTED)
    if code == 0 and args.cache:
        data = loader.load(Path(args.data_root), name, args.cache)
        print(f"cached {len(data.train_y)} train / {len(data.test_y)} test shapes at "
              f"{args.cache} points ({len(data.skipped)} skipped)")
    return code
