"""Shared fixtures of the text-task tests: a synthetic parallel corpus, tokenized once."""
import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("sacrebleu")


@pytest.fixture(scope="session")
def text_task():
    """(adapter, splits) on a small synthetic En→De corpus (vocabulary 200)."""
    import importlib

    from core.registry import TASKS

    importlib.import_module("tasks")   # registers the task adapters

    adapter = TASKS.get("text")()
    splits = adapter.load_splits("synthetic", None, {"vocab_size": 200, "synthetic_train": 600,
                                                     "synthetic_test": 60}, seed=0)
    return adapter, splits


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine a second thread
    makes each step many times slower; restored afterwards for the other tests."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
