"""The paper's tables shipped in benchmarks/reporting/reference/paper/ load to exactly the transcription
in ../shared/paper (every value, with its provenance), and map onto the suite's names."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks.reporting.reference import REFERENCE_DIR, load_csv_table, load_references, matches

SHARED = Path(__file__).resolve().parents[2] / "shared" / "paper"


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/paper is not beside the checkout")
def test_loaded_values_equal_the_transcription():
    shipped = sorted((REFERENCE_DIR / "paper").glob("*.csv"))
    assert [p.name for p in shipped] == sorted(p.name for p in SHARED.glob("*.csv"))
    total = 0
    for path in shipped:
        source = _rows(SHARED / path.name)
        assert _rows(path) == source                      # provenance columns kept as they are
        table = load_csv_table(path)
        assert [e.value for e in table.entries] == [float(r["value"]) for r in source]
        assert all(e.note.endswith(r["note"]) for e, r in zip(table.entries, source))
        total += len(table.entries)
    assert total == 1526


def test_names_are_mapped_to_the_suite():
    tables = {t.file: t for t in load_references()}
    t1 = tables["paper/main_table1_cifar10_imagenet.csv"].entries
    cell = {"task": "image", "dataset": "cifar10", "model": "airbench_cpu", "attack": "blend"}
    before = [e for e in t1 if matches(e, {**cell, "defense": "ft"}, exact_attack=True)
              and e.stage == "before"]
    assert {e.metric for e in before} == {"asr", "clean_acc"}
    nft = {e.metric: e.value for e in t1 if e.stage == "after"
           and matches(e, {**cell, "defense": "nft"}, exact_attack=True)}
    assert set(nft) == {"asr", "clean_acc"}
    supp6 = tables["paper/supp_table6_more_defenses.csv"].entries
    assert any(e.defense == "ft" for e in supp6) and not any(e.defense == "vanilla_ft" for e in supp6)
    # an ablation row (with a setting) never stands beside a default cell
    t9 = tables["paper/supp_table9_poison_rates.csv"].entries
    assert t9 and not any(matches(e, {**cell, "attack": "badnets", "defense": "nft"}) for e in t9)
    assert any(matches(e, {**cell, "attack": e.attack, "defense": e.defense or "nft",
                           "setting": e.setting}) for e in t9)
    # the paper's "ModelNet" (PointNet++) stands beside our ModelNet10 with any model; the
    # paper's model is kept in the note; Avg. Drop rows stand beside no cell
    t4 = tables["paper/main_table4_point_cloud.csv"].entries
    assert any(matches(e, {"task": "pointcloud", "dataset": "modelnet10", "model": "pointnet2",
                           "attack": "pointba_i", "defense": "nft"}) for e in t4)
    assert all(e.note.startswith("paper model: pointnet++") for e in t4)
    assert all(not matches(e, {**cell, "defense": "nft"}) for e in t1 if e.stage == "avg_drop")
