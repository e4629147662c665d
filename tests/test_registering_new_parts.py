"""The README's "Adding a model / an attack / a defense" recipes, done from this test file: each
part is registered here, nothing else is edited, and the registry-driven contract tests
(tests/contracts.py, tests/test_contracts.py) and the runner pick it up."""
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from benchmarks.runner.matrix import MatrixRunner
from benchmarks.runner.presets import load_preset
from contracts import (attack_cases, check_attack, check_defense, check_model, defense_cases,
                       model_cases)
from core.attack import Attack, AttackConfig
from core.defenses import Defense
from core.defenses.base import Workspace
from core.defenses.configs import FinetuneConfig
from core.defenses.finetune import finetune
from core.registry import ATTACKS, DEFENSES, MODELS


# -- "Adding a model": a factory taking num_classes, registered with the input it takes --------
def toy_cnn(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_classes))


# -- "Adding an attack": a Config dataclass and apply_trigger (poison() is inherited) ----------
@dataclass(frozen=True)
class StripeConfig(AttackConfig):
    """A bright top row (dirty label: a poison_rate share relabelled to target)."""

    rows: int = 1


class Stripe(Attack):
    name = "toy_stripe"
    Config = StripeConfig

    def apply_trigger(self, inputs: torch.Tensor) -> torch.Tensor:
        out = inputs.clone()
        out[..., :self.config.rows, :] = 1.0
        return out


# -- "Adding a defense": a Config with batch_size and run(ws); the base class prepares, seeds
#    and times it -------------------------------------------------------------------------------
@dataclass(frozen=True)
class HeadFinetuneConfig(FinetuneConfig):
    """Fine-tune only the output layer (a weak baseline, here to show the recipe)."""

    epochs: int = 2


class HeadFinetune(Defense):
    name = "toy_head_ft"
    Config = HeadFinetuneConfig

    def run(self, ws: Workspace) -> tuple[nn.Module, dict]:
        head = ws.adapter.output_layers(ws.model, ws.adapter.example_input(ws.data))[-1]
        params = dict(ws.model.named_modules())[head].parameters()
        curve = finetune(ws.model, ws.adapter, ws.data, self.config, ws.generator, params=params,
                         desc="head FT")
        return ws.model, {"layer": head, "loss_curve": curve}


@pytest.fixture
def registered():
    MODELS.register("toy_readme_cnn", toy_cnn, input_shape=(3, 16, 16))
    ATTACKS.register("toy_stripe", Stripe, namespace="synthetic")
    DEFENSES.register("toy_head_ft", HeadFinetune)
    yield
    MODELS.unregister("toy_readme_cnn")
    ATTACKS.unregister("toy_stripe", namespace="synthetic")
    DEFENSES.unregister("toy_head_ft")


def test_registered_parts_are_in_the_contract_tests_cases(registered):
    assert (None, "toy_readme_cnn") in model_cases()
    assert ("synthetic", "toy_stripe") in attack_cases()
    assert "toy_head_ft" in defense_cases()


def test_registered_parts_keep_the_contracts(registered):
    check_model(None, "toy_readme_cnn")
    check_attack("synthetic", "toy_stripe")
    assert check_defense("toy_head_ft", "synthetic") == "ran"


def test_the_runner_runs_them_with_no_other_edit(registered, tmp_path):
    preset = load_preset("smoke", {"model": "toy_readme_cnn", "attacks": ["toy_stripe"],
                                   "defenses": ["toy_head_ft", "ft"]},
                         assignments=[("train.epochs", 2), ("data.train_size", 600),
                                      ("data.test_size", 200), ("defense_options.ft.epochs", 1),
                                      ("defense_options.toy_head_ft.epochs", 1)])
    outcome = MatrixRunner(preset, tmp_path, None, progress=False).run()
    assert not outcome.errors and len(outcome.written) == 2
