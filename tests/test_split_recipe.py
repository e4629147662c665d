"""The class-balanced split recipe (clean set held out first, then the attacker's and the test
subsets) chooses the same indices in every adapter that uses it, pinned on small label vectors.

The pins were taken from the adapters' own split code before it moved into ``core.data``; each
fake dataset stores its sample's index in its inputs, so the chosen indices are read back from
the splits the adapters return.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import tasks  # noqa: F401  (registers the tasks)
from core.registry import DATASETS, TASKS

LABELS = [0, 2, 1, 1, 0, 2, 2, 0, 1, 0, 2, 1, 0, 0, 2, 1, 2, 0, 1, 1,
          2, 0, 0, 1, 2, 2, 1, 0, 2, 1, 0, 1, 2, 0, 1, 2, 0, 2, 1, 1]
TEST = [1, 0, 2, 2, 1, 0, 0, 1, 2, 1, 0, 2, 2, 0, 1]
SHAPES = {"image": (torch.uint8, (1, 2, 2)), "video": (torch.uint8, (1, 3, 2, 2)),
          "pointcloud": (torch.float32, (16, 3))}
TASK_NAMES = tuple(SHAPES)


def _raw(task: str, labels: list[int]) -> dict:
    dtype, shape = SHAPES[task]

    def numbered(n: int) -> torch.Tensor:   # sample i holds the value i everywhere
        return torch.arange(n).to(dtype).view(n, *[1] * len(shape)).expand(n, *shape).clone()
    return dict(train_x=numbered(len(labels)), train_y=torch.tensor(labels),
                test_x=numbered(len(TEST)), test_y=torch.tensor(TEST), classes=["a", "b", "c"])


def _loaders(labels: list[int]) -> dict:
    return {
        "image": lambda root, image_size=None, max_per_class=None, on_error="raise":
            SimpleNamespace(**_raw("image", labels), bad_files=[], fingerprint=None),
        "video": lambda root, settings, split, num_classes=4:
            SimpleNamespace(**_raw("video", labels), padded=0, skipped=[], files=[]),
        "pointcloud": lambda root, options:
            SimpleNamespace(**_raw("pointcloud", labels), layout="fake", skipped=[], files=[],
                            up_axis=2),
    }


@pytest.fixture(scope="module", autouse=True)
def fake_datasets():
    for name, labels in (("pin_split", LABELS), ("pin_split_large", LABELS * 3)):
        for task, loader in _loaders(labels).items():
            DATASETS.register(name, loader, namespace=task)
    yield
    for name in ("pin_split", "pin_split_large"):
        for task in TASK_NAMES:
            DATASETS.unregister(name, namespace=task)


def _indices(task: str, data) -> list[int]:
    first = data.inputs.reshape(len(data), -1)[:, 0]
    if task == "image":                      # the image adapter stores float32 in [0, 1]
        first = (first * 255).round()
    return first.long().tolist()


def _split(task: str, dataset: str, options: dict, seed: int) -> tuple[list[int], ...]:
    splits = TASKS.get(task)().load_splits(dataset, None, dict(options), seed)
    return tuple(_indices(task, part) for part in (splits.clean, splits.train, splits.test))


# (options, seed) → (clean, train, test) indices, as the adapters chose them before the refactor
PINNED = [
    ({"clean_per_class": 2, "train_per_class": 3, "test_per_class": 2}, 5,
     ([1, 4, 11, 21, 25, 34], [2, 3, 5, 6, 7, 8, 17, 20, 22], [0, 1, 2, 3, 4, 5])),
    ({"clean_fraction": 0.15}, 11,
     ([4, 6, 12, 14, 18, 34],
      [i for i in range(40) if i not in (4, 6, 12, 14, 18, 34)], list(range(15)))),
]


@pytest.mark.parametrize("task", TASK_NAMES)
@pytest.mark.parametrize("options,seed,expected", PINNED)
def test_split_indices_are_pinned(task, options, seed, expected):
    clean, train, test = _split(task, "pin_split", options, seed)
    assert (clean, train, test) == expected
    labels = torch.tensor(LABELS)
    assert not set(clean) & set(train)                       # held out before the rest
    assert torch.bincount(labels[clean], minlength=3).tolist() == [len(clean) // 3] * 3


# the adapters' default clean sizes differ (image: 1 % for an unknown dataset; video and point
# cloud: 5 %), so on 120 samples the image adapter holds out 1 per class and the others 2
DEFAULT_CLEAN = {"image": [64, 87, 95], "video": [34, 64, 81, 87, 93, 95],
                 "pointcloud": [34, 64, 81, 87, 93, 95]}


@pytest.mark.parametrize("task", TASK_NAMES)
def test_default_clean_size_is_pinned(task):
    clean, train, test = _split(task, "pin_split_large", {}, 3)
    assert clean == DEFAULT_CLEAN[task]
    assert train == [i for i in range(120) if i not in clean] and test == list(range(15))


def test_info_records_the_chosen_indices():
    from core.attack import hash_indices
    for task in TASK_NAMES:
        splits = TASKS.get(task)().load_splits("pin_split", None, {"clean_per_class": 2}, 5)
        clean = torch.tensor(_indices(task, splits.clean))
        train = torch.tensor(_indices(task, splits.train))
        info = splits.info
        assert info["clean_size"] == 6 and info["train_size"] == 34 and info["test_size"] == 15
        assert info["clean_index_hash"] == hash_indices(clean)
        assert info["train_index_hash"] == hash_indices(train)


def test_core_recipe_matches_the_pins_and_needs_a_clean_size():
    from core.data import class_balanced_splits
    from core.seeding import make_generator
    labels, test = torch.tensor(LABELS), torch.tensor(TEST)
    for options, seed, expected in PINNED:
        parts = class_balanced_splits(labels, test, 3, make_generator(seed), **options)
        assert (parts.clean.tolist(), parts.train.tolist(), parts.test.tolist()) == expected
    with pytest.raises(ValueError, match="clean_per_class or clean_fraction"):
        class_balanced_splits(labels, test, 3, make_generator(0))
