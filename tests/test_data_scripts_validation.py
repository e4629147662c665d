"""data_scripts validate whole splits at preparation: every id of every split file exists, and
an empty split is an error naming the split and the folder (nothing is installed)."""
from __future__ import annotations

import shutil

import pytest

from bad_inputs_corpus import append_line, tiny_imagenet, ucf, voc
from data_scripts import tiny_imagenet as tiny_script
from data_scripts import ucf101 as ucf_script
from data_scripts import voc as voc_script
from data_scripts.prepare import run


def _prepare(script, capsys, *args):
    code = run(script.main, list(args))
    return code, capsys.readouterr().err


def test_voc_split_naming_a_missing_image_after_the_first(tmp_path, capsys):
    base = voc(tmp_path / "src")
    append_line(base / "ImageSets" / "Main" / "trainval.txt", "009999")
    code, err = _prepare(voc_script, capsys, "--data-root", str(tmp_path / "data"), "--year",
                         "2007", "--from-folder", str(tmp_path / "src" / "voc2007"))
    assert code == 1 and "trainval.txt:4: id 009999" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data" / "voc2007").exists()


def test_voc_empty_split_names_split_and_folder(tmp_path, capsys):
    base = voc(tmp_path / "src")
    (base / "ImageSets" / "Main" / "test.txt").write_text("\n")
    code, err = _prepare(voc_script, capsys, "--data-root", str(tmp_path / "data"), "--year",
                         "2007", "--from-folder", str(tmp_path / "src" / "voc2007"))
    assert code == 1 and "empty split(s): test" in err and "ImageSets/Main" in err


def test_tiny_imagenet_with_an_empty_train_folder_is_not_prepared(tmp_path, capsys):
    base = tiny_imagenet(tmp_path / "src")
    for wnid in ("n01", "n02"):
        shutil.rmtree(base / "train" / wnid / "images")
        (base / "train" / wnid / "images").mkdir()
        (base / "train" / wnid / f"{wnid}_boxes.txt").write_text("")   # as the release has
    code, err = _prepare(tiny_script, capsys, "--data-root", str(tmp_path / "data"),
                         "--from-folder", str(base))
    assert code == 1 and "empty split(s): train" in err
    assert not (tmp_path / "data" / "tiny_imagenet" / ".prepared.json").exists()


@pytest.mark.parametrize("split", [1, 3])
def test_ucf101_every_line_of_every_split_file_is_checked(tmp_path, capsys, split):
    pytest.importorskip("av")
    base = ucf(tmp_path / "src")
    lists = base / "ucfTrainTestlist"
    for n in (2, 3):
        for kind in ("trainlist", "testlist"):
            shutil.copy(lists / f"{kind}01.txt", lists / f"{kind}{n:02d}.txt")
    append_line(lists / f"trainlist{split:02d}.txt", "Biking/v_Biking_g42_c01.avi 2")
    code, err = _prepare(ucf_script, capsys, "--data-root", str(tmp_path / "data"),
                         "--from-folder", str(base))
    assert code == 1 and f"trainlist{split:02d}.txt:5" in err and "v_Biking_g42_c01.avi" in err
