"""TensorData: batches of tensor targets, list-of-dict targets, multi-hot rows, uint8 + transform."""
import pytest
import torch

from core.data import TensorData, move_to


def boxes_targets(n: int) -> list[dict]:
    return [{"boxes": torch.full((i % 3 + 1, 4), float(i)), "labels": torch.full((i % 3 + 1,), i)}
            for i in range(n)]


def test_tensor_targets_batch_equals_indexing():
    x, y = torch.randn(10, 3), torch.arange(10)
    data = TensorData(x, y)
    index = torch.tensor([7, 2, 2, 0])
    inputs, targets = data.batch(index)
    assert torch.equal(inputs, x[index]) and torch.equal(targets, y[index])
    chunks = list(data.batches(4))
    assert [len(t) for _, t in chunks] == [4, 4, 2]
    assert torch.equal(torch.cat([t for _, t in chunks]), y)


def test_list_of_dict_targets_follow_the_index():
    data = TensorData(torch.randn(6, 2), boxes_targets(6))
    assert data.structured_targets
    inputs, targets = data.batch(torch.tensor([5, 1]))
    assert inputs.shape == (2, 2)
    assert [int(t["labels"][0]) for t in targets] == [5, 1]
    assert targets[0]["boxes"].shape == (3, 4)
    sub = data.subset(torch.tensor([True, False, True, False, False, True]))
    assert len(sub) == 3 and [int(t["labels"][0]) for t in sub.targets] == [0, 2, 5]
    assert [len(t) for _, t in data.batches(4)] == [4, 2]
    moved = data.to("cpu")
    assert isinstance(moved.targets, list) and moved.targets[3]["boxes"].device.type == "cpu"


def test_multi_hot_targets_are_rows():
    y = (torch.rand(8, 5) > 0.5).float()
    data = TensorData(torch.randn(8, 3), y)
    _, targets = data.batch(slice(2, 5))
    assert torch.equal(targets, y[2:5]) and targets.shape == (3, 5)


def test_uint8_inputs_transformed_per_batch_only():
    raw = torch.randint(0, 256, (5, 2, 3, 4, 4), dtype=torch.uint8)   # clips: N, T, C, H, W
    calls = []

    def to_float(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.shape[0])
        return x.float() / 255.0

    data = TensorData(raw, torch.arange(5), transform=to_float)
    inputs, _ = data.batch(torch.tensor([4, 0]))
    assert inputs.dtype == torch.float32 and torch.allclose(inputs, raw[[4, 0]].float() / 255)
    assert data.inputs.dtype == torch.uint8                      # stored form kept
    assert data.subset(torch.tensor([1, 2])).transform is to_float
    assert data.input_example(1).dtype == torch.float32
    assert calls == [2, 1]


def test_bad_construction_is_a_clear_error():
    with pytest.raises(ValueError, match="differ in length"):
        TensorData(torch.zeros(3, 1), [{}, {}])
    with pytest.raises(TypeError, match="tensor or a list"):
        TensorData(torch.zeros(3, 1), (1, 2, 3))
    with pytest.raises(TypeError, match="callable"):
        TensorData(torch.zeros(3, 1), torch.zeros(3), transform=3)


def test_move_to_nested():
    moved = move_to({"a": [torch.ones(1)], "b": (torch.zeros(2), 3)}, "cpu")
    assert moved["b"][1] == 3 and isinstance(moved["b"], tuple)


def test_training_and_nft_read_uint8_clips_through_the_transform():
    """A uint8 dataset with a float transform trains (fit) and purifies (NFT): every loop reads
    batches through TensorData.batch (a conv on raw uint8 would raise)."""
    from torch import nn

    from core.classification import ClassificationAdapter
    from core.purify import NFTConfig, nft_purify
    from core.augment import Identity
    from core.training import TrainConfig, fit

    class Clips(ClassificationAdapter):
        name = "clips"

        def load_splits(self, *args):
            raise AssertionError

    g = torch.Generator().manual_seed(0)
    raw = torch.randint(0, 256, (64, 3, 2, 6, 6), dtype=torch.uint8, generator=g)
    data = TensorData(raw, torch.arange(64) % 2, transform=lambda x: x.float() / 255.0)
    adapter = Clips()
    adapter.num_classes = 2
    model = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                          nn.Conv3d(4, 4, 3, padding=1), nn.BatchNorm3d(4), nn.ReLU(),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2))
    info = fit(model, adapter, data, TrainConfig(epochs=1, batch_size=16, progress=False), "cpu")
    assert info["steps"] == 4
    result = nft_purify(model, adapter, data, Identity(),
                        NFTConfig(iterations=3, batch_size=16, progress=False), "cpu")
    assert result.steps == 3 and set(result.masks) == {"3"}
