"""benchmarks/nft_ideal.py on a smoke run: the control reproduces the matrix's NFT cell, and the
ideal variant trains on the clean set plus its triggered copy with true labels."""
from __future__ import annotations

import json

import torch

from benchmarks.studies.nft_ideal import main as ideal_main, with_true_label_triggers
from benchmarks.runner.cli import main
from core.data import TensorData
from test_runner import FAST


def test_ideal_control_of_a_smoke_cell(tmp_path):
    run = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(run), *FAST]) == 0
    out = tmp_path / "ideal"
    assert ideal_main(["--run", str(run), "--attack", "blend", "--out", str(out)]) == 0
    result = json.loads((out / "ideal-blend-seed0.json").read_text())
    control, ideal = result["variants"]
    assert control["after"] == result["record_nft_after"]   # the same NFT as the matrix ran
    assert ideal["samples"] == 2 * control["samples"]
    assert result["nft_config"]["iterations"] == 5


class _Stamp:
    def apply_trigger(self, inputs):
        return inputs + 1.0


def test_triggered_copies_keep_their_true_labels():
    clean = TensorData(torch.zeros(4, 2), torch.tensor([0, 1, 2, 1]))
    both = with_true_label_triggers(clean, _Stamp())
    assert torch.equal(both.targets, torch.tensor([0, 1, 2, 1, 0, 1, 2, 1]))
    assert torch.equal(both.inputs[4:], torch.ones(4, 2)) and torch.equal(both.inputs[:4],
                                                                         torch.zeros(4, 2))
