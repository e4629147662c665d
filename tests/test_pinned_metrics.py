"""Same seeds, same numbers: the smoke preset's cell gives the metrics recorded at f8af062, before
issue 13's core changes (benchmarks/pinned_metrics.py re-runs the longer pinned configurations:
all twelve defenses on smoke, text smoke, and the old quick image configuration)."""
import json
import tempfile
from pathlib import Path

from benchmarks.pinned_metrics import PINNED, differences, run


def test_smoke_preset_metrics_are_bit_identical_to_the_pinned_ones():
    pinned = json.loads(PINNED.read_text())["smoke_nft"]
    assert pinned, "nothing pinned"
    with tempfile.TemporaryDirectory() as tmp:
        got = run("smoke_nft", Path(tmp), None)
    assert differences(pinned, got) == []
