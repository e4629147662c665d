"""The one bad-file contract, over the generated corrupt-input corpus (tests/bad_inputs_corpus.py)
and through the runner: one line naming the file, exit 2 before training, or skip-and-count."""
from __future__ import annotations

import importlib

import pytest

from bad_inputs_corpus import cases, run, voc
from core.bad_data import BadDataError, BadFiles, data_fingerprint, skipped_summary, text_lines

importlib.import_module("tasks")
CASES = cases()


def test_corpus_covers_the_loaders():
    assert len(CASES) >= 60
    assert len({c.loader for c in CASES}) >= 12
    assert len({(c.loader, c.damage) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.loader}|{c.damage}" for c in CASES])
def test_damaged_input_gives_one_line_error_or_is_skipped_and_listed(case):
    raised = run(case, "raise")
    assert raised.kind == "error", raised.message          # never a traceback or silence
    skipped = run(case, "skip")
    assert skipped.kind in ("skipped", "error"), skipped.message


def test_bad_data_error_is_one_line_and_names_file_and_line(tmp_path):
    err = BadDataError(tmp_path / "a.txt", "bad\nthing   here", line=3)
    assert str(err) == f"{tmp_path / 'a.txt'}:3: bad thing here" and isinstance(err, ValueError)
    wrapped = BadDataError.wrap(tmp_path / "b.xml", SyntaxError("unclosed token"))
    assert str(wrapped).startswith(f"{tmp_path / 'b.xml'}: SyntaxError: unclosed token")
    (tmp_path / "c.txt").write_bytes(b"ok\nfine\ncaf\xe9\n")
    with pytest.raises(BadDataError, match=r"c.txt:3: not UTF-8"):
        text_lines(tmp_path / "c.txt")


def test_skip_collects_and_summarises():
    bad = BadFiles("skip")
    assert bad.attempt("x.jpg", lambda: 1 / 0 if False else int("nope")) is None
    for k in range(6):
        bad.handle(BadDataError(f"f{k}.avi", "truncated"))
    info = bad.info()
    assert info["bad_files"] == 7 and len(info["bad_file_list"]) == 7
    line = skipped_summary("video/ucf101", info)
    assert "skipped 7 bad file(s)" in line and "x.jpg" in line and "… 2 more" in line
    assert "\n" not in line and skipped_summary("x", BadFiles("skip").info()) is None
    with pytest.raises(BadDataError, match="x.jpg"):
        BadFiles("raise").attempt("x.jpg", lambda: int("nope"))
    with pytest.raises(ValueError, match="on_error"):
        BadFiles("ignore")


def test_listing_checks_skip_or_raise_by_the_policy(tmp_path):
    """The checks of every listing-driven loader (core/bad_data.py): repeats, missing files,
    nothing left."""
    listed = [("a", 1), ("b", 2), ("a", 3), ("c", 4)]
    bad = BadFiles("skip")
    kept = bad.listed_once(listed, "split.txt", keys=lambda e: e[:1], name=lambda e: f"id {e[0]}",
                           line=lambda e: e[1])
    assert kept == [("a", 1), ("b", 2), ("c", 4)]
    assert bad.files == ["split.txt:3"] and "id a is listed twice (first on line 1)" in bad.brief()
    with pytest.raises(BadDataError, match=r"split.txt:3: id a is listed twice"):
        BadFiles("raise").listed_once(listed, "split.txt", keys=lambda e: e[:1],
                                      name=lambda e: f"id {e[0]}", line=lambda e: e[1])
    # any shared key repeats an entry; a listing without lines says no line
    images = [{"id": 1, "file": "x.jpg"}, {"id": 2, "file": "x.jpg"}, {"id": 3, "file": "y.jpg"}]
    bad = BadFiles("skip")
    kept = bad.listed_once(images, "ann.json", keys=lambda im: (("id", im["id"]),
                                                                ("file", im["file"])),
                           name=lambda im: f"image id {im['id']}")
    assert [im["id"] for im in kept] == [1, 3] and bad.files == ["ann.json"]
    assert "ann.json: image id 2 is listed twice" == str(bad.errors[0])
    (tmp_path / "here.jpg").write_bytes(b"x")
    bad = BadFiles("skip")
    assert bad.present([tmp_path / "here.jpg"], "split.txt", "id 1", 1)
    assert not bad.present([tmp_path / "here.jpg", tmp_path / "gone.jpg"], "split.txt", "id 2",
                           2, fix="prepare it again")
    assert str(bad.errors[0]) == f"split.txt:2: id 2: {tmp_path / 'gone.jpg'} is missing; " \
                                 f"prepare it again"
    with pytest.raises(BadDataError, match="gone.jpg is missing"):
        BadFiles("raise").present([tmp_path / "gone.jpg"], "split.txt", "id 2")
    bad.require_any(1, "folder", "image")
    with pytest.raises(BadDataError, match=r"folder: no usable image \(1 bad file\(s\) skipped"):
        bad.require_any(0, "folder", "image")


def test_data_fingerprint_is_order_free_and_counts_splits():
    a = data_fingerprint({"train": ["b.jpg", "a.jpg"], "test": ["c.jpg"]})
    b = data_fingerprint({"test": ["c.jpg"], "train": ["a.jpg", "b.jpg"]})
    c = data_fingerprint({"train": ["a.jpg", "b.jpg"], "test": ["d.jpg"]})
    assert a == b and a != c and a["counts"] == {"test": 1, "train": 2}


def _voc_run(tmp_path, capsys, *extra):
    from benchmarks.runner.cli import main

    code = main(["--preset", "detection_smoke", "--dataset", "voc07", "--data-root",
                 str(tmp_path), "--out", str(tmp_path / "run"), "--no-progress", *extra])
    return code, capsys.readouterr()


def test_runner_exits_2_with_one_line_naming_the_file_before_training(tmp_path, capsys):
    base = voc(tmp_path)
    (base / "JPEGImages" / "000002.jpg").write_bytes(b"\xff\xd8garbage" * 10)
    code, out = _voc_run(tmp_path, capsys)
    lines = [line for line in out.err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, out.err
    assert lines[0].startswith("error: ") and "000002.jpg" in lines[0]
    assert not (tmp_path / "run" / "cache").exists()          # nothing trained


def test_runner_prints_skipped_files_and_records_them(tmp_path, capsys):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset

    base = voc(tmp_path)
    (base / "Annotations" / "000001.xml").write_text("<annotation><size>")
    preset = load_preset("detection_smoke", {"dataset": "voc07"},
                         ["data.on_error=skip", "data.clean_size=1", "train.batch_size=1",
                          "defense_options.nft.batch_size=1"])
    runner = MatrixRunner(preset, tmp_path / "run", tmp_path, progress=False)
    adapter, splits, _ = runner.load(0, [])
    out = capsys.readouterr().out
    assert "detection/voc07: skipped 1 bad file(s)" in out and "000001.xml" in out
    assert splits.info["bad_files"] == 1 and "000001.xml" in splits.info["bad_file_list"][0]
    assert splits.info["fingerprint"]["counts"] == {"test": 2, "train": 2}
