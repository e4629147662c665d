"""Models the way practitioners have them: build an architecture, read untrusted weights, fit
them with a useful error, and write the purified model back in the form it came in.

``--arch`` forms (``build_model``):

* ``torchvision:NAME`` – ``torchvision.models.get_model(NAME, weights=None, num_classes=N)``;
* ``timm:NAME`` – ``timm.create_model(NAME, pretrained=False, num_classes=N)`` (the ``image``
  extra: ``pip install "nft-suite[image]"``);
* a bare name – the suite's image zoo (``preact_resnet18``, ``small_cnn``, …: CIFAR stems);
* ``module:function`` or ``path/to/file.py:function`` – the user's own builder, imported as the
  user's code (the current folder is importable); it is called with ``num_classes=N`` when it
  takes that argument, plus ``--arch-kwargs``.

Weights (``read_weights``): ``.safetensors``; a state_dict saved with ``torch.save`` that loads
with ``torch.load(weights_only=True)`` (anything that needs code to unpickle is refused);
a ``torch.export`` program (``.pt2``) whose payloads are all tensors, read without ever
unpickling code; a TorchScript archive (deprecated: ``torch.jit`` warns in torch 2.11).
"""
from __future__ import annotations

import difflib
import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.checkpoint import UnsafeCheckpointError, load_state_dict  # noqa: F401 (re-export)

#: architectures tried when weights do not fit ``--arch``, to suggest one that does
TORCHVISION_CANDIDATES = (
    "resnet18", "resnet34", "resnet50", "wide_resnet50_2", "resnext50_32x4d",
    "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "vgg19_bn", "mobilenet_v2", "mobilenet_v3_small",
    "mobilenet_v3_large", "efficientnet_b0", "densenet121", "convnext_tiny",
    "shufflenet_v2_x1_0", "squeezenet1_1", "alexnet", "vit_b_16")
TIMM_CANDIDATES = ("resnet18", "resnet34", "resnet50", "efficientnet_b0", "mobilenetv3_small_100",
                   "vit_tiny_patch16_224", "vit_small_patch16_224", "convnext_atto")
DEPRECATED_TORCHSCRIPT = (
    "note: --torchscript reads the model with torch.jit.load, which torch 2.11 deprecates; "
    "export it with torch.export.export(model, (example,)) + torch.export.save(ep, 'model.pt2') "
    "and pass --weights model.pt2 with the same --arch instead")


class PractitionerInputError(ValueError):
    """Bad input to the practitioner path (the CLI exits with code 2)."""


# -- architectures ------------------------------------------------------------------------------
def parse_arch_kwargs(text: str | None) -> dict[str, Any]:
    """``--arch-kwargs``: a YAML mapping, inline (``"{depth: 18}"``) or the path of a file."""
    import yaml

    if not text:
        return {}
    path = Path(text)
    source = path.read_text() if path.suffix in (".yaml", ".yml") and path.is_file() else text
    try:
        value = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise PractitionerInputError(f"--arch-kwargs is not valid YAML: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PractitionerInputError(f"--arch-kwargs must be a YAML mapping such as "
                                     f"'{{depth: 18}}', got {value!r}")
    return value


def _close(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f" Did you mean {', '.join(close)}?" if close else ""


def _torchvision(name: str, num_classes: int, kwargs: dict) -> nn.Module:
    import torchvision

    known = torchvision.models.list_models()
    if name not in known:
        raise PractitionerInputError(f"torchvision has no model {name!r}.{_close(name, known)}")
    return torchvision.models.get_model(name, weights=None, num_classes=num_classes, **kwargs)


def _timm(name: str, num_classes: int, kwargs: dict) -> nn.Module:
    try:
        import timm
    except ImportError:
        raise PractitionerInputError(
            f"--arch timm:{name} needs timm: pip install \"nft-suite[image]\" "
            f"(timm==1.0.31)") from None
    if not timm.is_model(name):
        raise PractitionerInputError(f"timm has no model {name!r}."
                                     f"{_close(name, timm.list_models())}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)


def _zoo(name: str, num_classes: int, image_size: int, kwargs: dict) -> nn.Module:
    import torchvision

    importlib.import_module("tasks.image")
    from core.registry import MODELS, UnknownNameError

    try:
        factory = MODELS.get(name, namespace="image")
    except UnknownNameError as exc:
        hint = (f" For torchvision's model pass --arch torchvision:{name}."
                if name in torchvision.models.list_models() else "")
        raise PractitionerInputError(f"{exc}{hint} Other forms: torchvision:NAME, timm:NAME, "
                                     f"module:function.") from None
    return factory(num_classes=num_classes, in_channels=3, image_size=image_size, **kwargs)


def _import_from_cwd(module_name: str) -> Any:
    """Import ``module_name``, looking in the working folder first (as ``python`` itself does
    for a script there), without changing ``sys.path``."""
    top = module_name.partition(".")[0]
    if top not in sys.modules:
        found = importlib.machinery.PathFinder.find_spec(top, [str(Path.cwd())])
        if found is not None:
            module = importlib.util.module_from_spec(found)
            sys.modules[top] = module
            try:
                found.loader.exec_module(module)
            except BaseException:
                del sys.modules[top]
                raise
    return importlib.import_module(module_name)


def _user_builder(spec: str) -> Any:
    module_name, _, attr = spec.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise PractitionerInputError(f"--arch {spec}: {path} not found")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = _import_from_cwd(module_name)
        except ImportError as exc:
            raise PractitionerInputError(f"--arch {spec}: cannot import {module_name!r} ({exc}); "
                                         f"run from the folder that holds it or give "
                                         f"path/to/file.py:{attr}") from None
    builder = getattr(module, attr, None)
    if not callable(builder):
        raise PractitionerInputError(f"--arch {spec}: {module_name} has no callable {attr!r}")
    return builder


def build_model(arch: str, num_classes: int, image_size: int,
                kwargs: dict[str, Any] | None = None) -> nn.Module:
    """The untrained model named by ``arch`` (see the module docstring), in eval mode."""
    kwargs = dict(kwargs or {})
    prefix, sep, name = arch.partition(":")
    try:
        if not sep:
            model = _zoo(arch, num_classes, image_size, kwargs)
        elif prefix == "torchvision":
            model = _torchvision(name, num_classes, kwargs)
        elif prefix == "timm":
            model = _timm(name, num_classes, kwargs)
        else:
            builder = _user_builder(arch)
            params = inspect.signature(builder).parameters
            takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
            if ("num_classes" in params or takes_any) and "num_classes" not in kwargs:
                kwargs["num_classes"] = num_classes
            model = builder(**kwargs)
    except TypeError as exc:       # a keyword the builder does not take
        raise PractitionerInputError(f"--arch {arch} with --arch-kwargs {kwargs}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise PractitionerInputError(f"--arch {arch} returned {type(model).__name__}, not a "
                                     f"torch.nn.Module")
    return model.eval()


# -- weights ------------------------------------------------------------------------------------
@dataclass
class Weights:
    """Tensors read from a checkpoint and what is needed to write the result back alike."""

    state: dict[str, torch.Tensor]
    format: str                                   # safetensors | pickle | export | torchscript
    prefix: str = ""                              # stripped key prefix ("module." of DataParallel)
    dtypes: dict[str, torch.dtype] = field(default_factory=dict)
    example_inputs: tuple | None = None           # .pt2: the program's example positional args
    dynamic_batch: bool = False                   # .pt2: the batch dimension was symbolic


def _check_pt2_payloads(path: Path) -> None:
    """Refuse a .pt2 archive with any member that needs code to unpickle. ``torch.export.load``
    falls back to ``torch.load(weights_only=False)`` for such members; every pickle in the
    archive is tried here with ``weights_only=True`` first, so that fallback never runs."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PractitionerInputError(f"{path} is not a torch.export archive (.pt2)") from None
    with archive:
        for member in archive.namelist():
            pickled = member.endswith(".pt")
            if member.endswith(("_config.json",)):
                config = json.loads(archive.read(member)).get("config", {})
                pickled = False
                for entry in config.values():
                    if entry.get("use_pickle"):
                        folder = member.rsplit("/", 1)[0]
                        _weights_only(archive.read(f"{folder}/{entry['path_name']}"), path)
            if pickled:
                _weights_only(archive.read(member), path)


def _weights_only(blob: bytes, path: Path) -> None:
    import pickle

    try:
        torch.load(io.BytesIO(blob), weights_only=True)
    except pickle.UnpicklingError as exc:
        raise UnsafeCheckpointError(
            f"refusing to load {path}: a member of the archive needs arbitrary code to "
            f"unpickle, and a possibly backdoored model is untrusted "
            f"({str(exc).splitlines()[0]})") from None


def _read_export(path: Path) -> Weights:
    _check_pt2_payloads(path)
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # noqa: BLE001 - any deserialisation failure is bad input
        raise PractitionerInputError(f"{path} is not a loadable torch.export program: "
                                     f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    state = {k: v.detach().clone() for k, v in program.state_dict.items()}
    args = program.example_inputs[0] if program.example_inputs else None
    dynamic = False
    user_inputs = {s.arg.name for s in program.graph_signature.input_specs
                   if s.kind.name == "USER_INPUT" and hasattr(s.arg, "name")}
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            dynamic = dynamic or (val is not None and not isinstance(val.shape[0], int))
    return Weights(state, "export", example_inputs=args, dynamic_batch=dynamic)


def _read_torchscript(path: Path) -> Weights:
    print(DEPRECATED_TORCHSCRIPT, file=sys.stderr)
    try:
        scripted = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # noqa: BLE001
        raise PractitionerInputError(f"{path} is not a TorchScript archive: "
                                     f"{str(exc).splitlines()[0]}") from None
    return Weights(dict(scripted.state_dict()), "torchscript")


EXPORT_WITHOUT_ARCH = (
    "a torch.export program (.pt2) cannot be purified on its own: ExportedProgram.module() is "
    "an ATen graph (torch.fx.GraphModule) in which every convolution and linear layer is a call "
    "to aten.conv2d / aten.linear, not an nn.Conv2d / nn.Linear module, so the per-neuron masks "
    "(torch.nn.utils.parametrize on a module's weight) and the defenses' layer hooks have "
    "nothing to attach to, and its BatchNorm is traced for inference (running statistics "
    "frozen), while NFT and most defenses run BatchNorm in train mode. Pass --arch with the "
    "architecture that was exported (e.g. --arch torchvision:resnet18): the weights are read "
    "from the program and the purified model is exported again with the same input")


def read_weights(path: Path, torchscript: bool = False) -> Weights:
    """Tensors of ``path`` (see the module docstring); never unpickles code."""
    if not path.is_file():
        raise PractitionerInputError(f"weights not found: {path}")
    if torchscript:
        weights = _read_torchscript(path)
    elif path.suffix == ".pt2":
        weights = _read_export(path)
    else:
        weights = Weights(load_state_dict(path), "safetensors" if path.suffix == ".safetensors"
                          else "pickle")
    weights.dtypes = {k: v.dtype for k, v in weights.state.items()}
    return weights


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _mismatch(model_shapes: dict, state_shapes: dict) -> tuple[list[str], list[str], list[str]]:
    missing = [k for k in model_shapes if k not in state_shapes]
    unexpected = [k for k in state_shapes if k not in model_shapes]
    wrong = [k for k in model_shapes if k in state_shapes and model_shapes[k] != state_shapes[k]]
    return missing, unexpected, wrong


PROBE_CLASSES = 7   # candidates are built once with this many classes; its head keys show it


def _candidate_builders(image_size: int) -> dict[str, Any]:
    import torchvision

    importlib.import_module("tasks.image")
    from core.registry import MODELS

    builders: dict[str, Any] = {}
    for name in MODELS.names("image"):
        builders[name] = lambda n, name=name: MODELS.get(name, namespace="image")(
            num_classes=n, in_channels=3, image_size=image_size)
    for name in TORCHVISION_CANDIDATES:
        builders[f"torchvision:{name}"] = lambda n, name=name: torchvision.models.get_model(
            name, weights=None, num_classes=n)
    try:
        import timm
        for name in TIMM_CANDIDATES:
            builders[f"timm:{name}"] = lambda n, name=name: timm.create_model(
                name, pretrained=False, num_classes=n)
    except ImportError:
        pass
    return builders


@functools.lru_cache(maxsize=None)
def _candidate_shapes(arch: str, num_classes: int, image_size: int
                      ) -> dict[str, tuple[int, ...]] | None:
    """State_dict shapes of a candidate built on the meta device (no memory, no init cost)."""
    try:
        with torch.device("meta"):
            return _shapes(_candidate_builders(image_size)[arch](num_classes))
    except Exception:  # noqa: BLE001 - a candidate that cannot be built here is skipped
        return None


def suggest_arch(state_shapes: dict[str, tuple[int, ...]], num_classes: int,
                 image_size: int) -> list[str]:
    """Known architectures (zoo, torchvision, timm) whose state_dict has exactly these keys and
    shapes, as ``--arch`` values (with ``--num-classes M`` when the class count differs)."""
    fits = []
    for arch in _candidate_builders(image_size):
        probe = _candidate_shapes(arch, PROBE_CLASSES, image_size)
        if probe is None or set(probe) != set(state_shapes):
            continue
        heads = {k for k, shape in probe.items() if shape and shape[0] == PROBE_CLASSES}
        if any(probe[k] != state_shapes[k] for k in set(probe) - heads):
            continue
        counts = {state_shapes[k][0] for k in heads}
        if len(counts) != 1:
            continue
        classes = counts.pop()
        if _candidate_shapes(arch, classes, image_size) == state_shapes:
            fits.append(arch if classes == num_classes else f"{arch} --num-classes {classes}")
    return fits


def fit_weights(model: nn.Module, weights: Weights, arch: str, num_classes: int,
                image_size: int, where: Path) -> None:
    """Load ``weights`` into ``model`` or raise an error naming the first mismatching keys and
    shapes, with the ``--arch`` that would fit when a known one does."""
    state = weights.state
    model_keys = set(model.state_dict())
    if not model_keys & set(state):
        for prefix in ("module.", "model.", "_orig_mod."):
            if all(k.startswith(prefix) for k in state):
                stripped = {k[len(prefix):]: v for k, v in state.items()}
                if set(stripped) & model_keys:
                    weights.state, weights.prefix, state = stripped, prefix, stripped
                    weights.dtypes = {k[len(prefix):]: v for k, v in weights.dtypes.items()}
                    break
    state_shapes = {k: tuple(v.shape) for k, v in state.items()}
    missing, unexpected, wrong = _mismatch(_shapes(model), state_shapes)
    if not (missing or unexpected or wrong):
        model.load_state_dict(state)
        return
    model_shapes = _shapes(model)
    lines = [f"  {k}: weights {state_shapes[k]}, model {model_shapes[k]}" for k in wrong[:4]]
    if missing:
        lines.append(f"  {len(missing)} key(s) of the model missing from the weights: "
                     f"{missing[:4]}")
    if unexpected:
        lines.append(f"  {len(unexpected)} key(s) of the weights not in the model: "
                     f"{unexpected[:4]}")
    fits = [f for f in suggest_arch(state_shapes, num_classes, image_size) if f != arch]
    hint = ("\nthe weights fit: " + "; ".join(f"--arch {f}" for f in fits[:4])) if fits else \
        "\nnone of the known architectures fits them either; check --arch / --arch-kwargs"
    raise PractitionerInputError(f"{where} does not fit --arch {arch} with --num-classes "
                                 f"{num_classes}:\n" + "\n".join(lines) + hint)
