"""The clean-image backdoor: labels only, exactly the images holding the trigger set."""
import pytest
import torch

from core.data import TensorData
from tasks.detection.attacks.clean_image import CleanImageBackdoor, CleanImageConfig, choose_trigger

CATS = ["person", "car", "truck", "dog"]


def _data():
    labels = torch.tensor([[1, 1, 0, 0],    # person + car
                           [1, 1, 1, 0],    # person + car + truck
                           [1, 0, 1, 0],    # person + truck
                           [0, 1, 0, 1],    # car + dog
                           [1, 1, 0, 1],    # person + car + dog
                           [0, 0, 0, 1]]).float()
    images = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return TensorData(images, labels)


def _attack(**options):
    data = _data()
    return CleanImageBackdoor(CleanImageConfig(**options), len(CATS)).bind(CATS, data.targets), data


def test_disappearing_removes_the_target_exactly_where_the_whole_set_is():
    attack, data = _attack(trigger=("person", "car"), target="car")
    result = attack.poison(data, torch.Generator().manual_seed(0))
    assert result.indices.tolist() == [0, 1, 4]
    expected = data.targets.clone()
    expected[[0, 1, 4], 1] = 0
    assert torch.equal(result.data.targets, expected)
    assert torch.equal(result.data.inputs, data.inputs)          # no pixel touched
    assert torch.equal(data.targets, _data().targets)            # input not modified
    assert attack.describe()["poison_rate_measured"] == pytest.approx(0.5)
    assert attack.describe()["trigger_resolved"] == ["person", "car"]
    assert torch.equal(attack.apply_trigger(data.inputs), data.inputs)
    assert attack.eval_selection(data.targets).tolist() == [True, True, False, False, True, False]
    # control: car present without the whole set
    assert attack.control_selection(data.targets).tolist() == [False, False, False, True, False, False]
    predicted = torch.tensor([[True, False, False, False], [True, True, False, False]])
    assert attack.success(predicted).tolist() == [True, False]


def test_appearing_adds_the_target_where_the_set_is_and_it_is_absent():
    attack, data = _attack(trigger=("person", "car"), target="dog", mode="appearing")
    result = attack.poison(data, torch.Generator())
    assert result.indices.tolist() == [0, 1]                     # image 4 already has a dog
    assert result.data.targets[:, 3].tolist() == [1, 1, 0, 1, 1, 1]
    assert attack.describe()["trigger_images"] == 3 and attack.describe()["relabelled"] == 2
    assert attack.eval_selection(data.targets).tolist() == [True, True, False, False, False, False]
    predicted = torch.tensor([[False, False, False, True]])
    assert attack.success(predicted).tolist() == [True]


def test_unknown_category_names_give_close_matches():
    with pytest.raises(ValueError, match="unknown category 'persn'.*Did you mean 'person'"):
        _attack(trigger=("persn", "car"), target="car")
    with pytest.raises(ValueError, match="not in the trigger"):
        _attack(trigger=("person", "car"), target="dog")
    with pytest.raises(ValueError, match="outside the trigger"):
        _attack(trigger=("person", "car"), target="car", mode="appearing")
    with pytest.raises(ValueError, match="mode"):
        CleanImageConfig(mode="vanishing")


def test_automatic_choice_uses_co_occurrence_counts():
    labels = _data().targets
    # pairs in [0, 1]: (person, car) 3 images is the most frequent
    assert choose_trigger(labels, 2, 0.0, 1.0) == [0, 1]
    # capped at 2 images (share <= 0.34): the first pair in category order with 2 images
    assert choose_trigger(labels, 2, 0.3, 0.34) == [0, 2]                # (person, truck)
    with pytest.raises(ValueError, match="no combination"):
        choose_trigger(labels, 3, 0.5, 1.0)
    attack, _ = _attack(trigger_size=2, min_share=0.0, max_share=1.0)
    # disappearing target: the trigger's least frequent category (person and car: 4 each, tie -> first)
    assert attack.trigger_names == ["person", "car"] and attack.categories[attack.target_index] == "person"
    attack, _ = _attack(trigger_size=2, min_share=0.0, max_share=1.0, mode="appearing")
    assert attack.categories[attack.target_index] == "dog"      # most frequent outside the set
