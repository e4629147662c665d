"""benchmarks/studies/victim_curve.py: victims are taken from the records that trained them, once each."""
import json

from benchmarks.studies.victim_curve import main, render, trained_victims


def _record(attack, defense, hit, seconds, acc, created, key="k1", epochs=10):
    return {"task": "image", "dataset": "cifar10", "model": "m", "attack": attack,
            "defense": defense, "seed": 0, "status": "ok", "created": created,
            "primary_metric": "clean_acc", "before": {"clean_acc": acc, "asr": 99.0},
            "config": {"train": {"epochs": epochs}},
            "model_cache": {"cache_hit": hit, "cache_key": key},
            "timings_s": {"attack_train": seconds}, "hardware": {"torch_threads": 1},
            "git": {"commit": "abcdef0123"}}


def test_only_trained_victims_once():
    records = [_record("blend", "ft", True, 0.0, 84.0, "2026-12-01T10:05"),
               _record("blend", "nft", False, 360.0, 84.0, "2026-12-01T10:00"),
               _record("blend", "fp", False, 400.0, 84.0, "2026-12-01T11:00"),  # retrained, same key
               _record("sig", "nft", False, 120.0, 80.0, "2026-12-01T12:00", key="k2", epochs=5)]
    rows = trained_victims(records)
    assert [(r["attack"], r["minutes"], r["epochs"]) for r in rows] == [("blend", 6.0, 10),
                                                                        ("sig", 2.0, 5)]
    table = render(rows)
    assert "| m | sig | 0 | 5 | 2.0 | 80.00 | 99.00 | 1 | abcdef0 |" in table


def test_cli_refuses_runs_without_trained_victims(tmp_path, capsys):
    path = tmp_path / "run" / "records" / "image" / "r.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_record("blend", "ft", True, 0.0, 84.0, "t")))
    try:
        main([str(tmp_path / "run"), "--out", str(tmp_path / "c")])
    except SystemExit as exit_:
        assert exit_.code == 2
    else:
        raise AssertionError("expected an error")
    assert "no trained victims" in capsys.readouterr().err
