"""Every plot function writes a non-empty PNG (matplotlib and scikit-learn are test deps)."""
import numpy as np
import pytest

from benchmarks.reporting import plots
from benchmarks.runner.cli import main
from test_aggregate import make_record, write_fixture

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return data.startswith(PNG_MAGIC) and len(data) > 1000


def test_mask_heatmap(tmp_path):
    masks = {"features.1": [1.0, 0.2, 0.7], "features.4": [0.1] * 8, "classifier": [0.9, 0.3]}
    grid = plots.mask_matrix(masks)
    assert grid.shape == (3, 8) and np.isnan(grid[0, 3]) and grid[1, 7] == pytest.approx(0.1)
    assert list(plots.mask_matrix(masks, sort=True)[0, :3]) == [1.0, 0.7, 0.2]
    assert _is_png(plots.mask_heatmap(masks, tmp_path / "m.png", title="t"))
    with pytest.raises(ValueError, match="no masks"):
        plots.mask_heatmap({}, tmp_path / "x.png")


def test_tsne_plot(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    before = rng.normal(size=(30, 16)) + labels[:, None]
    after = rng.normal(size=(30, 16))
    triggered = np.arange(30) >= 24
    assert plots.tsne_embed(before).shape == (30, 2)
    assert _is_png(plots.tsne_plot(before, after, labels, tmp_path / "t.png", triggered))
    with pytest.raises(ValueError, match="same length"):
        plots.tsne_plot(before, after[:5], labels, tmp_path / "x.png")


def test_metric_bars(tmp_path):
    from benchmarks.reporting.aggregate import aggregate_records
    from benchmarks.reporting.summary import load_records

    cells = aggregate_records(load_records(write_fixture(tmp_path / "run"))[0])
    assert _is_png(plots.metric_bars(cells, tmp_path / "b.png"))


def test_plot_cli_draws_bars_heatmaps_and_tsne_from_a_run(tmp_path, capsys):
    from core.record import write_record

    run = tmp_path / "run"
    write_record(run / "records/blend/nft/seed0.json",
                 make_record("blend", "nft", 0, {"clean_acc": 90.0, "asr": 95.0},
                             {"clean_acc": 89.0, "asr": 3.0},
                             masks={"conv2": [1.0, 0.5], "conv3": [0.3, 0.9, 0.1]}))
    rng = np.random.default_rng(1)
    np.savez(run / "records/blend/nft/seed0.features.npz", before=rng.normal(size=(20, 4)),
             after=rng.normal(size=(20, 4)), labels=np.arange(20) % 4,
             triggered=np.arange(20) >= 10)
    assert main(["plot", str(run)]) == 0
    pngs = sorted(p.name for p in (run / "plots").glob("*.png"))
    assert pngs == ["bars-synthetic-synthetic-tiny_cnn.png",
                    "masks-synthetic-synthetic-tiny_cnn-blend-nft-seed0.png",
                    "tsne-synthetic-synthetic-tiny_cnn-blend-nft-seed0.png"]
    assert all(_is_png(run / "plots" / p) for p in pngs)
    assert main(["plot", str(tmp_path / "empty")]) == 2


def test_a_smoke_run_with_saved_features_plots_everything(tmp_path):
    from benchmarks.reporting.features import load_features
    from test_runner import FAST

    out = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(out), *FAST, "--set", "save_features=12"]) == 0
    (npz,) = (out / "records").rglob("seed0.features.npz")
    data = load_features(npz)
    assert data["before"].shape == data["after"].shape and data["before"].shape[0] == 24
    assert data["triggered"].sum() == 12 and data["labels"].shape == (24,)
    assert not (data["before"] == data["after"]).all()
    assert main(["plot", str(out)]) == 0
    names = sorted(p.name.split("-")[0] for p in (out / "plots").glob("*.png"))
    assert names == ["bars", "masks", "tsne"]


def test_bars_show_each_tasks_primary_and_attack_metrics():
    from benchmarks.reporting.aggregate import aggregate_records
    from benchmarks.reporting.plots import bar_metrics
    from test_aggregate import make_record

    text = make_record("trigger_word", "nft", 0, {"clean_bleu": 60.0, "asr": 100.0,
                                                  "attack_bleu": 90.0},
                       {"clean_bleu": 55.0, "asr": 1.0, "attack_bleu": 5.0}, task="text")
    text["primary_metric"] = "clean_bleu"
    text["higher_is_better"] = {"clean_bleu": True, "asr": False, "attack_bleu": False}
    image = make_record("blend", "nft", 0, {"clean_acc": 90.0, "asr": 99.0, "lcr": 1.0},
                        {"clean_acc": 85.0, "asr": 1.0, "lcr": 90.0})
    by_task = {c.key["task"]: c for c in aggregate_records([text, image])}
    assert bar_metrics([by_task["text"]]) == ["clean_bleu", "asr", "attack_bleu"]
    assert bar_metrics([by_task["synthetic"]]) == ["clean_acc", "asr"]
