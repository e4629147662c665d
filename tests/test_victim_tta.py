"""benchmarks/studies/victim_tta.py: the TTA levels are airbench94's, and level ``none`` is the
suite's own evaluation of the cached victim."""
from __future__ import annotations

import json

import pytest
import torch

from benchmarks.runner.cli import main
from benchmarks.studies.victim_tta import main as tta_main, tta_logits
from test_runner import FAST


class _Corner(torch.nn.Module):
    """'Logits' = the top row's first two pixels of channel 0: sensitive to flips and shifts."""

    def forward(self, x):
        return x[:, 0, 0, :2]


def test_levels_average_the_mirrored_and_shifted_views():
    x = torch.arange(16.0).view(1, 1, 4, 4)        # row r, column c holds 4r + c
    model = _Corner()
    assert torch.equal(tta_logits(model, x, "none"), torch.tensor([[0.0, 1.0]]))
    # mirror: the top row reads 3, 2
    assert torch.equal(tta_logits(model, x, "flip"), torch.tensor([[1.5, 1.5]]))
    # 1-px reflect padding: the up-left window's top row is row 1 reflected (5, 4, 5, 6; mirrored
    # 6, 5, 4, 5), the down-right window's is row 1 from column 1 (5, 6, 7, 6; mirrored 6, 7, 6, 5)
    up_left = 0.5 * (torch.tensor([5.0, 4.0]) + torch.tensor([6.0, 5.0]))
    down_right = 0.5 * (torch.tensor([5.0, 6.0]) + torch.tensor([6.0, 7.0]))
    expected = 0.5 * torch.tensor([1.5, 1.5]) + 0.25 * up_left + 0.25 * down_right
    assert torch.allclose(tta_logits(model, x, "flip_translate"), expected[None])


def test_an_invariant_model_is_unchanged_by_tta():
    class Mean(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))
    x = torch.ones(3, 2, 8, 8) * torch.tensor([1.0, 2.0])[None, :, None, None]
    for level in ("none", "flip", "flip_translate"):
        assert torch.allclose(tta_logits(Mean(), x, level), torch.tensor([[1.0, 2.0]] * 3))
    with pytest.raises(ValueError, match="unknown TTA level"):
        tta_logits(Mean(), x, "ten_crop")


def test_level_none_is_the_matrix_evaluation_of_the_cached_victim(tmp_path):
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    out = tmp_path / "tta"
    assert tta_main(["--run", str(run), "--attack", "blend", "--out", str(out)]) == 0
    result = json.loads((out / "tta-blend-seed0.json").read_text())
    none, flip, both = result["levels"]
    assert none["level"] == "none" and both["level"] == "flip_translate"
    assert none["clean_acc"] == pytest.approx(result["before_as_recorded"]["clean_acc"])
    assert none["asr"] == pytest.approx(result["before_as_recorded"]["asr"])
    assert all(0.0 <= row["clean_acc"] <= 100.0 for row in (flip, both))
    assert tta_main(["--run", str(run), "--attack", "blend", "--out", str(out), "--levels",
                     "flip", "--clean-only"]) == 0
    only = json.loads((out / "tta-blend-seed0.json").read_text())["levels"]
    assert [row["level"] for row in only] == ["flip"] and only[0]["asr"] is None
    assert only[0]["clean_acc"] == pytest.approx(flip["clean_acc"])
    with pytest.raises(SystemExit):
        tta_main(["--run", str(run), "--attack", "blend", "--levels", "ten_crop"])
