"""Prepare a dialogue-generation corpus for the text task: OpenSubtitles2012 (the paper's DG
set) in ``<data root>/opensubtitles/``, or the offline chatterbot dialogues in
``<data root>/chatterbot/``.

    python data_scripts/opensubtitles.py --data-root DIR                  # OPUS OpenSubtitles v2012 (English)
    python data_scripts/opensubtitles.py --data-root DIR --from-folder F  # F holds en.txt[.gz], or the final layout
    python data_scripts/opensubtitles.py --data-root DIR --chatterbot     # offline: pip install chatterbot-corpus

Both become ``{src,tgt}-{train,val,test}.txt.gz`` with src = a turn and tgt = the turn after it.
OpenSubtitles: consecutive subtitle lines of the OPUS monolingual English text (one line per
subtitle) are the pairs; the last ``--val-pairs`` / ``--test-pairs`` pairs (default 5,000 each)
are held out and at most ``--max-pairs`` (default 1,000,000) train pairs are kept. OPUS
publishes no checksum for this file: its SHA-256 is printed and recorded in ``.prepared.json``.
chatterbot: the English conversations of the ``chatterbot-corpus`` package (~2,400 adjacent turn
pairs), whole conversations split 80/10/10 with seed 0; a val/test pair whose context turn also
occurs in training is dropped (the corpus repeats exchanges across its files).
"""
from __future__ import annotations

import gzip
import sys
from pathlib import Path

if __package__ in (None, ""):   # run as a script: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from data_scripts.download import download, sha256  # noqa: E402
from data_scripts.errors import PrepareError  # noqa: E402
from data_scripts.prepare import install, parser, prepare, run  # noqa: E402
from tasks.text.datasets import dialogue as loader                            # noqa: E402
from tasks.text.datasets.corpus import Pairs                                  # noqa: E402
from tasks.text.datasets.text_files import find_text, read_lines             # noqa: E402

URL = "https://object.pouta.csc.fi/OPUS-OpenSubtitles/v2012/mono/en.txt.gz"
FILE = "OpenSubtitles-v2012-en.txt.gz"


def write_splits(splits: dict[str, Pairs], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        for side, rows in (("src", pairs.src), ("tgt", pairs.tgt)):
            with gzip.open(out / f"{side}-{split}.txt.gz", "wt", encoding="utf-8") as handle:
                handle.writelines(r.replace("\n", " ") + "\n" for r in rows)
    return out


def subtitle_splits(lines: list[str], val: int, test: int, max_pairs: int) -> dict[str, Pairs]:
    pairs = loader.adjacent_pairs(lines)
    if len(pairs) <= val + test:
        raise PrepareError(f"only {len(pairs)} subtitle pairs, fewer than val + test = {val + test}")
    n = len(pairs)
    cut_test, cut_val = n - test, n - test - val
    train_end = min(cut_val, max_pairs)
    return {"train": Pairs(pairs.src[:train_end], pairs.tgt[:train_end]),
            "val": Pairs(pairs.src[cut_val:cut_test], pairs.tgt[cut_val:cut_test]),
            "test": Pairs(pairs.src[cut_test:], pairs.tgt[cut_test:])}


def chatterbot_conversations(language: str = "english") -> list[list[str]]:
    try:
        import chatterbot_corpus
        import yaml
    except ImportError as exc:
        raise PrepareError("--chatterbot needs the chatterbot-corpus package: "
                           "pip install chatterbot-corpus") from exc
    folder = Path(chatterbot_corpus.__file__).resolve().parent / "data" / language
    conversations = []
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations") or []:
            turns = [str(t) for t in conversation if t is not None]
            if len(turns) >= 2:
                conversations.append(turns)
    if not conversations:
        raise PrepareError(f"no conversations found in {folder}")
    return conversations


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n\n")[0],
               archive_help="a tar/zip holding {src,tgt}-{train,val,test}.txt[.gz]",
               folder_help="a folder holding en.txt[.gz] (one subtitle per line) or the final layout")
    p.add_argument("--chatterbot", action="store_true",
                   help="prepare the chatterbot-corpus dialogues (offline) instead")
    p.add_argument("--val-pairs", type=int, default=5000)
    p.add_argument("--test-pairs", type=int, default=5000)
    p.add_argument("--max-pairs", type=int, default=1_000_000)
    args = p.parse_args(argv)
    if args.chatterbot:
        splits = loader.split_conversations(chatterbot_conversations(), val=0.1, test=0.1, seed=0)
        return install(args.data_root, loader.CHATTERBOT,
                       lambda staging: write_splits(splits, staging / loader.CHATTERBOT),
                       loader.describe, "chatterbot-corpus package (english)", args.force)
    if args.from_archive or (args.from_folder is not None and loader.is_dataset(Path(args.from_folder))):
        return prepare(args, name=loader.OPENSUBTITLES, describe=loader.describe,
                       is_dataset=loader.is_dataset, expected=loader.EXPECTED)
    if args.from_folder is not None:
        raw = find_text(Path(args.from_folder).expanduser(), "en.txt")
        if raw is None:
            raise PrepareError(f"{args.from_folder} holds neither en.txt[.gz] nor "
                               f"{loader.EXPECTED}")
        source = f"folder {Path(raw).resolve()}"
    else:
        folder = Path(args.download_dir or Path(args.data_root) / "downloads").expanduser()
        raw = download(URL, folder / FILE, None)
        digest = sha256(raw)
        print(f"sha256 {digest}  {raw.name}")
        source = f"download {URL} (sha256 {digest})"
    splits = subtitle_splits(read_lines(raw), args.val_pairs, args.test_pairs, args.max_pairs)
    return install(args.data_root, loader.OPENSUBTITLES,
                   lambda staging: write_splits(splits, staging / loader.OPENSUBTITLES),
                   loader.describe, source, args.force)


if __name__ == "__main__":
    sys.exit(run(main))
