"""Name -> object registries with lazy entries and close-match suggestions.

Six registries live here: ``TASKS``, ``DATASETS``, ``MODELS``, ``ATTACKS``, ``DEFENSES`` and
``AUGMENTATIONS``. An entry is either an object (usually a class or a factory function) or a
lazy ``"package.module:attribute"`` string that is imported only on first ``get``; this keeps
``import core`` free of heavy optional packages.

An entry may carry declarations made where it is registered (``register(..., input_shape=(3,
32, 32))``): ``info(name)`` returns them, so code and tests that iterate ``entries()`` need no
list of their own (a model declares the input it takes; the contract tests build every model
at it).

Names may carry a namespace (``"image/badnets"``). ``get(name, namespace="image")`` looks up
``"image/name"`` first and then the bare ``name``, and a miss lists the close matches among the
names visible from that namespace and the namespaces where the name is registered.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, Iterable


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists close matches and every known name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def _resolve(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"lazy registry entry {path!r} must look like 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry:
    """A mapping from names to objects; see the module docstring."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._lazy: dict[str, str] = {}
        self._info: dict[str, dict[str, Any]] = {}

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, obj: Any = None, *, namespace: str | None = None,
                 overwrite: bool = False, **info: Any) -> Any:
        """Register ``obj`` under ``name``; without ``obj`` it returns a decorator. Keyword
        arguments beyond these are declarations about the entry (``info``)."""
        key = f"{namespace}/{name}" if namespace else name
        if info:
            self._info[key] = dict(info)

        def add(target: Any) -> Any:
            # a lazy entry is a promise of exactly this registration: it is replaced silently
            if not overwrite and key in self._entries and self._entries[key] is not target:
                raise ValueError(f"{self.kind} {key!r} is already registered")
            self._lazy.pop(key, None)
            self._entries[key] = target
            return target

        return add if obj is None else add(obj)

    def register_lazy(self, name: str, path: str, *, namespace: str | None = None) -> None:
        """Register ``"package.module:attribute"`` to be imported on first use."""
        key = f"{namespace}/{name}" if namespace else name
        if key not in self._entries:
            self._lazy[key] = path

    def unregister(self, name: str, *, namespace: str | None = None) -> None:
        """Remove an entry (tests that register a part for a while)."""
        key = f"{namespace}/{name}" if namespace else name
        self._entries.pop(key, None)
        self._lazy.pop(key, None)
        self._info.pop(key, None)

    # -- lookup -------------------------------------------------------------------------------
    def names(self, namespace: str | None = None) -> list[str]:
        """Names visible from ``namespace`` (namespaced ones shown without their prefix)."""
        keys = set(self._entries) | set(self._lazy)
        visible = {k for k in keys if "/" not in k}
        if namespace:
            prefix = f"{namespace}/"
            visible |= {k[len(prefix):] for k in keys if k.startswith(prefix)}
        return sorted(visible)

    def entries(self) -> list[tuple[str | None, str]]:
        """Every registered ``(namespace, name)`` (namespace None for global names), sorted."""
        keys = set(self._entries) | set(self._lazy)
        pairs = [tuple(k.split("/", 1)) if "/" in k else (None, k) for k in keys]
        return sorted(pairs, key=lambda p: (p[0] or "", p[1]))

    def info(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """What the entry declared where it was registered (empty when nothing)."""
        self.get(name, namespace)                  # a lazy entry registers itself on import
        for key in ([f"{namespace}/{name}", name] if namespace else [name]):
            if key in self._entries:
                return dict(self._info.get(key, {}))
        return {}

    def __contains__(self, name: str) -> bool:
        return name in self._entries or name in self._lazy

    def get(self, name: str, namespace: str | None = None) -> Any:
        candidates = [f"{namespace}/{name}", name] if namespace else [name]
        for key in candidates:
            if key in self._entries:
                return self._entries[key]
            if key in self._lazy:
                obj = _resolve(self._lazy[key])
                # the import may have registered it already; keep whichever is there
                self._entries.setdefault(key, obj)
                self._lazy.pop(key, None)
                return self._entries[key]
        raise UnknownNameError(self._unknown_message(name, namespace))

    def _unknown_message(self, name: str, namespace: str | None) -> str:
        known = self.names(namespace)
        where = f" for {namespace!r}" if namespace else ""
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        keys = set(self._entries) | set(self._lazy)
        owners = sorted(ns for ns, _, bare in (k.partition("/") for k in keys)
                        if bare == name and ns != namespace)
        if owners:   # the right name for another namespace (task): say which
            hint += f" {name!r} is registered for {', '.join(repr(o) for o in owners)}."
        listing = ", ".join(known) if known else "(none registered)"
        return f"unknown {self.kind} {name!r}{where}.{hint} Known: {listing}."

    def build(self, name: str, *args: Any, namespace: str | None = None, **kwargs: Any) -> Any:
        """``get(name)(*args, **kwargs)``."""
        factory: Callable[..., Any] = self.get(name, namespace)
        return factory(*args, **kwargs)

    def items(self, namespace: str | None = None) -> Iterable[tuple[str, Any]]:
        for name in self.names(namespace):
            yield name, self.get(name, namespace)


TASKS = Registry("task")
DATASETS = Registry("dataset")
MODELS = Registry("model")
ATTACKS = Registry("attack")
DEFENSES = Registry("defense")
AUGMENTATIONS = Registry("augmentation")
