"""The baseline defenses (core/defenses) on the synthetic backdoor task.

Two setups, each built once per session:

* ``blended``: tiny CNN (width 8) on 16×16 synthetic images with a 20 % Blend backdoor (ACC
  ~98 %, ASR ~93 %). The post-training defenses purify it with its 100-sample clean split and
  budgets far below their defaults (seconds on 2 CPU cores), chosen so that the backdoor drops
  on every seed we tried; thresholds below leave a margin over those runs.
* ``patched``: the training-time defenses (ABL, CBD) rest on the trigger being learned *faster*
  than the clean task. On the default synthetic task the clean prototypes are learned as fast
  as the trigger (ABL's isolated 1 % held no poisoned sample in our runs), so they run on a
  harder clean task (class_separation 0.3) with the patch attack, where the premise holds.
"""
import copy
import dataclasses
import importlib
import json
from types import SimpleNamespace

import pytest
import torch

from core.config import ConfigError
from core.data import TensorData
from core.defenses.base import TrainingTimeDefense, UnsupportedDefenseError
from core.registry import DEFENSES, MODELS, TASKS
from core.seeding import make_generator, seed_everything
from core.training import TrainConfig, fit

importlib.import_module("tasks.synthetic")    # registers the task, its models and attacks
CPU = torch.device("cpu")
# every registered defense, read from the registry (NFT and its variants have their own tests)
POST = [n for n in DEFENSES.names() if not DEFENSES.get(n).training_time and "nft" not in n]
TRAINING_TIME = [n for n in DEFENSES.names() if DEFENSES.get(n).training_time]

# budgets that remove most of the Blend backdoor here (the defaults are the papers')
EFFECTIVE = {
    "ft": {"epochs": 20, "batch_size": 32},
    "fp": {"epochs": 10, "batch_size": 32},
    "anp": {"iterations": 400, "batch_size": 16},          # the official lr 0.2
    "ibau": {"batch_size": 25, "rounds": 4},
    "awm": {"batch_size": 32, "outer": 6, "inner": 2, "lr": 0.05},
    "ftsam": {"epochs": 15, "batch_size": 32},
    "nad": {"epochs": 15, "teacher_epochs": 10, "batch_size": 32},
    "pam": {"epochs": 20, "batch_size": 32},
}
# the smallest budgets that exercise every stage (determinism and contract checks)
TINY = {
    "ft": {"epochs": 1, "batch_size": 32},
    "fp": {"epochs": 1, "batch_size": 32},
    "anp": {"iterations": 4, "batch_size": 16},
    "ibau": {"batch_size": 50, "rounds": 1, "fixed_point_iterations": 2},
    "awm": {"batch_size": 50, "outer": 1, "inner": 1},
    "ftsam": {"epochs": 1, "batch_size": 32},
    "rnp": {"batch_size": 50, "unlearning_epochs": 1, "recovering_epochs": 1},
    "nad": {"epochs": 1, "teacher_epochs": 1, "batch_size": 32},
    "mcr": {"epochs": 1, "curve_epochs": 1, "batch_size": 32},
    "pam": {"epochs": 1, "batch_size": 32},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and a second one only contends on busy machines."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(name, options, model, adapter, clean, seed=0):
    defense = DEFENSES.get(name).from_options({**options, "progress": False})
    return defense.purify(model, adapter, clean, CPU, seed)


def _tiny(name):
    """TINY's budget, or the generic one of the contract tests for a defense added since."""
    from contracts import tiny_options

    return TINY.get(name) or tiny_options(DEFENSES.get(name).Config)


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_same_state(model, snapshot):
    state = model.state_dict()
    assert list(state) == list(snapshot)
    for key, value in snapshot.items():
        assert torch.equal(state[key], value), key


def _assert_contract(result, model):
    """Same class, same state_dict keys in the same order, a time, JSON-able diagnostics."""
    assert type(result.model) is type(model)
    assert list(result.model.state_dict()) == list(model.state_dict())
    assert all(not k.startswith("parametrizations") for k in result.model.state_dict())
    assert result.wall_time_s > 0
    json.dumps(result.diagnostics, allow_nan=False)


@pytest.fixture(scope="session")
def blended():
    adapter = TASKS.get("synthetic")()
    splits = adapter.load_splits("synthetic", None, {"train_size": 1500, "test_size": 300,
                                                     "clean_per_class": 10}, seed=0)
    attack = adapter.build_attack("blend", {"poison_rate": 0.2}, splits)
    poison = attack.poison(splits.train, make_generator(0))
    seed_everything(0)
    model = MODELS.get("tiny_cnn", namespace="synthetic")(num_classes=10, width=8)
    fit(model, adapter, poison.data, TrainConfig(epochs=8, batch_size=64, progress=False), CPU, 0)
    before = adapter.evaluate(model, splits.test, attack, CPU)
    assert before["asr"] > 85 and before["clean_acc"] > 90, before
    return SimpleNamespace(adapter=adapter, splits=splits, attack=attack, model=model,
                           before=before, snapshot=_snapshot(model), results={})


#: defenses judged by the median of several seeds. ANP prunes the units whose mask ends at or
#: below a hard threshold; on this 8-channel model one unit more or less flips the outcome, and
#: which unit crosses 0.2 changes with the last bits of the CPU's float32 kernels: single runs
#: gave 12.6-55.6 % ASR over seeds 0-2 with the default kernels and with oneDNN/ATen capped at
#: AVX2 on one machine, and 79.6 % for one seed at the earlier budget (issue 23). The median of
#: three seeds was 42.6 % in both set-ups: that is the defense's behaviour, one draw is not.
MEDIAN_OF_SEEDS = {"anp": (0, 1, 2)}


def _effective(blended, name):
    """The EFFECTIVE run of ``name`` on the Blend model, computed once per session (for the
    defenses in MEDIAN_OF_SEEDS: the run with the median ASR over those seeds)."""
    if name not in blended.results:
        runs = [_run(name, EFFECTIVE[name], blended.model, blended.adapter, blended.splits.clean,
                     seed) for seed in MEDIAN_OF_SEEDS.get(name, (0,))]
        asr = [blended.adapter.evaluate(r.model, blended.splits.test, blended.attack, CPU)["asr"]
               for r in runs]
        blended.results[name] = runs[sorted(range(len(runs)), key=asr.__getitem__)[len(runs) // 2]]
    return blended.results[name]


@pytest.fixture(scope="session")
def patched():
    adapter = TASKS.get("synthetic")()
    splits = adapter.load_splits("synthetic", None, {
        "train_size": 1500, "test_size": 300, "clean_per_class": 10, "class_separation": 0.3},
        seed=0)
    attack = adapter.build_attack("patch", {"poison_rate": 0.1}, splits)
    poison = attack.poison(splits.train, make_generator(0))
    seed_everything(0)
    fresh = MODELS.get("tiny_cnn", namespace="synthetic")(num_classes=10, width=8)
    config = TrainConfig(epochs=6, batch_size=64, progress=False)
    plain = copy.deepcopy(fresh)
    fit(plain, adapter, poison.data, config, CPU, 0)       # what attack training gives
    before = adapter.evaluate(plain, splits.test, attack, CPU)
    assert before["asr"] > 90, before
    return SimpleNamespace(adapter=adapter, splits=splits, attack=attack, poison=poison,
                           fresh=fresh, config=config, before=before)


# -- registry and configs -----------------------------------------------------------------------
@pytest.mark.parametrize("name", POST + TRAINING_TIME)
def test_every_defense_is_registered_with_a_frozen_typed_config(name):
    cls = DEFENSES.get(name)
    assert cls.name == name
    assert dataclasses.is_dataclass(cls.Config) and cls.Config.__dataclass_params__.frozen
    defense = cls.from_options(None)
    assert defense.describe()["name"] == name and "progress" in defense.describe()
    assert cls.training_time == (name in TRAINING_TIME)
    assert issubclass(cls, TrainingTimeDefense) == (name in TRAINING_TIME)
    with pytest.raises(ConfigError, match="unknown option 'lrr'"):
        cls.from_options({"lrr": 0.1})


def test_paper_defaults():
    cfg = {n: DEFENSES.get(n).Config() for n in POST + TRAINING_TIME}
    assert (cfg["ft"].lr, cfg["ftsam"].rho, cfg["ftsam"].label_smoothing) == (0.01, 2.0, 0.1)
    assert (cfg["anp"].eps, cfg["anp"].alpha, cfg["anp"].lr, cfg["anp"].iterations,
            cfg["anp"].threshold) == (0.4, 0.2, 0.2, 2000, 0.2)
    assert (cfg["ibau"].lr, cfg["ibau"].rounds) == (1e-3, 5)
    assert (cfg["awm"].lr, cfg["awm"].outer, cfg["awm"].inner, cfg["awm"].alpha,
            cfg["awm"].gamma, cfg["awm"].trigger_norm) == (1e-2, 20, 5, 0.9, 1e-8, 1000.0)
    assert (cfg["rnp"].unlearning_lr, cfg["rnp"].clean_threshold, cfg["rnp"].recovering_lr,
            cfg["rnp"].recovering_epochs, cfg["rnp"].threshold) == (0.01, 0.2, 0.2, 20, 0.2)
    assert (cfg["nad"].betas, cfg["nad"].p, cfg["mcr"].t) == ((500.0, 1000.0, 1000.0), 2.0, 0.1)
    assert (cfg["abl"].gamma, cfg["abl"].isolation_ratio, cfg["fp"].max_acc_drop) == \
        (0.5, 0.01, 0.10)


@pytest.mark.parametrize("name, options, error", [
    ("ft", {"lr": 0}, ValueError),
    ("ft", {"lr_schedule": "step"}, ValueError),            # no milestones
    ("ft", {"lr_schedule": "linear"}, ConfigError),
    ("fp", {"max_acc_drop": 0.0}, ValueError),
    ("fp", {"step": 0}, ValueError),
    ("anp", {"eps": -0.1}, ValueError),
    ("anp", {"bn_mode": "test"}, ConfigError),
    ("anp", {"threshold": 1.5}, ValueError),
    ("ibau", {"portion": 2.0}, ValueError),
    ("ibau", {"rounds": 0}, ValueError),
    ("awm", {"alpha": 1.5}, ValueError),
    ("awm", {"trigger_norm": 0}, ValueError),
    ("ftsam", {"rho": -1.0}, ValueError),
    ("ftsam", {"label_smoothing": 1.5}, ValueError),
    ("rnp", {"clean_threshold": 2.0}, ValueError),
    ("rnp", {"max_grad_norm": -1.0}, ValueError),
    ("nad", {"betas": []}, ValueError),
    ("nad", {"layers": ["a"]}, ValueError),                  # one layer for three betas
    ("mcr", {"num_bends": 2}, ValueError),
    ("mcr", {"t": 1.5}, ValueError),
    ("abl", {"isolation_ratio": 0.0}, ValueError),
    ("abl", {"gamma": -1.0}, ValueError),
    ("cbd", {"backdoor_epochs": 0}, ValueError),
    ("cbd", {"epochs": "many"}, ConfigError),
    ("pam", {"rho": -0.5}, ValueError),
])
def test_bad_options_raise(name, options, error):
    with pytest.raises(error):
        DEFENSES.get(name).from_options(options)


# -- post-training defenses on the Blend backdoor -----------------------------------------------
@pytest.mark.parametrize("name", sorted(EFFECTIVE))
def test_defense_lowers_asr_and_keeps_the_model_contract(blended, name):
    result = _effective(blended, name)
    _assert_same_state(blended.model, blended.snapshot)  # the input model is untouched
    _assert_contract(result, blended.model)
    after = blended.adapter.evaluate(result.model, blended.splits.test, blended.attack, CPU)
    assert after["asr"] < 60.0 and after["asr"] < blended.before["asr"] - 30, (name, after)
    assert after["clean_acc"] > 50.0, (name, after)


@pytest.mark.parametrize("name", POST)
def test_same_seed_same_result_other_seed_other_result(blended, name):
    def fingerprint(seed):
        result = _run(name, _tiny(name), blended.model, blended.adapter, blended.splits.clean,
                      seed)
        return result.model.state_dict(), json.dumps(result.diagnostics)

    (state_a, diag_a), (state_b, diag_b) = fingerprint(3), fingerprint(3)
    _assert_same_state(blended.model, blended.snapshot)  # the input model is untouched
    assert diag_a == diag_b
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    state_c, diag_c = fingerprint(4)
    assert diag_c != diag_a or any(not torch.equal(state_a[k], state_c[k]) for k in state_a)


def test_fp_prunes_least_active_features_and_keeps_them_pruned(blended):
    result = _effective(blended, "fp")
    diag = result.diagnostics
    classifier = dict(result.model.named_modules())[diag["layer"]]
    assert diag["layer"] == "20" and diag["features"] == classifier.weight.shape[1]
    assert 0 < diag["pruned"] < diag["features"]
    # the classifier reads nothing from the pruned features, even after fine-tuning
    assert classifier.weight[:, diag["pruned_features"]].abs().max() == 0
    kept = [i for i in range(diag["features"]) if i not in diag["pruned_features"]]
    assert classifier.weight[:, kept].abs().sum(dim=0).min() > 0
    # pruning stopped before the first count whose clean accuracy fell by ≥ 10 %
    base = diag["acc_curve"][0][1]
    assert all((base - acc) / base < 0.10 for count, acc in diag["acc_curve"][1:]
               if count <= diag["pruned"])


def test_anp_zeroes_exactly_the_low_mask_neurons_of_the_original(blended):
    original = blended.model
    result = _effective(blended, "anp")
    masks, purified = result.diagnostics["masks"], result.model.state_dict()
    assert result.diagnostics["pruned"] == sum(v <= 0.2 for m in masks.values() for v in m) > 0
    assert set(masks) == {"0", "3", "6", "9", "12", "15"}      # every conv, the first included
    layer = next(name for name, m in masks.items() if min(m) <= 0.2)
    norm = str(int(layer) + 1)               # tiny_cnn: conv i is followed by its BN at i + 1
    pruned = torch.tensor(masks[layer]) <= 0.2
    gamma, original_gamma = purified[f"{norm}.weight"], original.state_dict()[f"{norm}.weight"]
    assert (gamma[pruned] == 0).all()
    assert torch.equal(gamma[~pruned], original_gamma[~pruned])
    # β and the running statistics are the original's (ANP zeroes γ only)
    for key in (f"{norm}.bias", f"{norm}.running_mean", f"{norm}.running_var"):
        assert torch.equal(purified[key], original.state_dict()[key])


def test_rnp_stops_unlearning_at_the_threshold_and_prunes_by_its_masks(blended):
    """RNP does NOT remove the Blend backdoor of this toy: unlearning drops the clean accuracy
    below 20 % within a few epochs, and the recovered masks single out first- and last-layer
    neurons that carry clean features, so the pruned model loses clean accuracy (ACC 97.7 →
    30 %, ASR 92.6 → 93 % with the default recovery on seed 0). We check what RNP does rather
    than what it achieves here: the stop rule and the pruning of the original model."""
    result = _run("rnp", {"batch_size": 32, "recovering_epochs": 3}, blended.model,
                  blended.adapter, blended.splits.clean)
    diag = result.diagnostics
    accs = diag["unlearning_acc_curve"]
    assert accs[-1] <= 0.2 and all(acc > 0.2 for acc in accs[:-1])
    assert len(diag["unlearning_loss_curve"]) == len(accs) * (100 // 32)
    masks = diag["masks"]
    assert diag["pruned"] == sum(v <= 0.2 for m in masks.values() for v in m)
    assert set(masks) == {"0", "3", "6", "9", "12", "15"}      # every conv, the first included
    original = blended.model.state_dict()
    for name, values in masks.items():
        gamma = result.model.state_dict()[f"{int(name) + 1}.weight"]
        low = torch.tensor(values) <= 0.2
        assert (gamma[low] == 0).all()
        assert torch.equal(gamma[~low], original[f"{int(name) + 1}.weight"][~low])
    _assert_contract(result, blended.model)


def test_mcr_endpoints_and_the_documented_t(blended):
    """MCR at the design's t = 0.1 stays next to the backdoored end point on this toy (ASR ~98 %
    in our runs); farther along the trained curve the backdoor fades (t = 0.5: ASR ~50 %). At
    t = 0 the repaired model has exactly the input model's parameters."""
    clean, adapter = blended.splits.clean, blended.adapter
    start = _run("mcr", {**TINY["mcr"], "t": 0.0}, blended.model, adapter, clean)
    for (name, param), (_, original) in zip(start.model.named_parameters(),
                                            blended.model.named_parameters()):
        assert torch.equal(param, original), name
    _assert_contract(start, blended.model)
    options = {"epochs": 10, "curve_epochs": 20, "batch_size": 32}
    asr = {t: adapter.evaluate(_run("mcr", {**options, "t": t}, blended.model, adapter,
                                    clean).model, blended.splits.test, blended.attack, CPU)["asr"]
           for t in (0.1, 0.5)}
    assert asr[0.1] > 80.0 and asr[0.5] < asr[0.1] - 20, asr


# -- what defenses cannot do --------------------------------------------------------------------
def test_input_perturbing_defenses_refuse_discrete_inputs(blended):
    tokens = TensorData(torch.randint(0, 20, (40, 7)), torch.arange(40) % 10)
    for name in ("ibau", "awm"):
        with pytest.raises(UnsupportedDefenseError, match="not continuous"):
            _run(name, {"batch_size": 8}, blended.model, blended.adapter, tokens)


def test_nad_refuses_a_model_without_feature_maps(blended):
    mlp = MODELS.get("tiny_mlp", namespace="synthetic")(num_classes=10)
    with pytest.raises(UnsupportedDefenseError, match="feature_layers finds 0"):
        _run("nad", TINY["nad"], mlp, blended.adapter, blended.splits.clean)


def test_ftsam_label_smoothing_needs_the_number_of_classes(blended):
    adapter = copy.copy(blended.adapter)
    adapter.num_classes = None                # a task without class labels
    with pytest.raises(UnsupportedDefenseError, match="label_smoothing=0"):
        _run("ftsam", TINY["ftsam"], blended.model, adapter, blended.splits.clean)
    _run("ftsam", {**TINY["ftsam"], "label_smoothing": 0.0}, blended.model, adapter,
         blended.splits.clean)


def test_training_time_defenses_refuse_purify(blended):
    for name in TRAINING_TIME:
        with pytest.raises(UnsupportedDefenseError, match="call train"):
            _run(name, {}, blended.model, blended.adapter, blended.splits.clean)


# -- training-time defenses on the patch backdoor -----------------------------------------------
def _train(name, options, setup, config=None, data=None, seed=0):
    defense = DEFENSES.get(name).from_options({**options, "progress": False})
    return defense.train(setup.fresh, setup.adapter, data or setup.poison.data,
                         config or setup.config, CPU, seed)


def test_abl_isolates_poisoned_samples_and_lowers_asr(patched):
    snapshot = _snapshot(patched.fresh)
    result = _train("abl", {"isolation_epochs": 5}, patched)
    _assert_same_state(patched.fresh, snapshot)
    _assert_contract(result, patched.fresh)
    isolated = result.diagnostics["isolated_indices"]
    assert len(isolated) == int(0.01 * len(patched.poison.data))
    poisoned = set(patched.poison.indices.tolist())
    assert sum(i in poisoned for i in isolated) / len(isolated) >= 0.8
    # unlearning is gradient ascent: the loss on the isolated samples rises
    curve = result.diagnostics["unlearning_loss_curve"]
    assert curve[-1] > curve[0]
    after = patched.adapter.evaluate(result.model, patched.splits.test, patched.attack, CPU)
    assert after["asr"] < patched.before["asr"] - 15, (after, patched.before)


def test_cbd_lowers_asr_and_keeps_clean_accuracy(patched):
    snapshot = _snapshot(patched.fresh)
    result = _train("cbd", {"backdoor_epochs": 2}, patched)
    _assert_same_state(patched.fresh, snapshot)
    _assert_contract(result, patched.fresh)
    assert result.diagnostics["weight_mean"] == pytest.approx(1.0, abs=1e-3)
    after = patched.adapter.evaluate(result.model, patched.splits.test, patched.attack, CPU)
    assert after["asr"] < 40.0, (after, patched.before)
    assert after["clean_acc"] > patched.before["clean_acc"] - 15, (after, patched.before)


@pytest.mark.parametrize("name, options", [
    ("abl", {"isolation_epochs": 1, "unlearning_epochs": 1, "isolation_ratio": 0.05}),
    ("cbd", {"backdoor_epochs": 1})])
def test_training_time_defenses_are_deterministic(patched, name, options):
    data = patched.poison.data.subset(torch.arange(300))
    config = TrainConfig(epochs=1, batch_size=64, progress=False)
    runs = [_train(name, options, patched, config, data, seed) for seed in (5, 5, 6)]
    for key, value in runs[0].model.state_dict().items():
        assert torch.equal(value, runs[1].model.state_dict()[key]), key
    assert any(not torch.equal(v, runs[2].model.state_dict()[k])
               for k, v in runs[0].model.state_dict().items())
