"""Which numeric path a CPU run takes: bfloat16 autocast (+ channels_last) or float32.

``cpu_bf16`` is ``True``, ``False`` or ``"auto"`` (the default everywhere). ``"auto"`` turns
bfloat16 on only where the CPU computes it natively, decided from the CPU's instruction-set
flags, not from a start-up timing:

* the flags are a property of the machine, so the same command takes the same numeric path on
  every rerun there; a timing of one bf16 against one float32 step depends on what else the
  machine is doing (on a shared 2-core machine a step's wall time swings 2-4x within minutes),
  so it could flip between reruns and change the run's numbers;
* it costs nothing at start-up and needs no model.

Native means the ``avx512_bf16`` or ``amx_bf16`` flag (x86-64: AVX512-BF16 dot products or AMX
tiles) or ``bf16`` (AArch64: the BFDOT/BFMMLA instructions), *and* oneDNN allowed to use it: a
``ONEDNN_MAX_CPU_ISA`` (or legacy ``DNNL_MAX_CPU_ISA``) below ``AVX512_CORE_BF16`` makes oneDNN
emulate bf16 even on such a CPU. Emulated bf16 (oneDNN's AVX-512 fallback) was measured 4x
*slower* than float32 (issue 23), and ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` answers
True for it, so that call cannot decide.

``NFT_CPU_BF16`` (``auto`` / ``1`` / ``0``) overrides what ``"auto"`` resolves to, e.g. to make
a whole run float32 for CPU-independent numbers; an explicit ``True``/``False`` in a config
always wins.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, Union

import torch

CpuBf16 = Union[bool, Literal["auto"]]

#: CPU flags (as /proc/cpuinfo spells them) with native bfloat16 arithmetic
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
#: oneDNN's ISA names from the oldest up; native bf16 from AVX512_CORE_BF16 on
_ONEDNN_ISAS = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX",
                "AVX512_CORE_AMX_FP16", "ALL", "DEFAULT")
_FIRST_NATIVE_ISA = _ONEDNN_ISAS.index("AVX512_CORE_BF16")
ENV_OVERRIDE = "NFT_CPU_BF16"


@dataclass(frozen=True)
class NumericPath:
    """The decision and why; ``as_record()`` goes into every result record."""

    cpu_bf16: bool
    setting: str
    reason: str
    cpu: str
    flags: tuple[str, ...]
    onednn_max_isa: str | None

    def as_record(self) -> dict:
        return {"cpu_bf16": self.cpu_bf16,
                "path": "bfloat16 autocast + channels_last" if self.cpu_bf16 else "float32",
                "setting": self.setting, "reason": self.reason, "cpu": self.cpu,
                "native_bf16_flags": list(self.flags), "onednn_max_cpu_isa": self.onednn_max_isa,
                "aten_cpu_capability": torch.backends.cpu.get_cpu_capability()}


@lru_cache(maxsize=1)
def cpu_info() -> tuple[str, frozenset[str]]:
    """(model name, set of flags) of this CPU; flags empty where /proc/cpuinfo is absent."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return name, frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and value.strip():
            name = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return name, frozenset(flags)


def onednn_max_isa() -> str | None:
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.strip().upper() if value else None


def isa_allows_native_bf16(isa: str | None) -> bool:
    """False when oneDNN is capped below AVX512_CORE_BF16 (unknown names: no cap)."""
    if isa is None or isa not in _ONEDNN_ISAS:
        return True
    return _ONEDNN_ISAS.index(isa) >= _FIRST_NATIVE_ISA


def parse_setting(value: object) -> CpuBf16:
    """``True``/``False``/``"auto"`` from a config or command-line value; else ValueError."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"cpu_bf16 must be true, false or auto, got {value!r}")


def resolve_cpu_bf16(setting: CpuBf16, device: torch.device | str = "cpu") -> NumericPath:
    """The numeric path of a run on ``device`` for the ``cpu_bf16`` setting."""
    setting = parse_setting(setting)
    name, flags = cpu_info()
    native = tuple(f for f in NATIVE_BF16_FLAGS if f in flags)
    isa = onednn_max_isa()

    def path(on: bool, reason: str) -> NumericPath:
        return NumericPath(on, str(setting).lower(), reason, name, native, isa)

    if torch.device(device).type != "cpu":
        return path(False, f"device {torch.device(device).type}: cpu_bf16 applies to CPUs only")
    if setting is not True and setting is not False:
        override = os.environ.get(ENV_OVERRIDE, "auto")
        if parse_setting(override) != "auto":
            return path(parse_setting(override) is True, f"{ENV_OVERRIDE}={override}")
    if setting is True:
        return path(True, "cpu_bf16 set to true")
    if setting is False:
        return path(False, "cpu_bf16 set to false")
    if not native:
        return path(False, "auto: the CPU has no native bf16 (no avx512_bf16/amx_bf16/bf16 "
                           "flag); oneDNN would emulate it, slower than float32")
    if not isa_allows_native_bf16(isa):
        return path(False, f"auto: ONEDNN_MAX_CPU_ISA={isa} keeps oneDNN below "
                           "AVX512_CORE_BF16 (bf16 would be emulated)")
    return path(True, f"auto: native bf16 ({', '.join(native)})")
