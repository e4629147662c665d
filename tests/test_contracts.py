"""Contract tests over the registries (the contracts: tests/contracts.py). Every registered model,
attack and defense is collected from the registries, so a new one is tested without editing
any list here; tests/test_registering_new_parts.py shows it with parts registered in a test."""
import pytest

import toy_tasks  # noqa: F401  (the toy multi-label and box-detection tasks of issue 13)
from contracts import (attack_cases, check_attack, check_defense, check_model, defense_cases,
                       model_cases, toy_task_names)


@pytest.mark.parametrize("namespace,name", model_cases(),
                         ids=[f"{ns or 'global'}/{n}" for ns, n in model_cases()])
def test_every_registered_model_builds_forwards_and_takes_masks(namespace, name):
    check_model(namespace, name)


@pytest.mark.parametrize("namespace,name", attack_cases(),
                         ids=[f"{ns}/{n}" for ns, n in attack_cases()])
def test_every_registered_attack_poisons_and_triggers_its_tasks_toy_data(namespace, name):
    check_attack(namespace, name)


@pytest.mark.parametrize("name", defense_cases())
@pytest.mark.parametrize("task", toy_task_names())
def test_every_registered_defense_runs_or_refuses_before_training(name, task):
    outcome = check_defense(name, task)
    assert outcome == "ran" or outcome.startswith("refused: ")
