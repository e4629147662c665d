import json
import os
import pickle

import pytest
import torch

from core.checkpoint import UnsafeCheckpointError, load_model, load_state_dict, save_model
from core.record import git_info, versions, write_record
from models import cnn_bn


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused_and_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": _Exploit()}, handle)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        load_state_dict(path)
    assert not (tmp_path / "PWNED").exists()


def test_safetensors_and_weights_only_round_trip(tmp_path):
    model = cnn_bn()
    save_model(model, tmp_path / "m.safetensors", metadata={"attack": {"name": "x"}})
    fresh = load_model(cnn_bn(), tmp_path / "m.safetensors")
    for key, value in model.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "m.pt")
    assert set(load_state_dict(tmp_path / "m.pt")) == set(model.state_dict())
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "missing.safetensors")


def test_record_is_atomic_and_never_overwritten(tmp_path):
    path = tmp_path / "a" / "seed0.json"
    write_record(path, {"before": {"asr": 99.0}, "after": {"asr": float("nan")}})
    assert json.loads(path.read_text()) == {"before": {"asr": 99.0}, "after": {"asr": None}}
    with pytest.raises(FileExistsError):
        write_record(path, {"x": 1})
    assert json.loads(path.read_text())["before"]["asr"] == 99.0
    assert [p.name for p in path.parent.iterdir()] == ["seed0.json"]   # no temp file left


def test_provenance_fields():
    v = versions()
    assert v["torch"] == torch.__version__ and "nft_suite" in v
    g = git_info()
    assert set(g) == {"commit", "dirty"}
