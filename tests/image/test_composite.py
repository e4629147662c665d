"""Composite attacks (NFT supp. Table 12) and the Table 9 poison-rate sweep."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import tasks.synthetic  # noqa: F401  (registers tiny_cnn, the CLB surrogate in tests)
from core.data import TensorData
from core.registry import ATTACKS, TASKS
from core.seeding import make_generator
from tasks.image.attacks import composite
from tasks.image.attacks.badnets import BadNets
from tasks.image.attacks.blend import Blend
from tasks.image.attacks.clb import CLB
from tasks.image.attacks.sig import SIG
from tasks.image.attacks.trojan import TrojanAll, TrojanOne

CLASSES, TARGET = 10, 2
NO_PGD = {"clb": {"pgd_steps": 0}}        # CLB's trigger alone: no surrogate needed


def images(n: int, size: int = 16, seed: int = 0) -> TensorData:
    g = make_generator(seed)
    return TensorData(torch.rand(n, 3, size, size, generator=g), torch.arange(n) % CLASSES)


DATA = images(200)


def build(name: str, **options) -> composite.ComposedAttack:
    return ATTACKS.get(name, namespace="image").from_options({"target": TARGET, **options},
                                                             CLASSES)


@pytest.fixture(scope="module")
def adapter():
    return TASKS.get("synthetic")()


def changed_rows(a: torch.Tensor, b: torch.Tensor) -> set[int]:
    return set(torch.nonzero((a != b).flatten(1).any(dim=1)).flatten().tolist())


def test_registered_and_built_from_the_existing_attacks():
    bbt = ATTACKS.get("badnets_blend_trojan", namespace="image")
    sig_clb = ATTACKS.get("sig_clb", namespace="image")
    assert bbt is composite.BadNetsBlendTrojan and sig_clb is composite.SigClb
    assert not bbt.clean_label and sig_clb.clean_label
    assert bbt.Config().poison_rate == 0.1 and sig_clb.Config().poison_rate == 1.0
    parts = build("badnets_blend_trojan").components
    assert [type(p) for p in parts.values()] == [BadNets, Blend, TrojanOne]
    assert all(p.config.target == TARGET and p.config.poison_rate == 0.1 for p in parts.values())
    parts = build("sig_clb").components
    assert [type(p) for p in parts.values()] == [SIG, CLB]
    everyone = build("badnets_blend_trojan", target=0, all_to_all=True).components
    assert isinstance(everyone["trojan"], TrojanAll)


def test_dirty_label_budget_is_shared_equally_and_disjointly():
    attack = build("badnets_blend_trojan")
    result = attack.poison(DATA, make_generator(0))
    idx = result.indices
    assert len(idx) == round(0.1 * len(DATA)) == 20 and torch.equal(idx, torch.unique(idx))
    parts = {k: result.extra[f"{k}_indices"] for k in ("badnets", "blend", "trojan")}
    assert [len(p) for p in parts.values()] == [7, 7, 6]
    union = torch.cat(list(parts.values()))
    assert len(set(union.tolist())) == 20 and torch.equal(torch.sort(union).values, idx)
    old, new = DATA.targets, result.data.targets
    assert (old[idx] != TARGET).all() and (new[idx] == TARGET).all()
    keep = torch.ones(len(DATA), dtype=torch.bool)
    keep[idx] = False
    assert torch.equal(new[keep], old[keep])
    assert changed_rows(result.data.inputs, DATA.inputs) == set(idx.tolist())
    for key, part in parts.items():     # each share carries exactly its own trigger
        expected = attack.components[key].apply_trigger(DATA.inputs[part])
        assert torch.equal(result.data.inputs[part], expected)


def test_all_to_all_relabels_every_share():
    result = build("badnets_blend_trojan", target=0, all_to_all=True).poison(
        DATA, make_generator(0))
    idx = result.indices
    assert torch.equal(result.data.targets[idx], (DATA.targets[idx] + 1) % CLASSES)


def test_poison_is_deterministic_under_a_seed():
    for name, options in (("badnets_blend_trojan", {}), ("sig_clb", NO_PGD)):
        attack = build(name, **options)
        first = attack.poison(DATA, make_generator(3))
        again = attack.poison(DATA, make_generator(3))
        assert first.index_hash == again.index_hash
        assert torch.equal(first.data.inputs, again.data.inputs)
        assert first.extra.keys() == again.extra.keys()
        assert all(torch.equal(first.extra[k], again.extra[k]) for k in first.extra)
        other = attack.poison(DATA, make_generator(4))
        assert other.index_hash != first.index_hash or any(
            not torch.equal(first.extra[k], other.extra[k]) for k in first.extra)


def test_clean_label_budget_is_the_target_class_shared():
    attack = build("sig_clb", poison_rate=0.8, **NO_PGD)
    result = attack.poison(DATA, make_generator(0))
    n_target = int((DATA.targets == TARGET).sum())
    idx = result.indices
    assert len(idx) == round(0.8 * n_target) == 16
    assert (DATA.targets[idx] == TARGET).all()
    assert torch.equal(result.data.targets, DATA.targets)              # clean label
    sig, clb = result.extra["sig_indices"], result.extra["clb_indices"]
    assert (len(sig), len(clb)) == (8, 8) and not set(sig.tolist()) & set(clb.tolist())
    assert changed_rows(result.data.inputs, DATA.inputs) == set(idx.tolist())
    for key, part in (("sig", sig), ("clb", clb)):
        expected = attack.components[key].apply_trigger(DATA.inputs[part])
        assert torch.equal(result.data.inputs[part], expected)
    assert attack.eval_selection(torch.arange(CLASSES)).tolist() == \
        [c != TARGET for c in range(CLASSES)]


def test_sig_clb_prepare_trains_the_clb_surrogate(adapter):
    attack = build("sig_clb", poison_rate=0.5, clb={"surrogate_model": "tiny_cnn",
                                                    "surrogate_epochs": 1, "pgd_steps": 2,
                                                    "surrogate_batch_size": 32})
    with pytest.raises(RuntimeError, match="prepare"):
        attack.poison(DATA, make_generator(0))
    small = DATA.subset(torch.arange(64))
    attack.prepare(small, adapter, torch.device("cpu"), seed=0)
    assert attack.components["clb"].surrogate is not None
    result = attack.poison(DATA, make_generator(0))
    clb = result.extra["clb_indices"]
    stamped = attack.components["clb"].apply_trigger(DATA.inputs[clb])
    assert not torch.equal(result.data.inputs[clb], stamped)          # PGD moved the pixels
    budget = attack.components["clb"].config.pgd_eps + 1e-6
    corners = torch.ones(16, 16, dtype=torch.bool)
    corners[3:-3, :] = corners[:, 3:-3] = False
    inner = ~corners
    assert ((result.data.inputs[clb] - DATA.inputs[clb])[..., inner].abs() <= budget).all()


def test_eval_trigger_mixed_and_single():
    x = torch.cat([DATA.inputs[:7], torch.zeros(1, 3, 16, 16)])
    attack = build("badnets_blend_trojan")
    before = x.clone()
    y = attack.apply_trigger(x)
    assert torch.equal(x, before) and y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    parts = list(attack.components.values())
    for i in range(len(x)):                       # input i gets component i mod 3
        assert torch.equal(y[i:i + 1], parts[i % 3].apply_trigger(x[i:i + 1]))
    for key in ("badnets", "blend", "trojan"):
        single = build("badnets_blend_trojan", eval_trigger=key)
        assert torch.equal(single.apply_trigger(x), single.components[key].apply_trigger(x))
    sig_only = build("sig_clb", eval_trigger="sig")
    assert torch.equal(sig_only.apply_trigger(x), sig_only.components["sig"].apply_trigger(x))
    with pytest.raises(ValueError, match="N, C, H, W"):
        attack.apply_trigger(x[0])


class Always(nn.Module):
    """Predicts ``label`` for every input."""

    def __init__(self, label: int) -> None:
        super().__init__()
        self.label = label

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(len(x), CLASSES)
        out[:, self.label] = 1.0
        return out


def test_per_trigger_metrics(adapter):
    adapter.num_classes = CLASSES
    attack = build("badnets_blend_trojan")
    test = images(50, seed=7)
    metrics = attack.per_trigger_metrics(adapter, Always(TARGET), test, "cpu")
    assert set(metrics) == {"badnets", "blend", "trojan"}
    assert all(m["asr"] == 100.0 and m["lcr"] == 0.0 for m in metrics.values())
    assert all(m["clean_acc"] == 10.0 for m in metrics.values())


def test_component_options_pass_through_and_are_validated():
    attack = build("badnets_blend_trojan", badnets={"alpha": 0.6, "corner": "bottom_right"},
                   blend={"alpha": 0.1})
    assert attack.components["badnets"].config.alpha == 0.6
    assert attack.components["blend"].config.alpha == 0.1
    assert attack.describe()["badnets"] == {"alpha": 0.6, "corner": "bottom_right"}


@pytest.mark.parametrize("name, options, message", [
    ("badnets_blend_trojan", {"badnets": {"poison_rate": 0.3}}, "on the composite"),
    ("badnets_blend_trojan", {"trojan": {"target": 1}}, "on the composite"),
    ("badnets_blend_trojan", {"blend": {"alpa": 0.1}}, "Did you mean 'alpha'"),
    ("badnets_blend_trojan", {"blend": {"alpha": 1.0}}, "blend alpha"),
    ("badnets_blend_trojan", {"eval_trigger": "sig"}, "not one of"),
    ("badnets_blend_trojan", {"poison_rate": 0.0}, "poison_rate"),
    ("sig_clb", {"all_to_all": True}, "clean-label"),
    ("sig_clb", {"clb": {"pgd_eps": -1}}, "pgd_eps"),
    ("sig_clb", {"sig": {"delta": 0}}, "delta"),
    ("sig_clb", {"eval_trigger": "blend"}, "not one of"),
])
def test_bad_configs_raise(name, options, message):
    with pytest.raises(ValueError, match=message):
        build(name, **options)


def test_budget_too_small_to_split():
    tiny = images(20)
    with pytest.raises(ValueError, match="cannot be split"):
        build("badnets_blend_trojan").poison(tiny, make_generator(0))   # 2 samples, 3 triggers
    with pytest.raises(ValueError, match="no sample of the target class"):
        build("sig_clb", **NO_PGD).poison(
            TensorData(tiny.inputs, torch.zeros(20, dtype=torch.long)), make_generator(0))


# -- supp. Table 9: poison-rate sweeps from the command line -----------------------------------
TABLE9 = {"badnets": [0.25, 0.35, 0.5], "trojan_one": [0.25, 0.35, 0.5],
          "wanet": [0.25, 0.35, 0.5], "lira": [0.25, 0.35, 0.5], "sig": [0.75, 0.85, 0.9]}


def test_table9_sweep_loads_validates_and_every_rate_poisons(tmp_path):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.sweeps import expand

    name, spec, runs = expand("poison_rate_table9", "quick", {"attacks": ["blend"]})
    assert name == "poison_rate_table9" and spec.task == "image" and len(runs) == 3
    for i, run in enumerate(runs):
        preset = run.preset
        assert preset.attacks == list(TABLE9)                  # the sweep fixes the attacks
        rates = {a: preset.attack_options[a]["poison_rate"] for a in TABLE9}
        assert rates == {a: values[i] for a, values in TABLE9.items()}
        MatrixRunner(preset, tmp_path / run.name, None, progress=False).validate()
        data = images(300, size=8)
        for attack_name in preset.attacks:                       # every setting fits the data
            attack = ATTACKS.get(attack_name, namespace="image").from_options(
                preset.attack_options[attack_name], CLASSES)
            if attack_name == "lira":       # its trigger needs a trained generator
                assert attack.config.poison_rate == rates["lira"]
                continue
            result = attack.poison(data, make_generator(0))
            expected = (round(rates[attack_name] * 30) if attack_name == "sig"
                        else round(rates[attack_name] * 300))
            assert len(result.indices) == expected


def test_single_poison_rate_from_the_command_line(tmp_path):
    from benchmarks.runner.matrix import MatrixRunner
    from benchmarks.runner.presets import load_preset

    preset = load_preset("quick", {"attacks": ["badnets", "badnets_blend_trojan"]},
                         ["attack_options.badnets.poison_rate=0.25",
                          "attack_options.badnets_blend_trojan.eval_trigger=blend",
                          "attack_options.badnets_blend_trojan.badnets.alpha=0.6"])
    MatrixRunner(preset, tmp_path, None, progress=False).validate()
    assert preset.attack_options["badnets"] == {"poison_rate": 0.25}
    attack = build("badnets_blend_trojan", **preset.attack_options["badnets_blend_trojan"])
    assert attack.config.eval_trigger == "blend"
    assert attack.components["badnets"].config.alpha == 0.6
