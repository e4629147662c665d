import subprocess
import sys
from dataclasses import dataclass

import pytest

from core.config import ConfigError, from_dict, override
from core.registry import DEFENSES, Registry, UnknownNameError
from conftest import ROOT


def test_unknown_name_lists_suggestions():
    reg = Registry("attack")
    reg.register("badnets", object())
    reg.register("blend", object(), namespace="image")
    reg.register_lazy("trojan_one", "collections:OrderedDict", namespace="image")
    with pytest.raises(UnknownNameError) as info:
        reg.get("bladnets", namespace="image")
    message = str(info.value)
    assert "Did you mean 'badnets'" in message
    assert "blend" in message and "trojan_one" in message
    import collections
    assert reg.get("trojan_one", namespace="image") is collections.OrderedDict
    with pytest.raises(UnknownNameError, match="nfy"):
        DEFENSES.get("nfy")


def test_a_name_of_another_namespace_is_named_with_its_namespace():
    reg = Registry("model")
    reg.register("fcos", object(), namespace="boxes")
    reg.register("cnn", object(), namespace="multilabel")
    with pytest.raises(UnknownNameError) as info:
        reg.get("fcos", namespace="multilabel")
    assert "'fcos' is registered for 'boxes'." in str(info.value)
    with pytest.raises(UnknownNameError) as info:
        reg.get("nothing", namespace="multilabel")
    assert "registered for" not in str(info.value)


def test_duplicate_registration_is_an_error():
    reg = Registry("model")
    reg.register("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", 2)


_HEAVY = ("tasks", "transformers", "timm", "fairseq", "mmdet", "open3d", "sacrebleu", "av", "yaml",
          "matplotlib")


def test_import_core_and_every_defense_pulls_in_no_task_or_optional_package():
    """Every lazy defense entry is resolved before the imported modules are listed; a planted
    lazy entry importing yaml then shows the check sees what a lazy entry imports."""
    code = ("import sys, core; "
            "[core.DEFENSES.get(n) for n in core.DEFENSES.names()]; "
            f"print([m for m in {_HEAVY!r} if m in sys.modules]); "
            "core.DEFENSES.register_lazy('planted', 'yaml:safe_load'); "
            "core.DEFENSES.get('planted'); "
            f"print([m for m in {_HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "['yaml']"]


@dataclass(frozen=True)
class _Cfg:
    epochs: int = 3
    lr: float = 0.1
    names: tuple[str, ...] = ()
    eta_c: float | None = None
    flag: bool = False


def test_config_rejects_unknown_keys_with_suggestion():
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        from_dict(_Cfg, {"epoch": 3})
    with pytest.raises(ConfigError, match="integer"):
        from_dict(_Cfg, {"epochs": 2.5})
    cfg = from_dict(_Cfg, {"epochs": "4", "lr": "0.5", "names": "a,b", "eta_c": None,
                           "flag": "true"})
    assert cfg == _Cfg(epochs=4, lr=0.5, names=("a", "b"), eta_c=None, flag=True)
    assert override(cfg, {"lr": 1}).lr == 1.0
