"""cpu_bf16 "auto": bfloat16 only where the CPU computes it natively, decided from its flags."""
import pytest
import torch

from core import cpu_numerics
from core.config import ConfigError, from_dict
from core.cpu_numerics import isa_allows_native_bf16, parse_setting, resolve_cpu_bf16
from core.loop import Loop
from core.training import TrainConfig


def fake_cpu(monkeypatch, flags, isa=None, override="auto"):
    monkeypatch.setattr(cpu_numerics, "cpu_info", lambda: ("Test CPU", frozenset(flags)))
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if isa is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa)
    monkeypatch.setenv("NFT_CPU_BF16", override)


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "avx512f"}, False),                     # AVX-512 without BF16: oneDNN emulates
    ({"avx2", "avx512f", "avx512_bf16"}, True),
    ({"avx2", "amx_tile", "amx_bf16"}, True),
    ({"asimd", "bf16"}, True),                        # AArch64 BFDOT/BFMMLA
    (set(), False),                                   # no /proc/cpuinfo (macOS, Windows)
])
def test_auto_follows_the_cpu_flags(monkeypatch, flags, expected):
    fake_cpu(monkeypatch, flags)
    path = resolve_cpu_bf16("auto", "cpu")
    assert path.cpu_bf16 is expected
    record = path.as_record()
    assert record["path"] == ("bfloat16 autocast + channels_last" if expected else "float32")
    assert record["reason"].startswith("auto:") and record["cpu"] == "Test CPU"


@pytest.mark.parametrize("isa, expected", [("AVX2", False), ("avx512_core_vnni", False),
                                           ("AVX512_CORE_BF16", True), ("AVX512_CORE_AMX", True),
                                           ("ALL", True)])
def test_a_capped_onednn_isa_means_emulated_bf16_so_float32(monkeypatch, isa, expected):
    fake_cpu(monkeypatch, {"avx512_bf16", "amx_bf16"}, isa=isa)
    path = resolve_cpu_bf16("auto", "cpu")
    assert path.cpu_bf16 is expected
    assert isa_allows_native_bf16(isa.upper()) is expected


def test_explicit_settings_win_and_the_override_applies_to_auto_only(monkeypatch):
    fake_cpu(monkeypatch, set(), override="1")
    assert resolve_cpu_bf16("auto").cpu_bf16 is True
    assert "NFT_CPU_BF16=1" in resolve_cpu_bf16("auto").reason
    assert resolve_cpu_bf16(False).cpu_bf16 is False
    fake_cpu(monkeypatch, {"amx_bf16"}, override="0")
    assert resolve_cpu_bf16("auto").cpu_bf16 is False
    assert resolve_cpu_bf16(True).cpu_bf16 is True
    assert resolve_cpu_bf16("auto", "cuda").cpu_bf16 is False   # a CPU option only
    monkeypatch.setenv("NFT_CPU_BF16", "maybe")
    with pytest.raises(ValueError, match="true, false or auto"):
        resolve_cpu_bf16("auto")


def test_configs_take_true_false_and_auto_and_refuse_the_rest():
    assert from_dict(TrainConfig, {"cpu_bf16": "auto"}).cpu_bf16 == "auto"
    assert from_dict(TrainConfig, {"cpu_bf16": "true"}).cpu_bf16 is True
    assert from_dict(TrainConfig, {"cpu_bf16": False}).cpu_bf16 is False
    assert TrainConfig().cpu_bf16 is False          # the default stays float32
    with pytest.raises((ConfigError, ValueError)):
        from_dict(TrainConfig, {"cpu_bf16": "fast"})
    assert parse_setting("on") is True and parse_setting("0") is False


def test_the_loop_takes_the_resolved_path(monkeypatch):
    fake_cpu(monkeypatch, {"avx512f"})
    loop = Loop("cpu", cpu_bf16="auto")
    assert not loop.amp and not loop.channels_last
    assert loop.numeric_path.as_record()["path"] == "float32"
    fake_cpu(monkeypatch, {"amx_bf16"})
    loop = Loop("cpu", cpu_bf16="auto")
    assert loop.amp and loop.channels_last
    with loop.autocast():
        assert torch.nn.Linear(2, 2)(torch.ones(1, 2)).dtype == torch.bfloat16


def test_the_real_cpu_is_read():
    name, flags = cpu_numerics.cpu_info()
    assert name
    path = resolve_cpu_bf16("auto")
    assert path.cpu_bf16 in (True, False) and path.reason


@pytest.mark.parametrize("flags, bf16", [({"avx512f"}, False), ({"avx512f", "amx_bf16"}, True)])
def test_a_preset_with_auto_trains_on_the_path_the_cpu_has_and_records_it(
        monkeypatch, tmp_path, flags, bf16):
    from benchmarks.runner.cli import main

    fake_cpu(monkeypatch, flags)
    out = tmp_path / "run"
    assert main(["--preset", "smoke", "--out", str(out), "--no-progress", "--defenses", "ft",
                 "--attacks", "blend", "--set", "train.cpu_bf16=auto",
                 "--set", "train.epochs=1", "--set", "defense_options.ft.epochs=1"]) == 0
    record = __import__("json").loads(
        next((out / "records").rglob("seed0.json")).read_text())
    assert record["numeric_path"]["cpu_bf16"] is bf16
    assert record["numeric_path"]["reason"].startswith("auto:")
    assert record["config"]["train"]["cpu_bf16"] is bf16          # resolved, not "auto"
    cached = list((out / "cache" / "models").glob("*.safetensors"))
    assert len(cached) == 1
