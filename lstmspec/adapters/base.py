"""The adapter protocol: how a framework layer is run on a case.

An adapter builds the framework's layer, loads the case's canonical
parameters into the framework's own tensors *through the layout declared in
the spec* (``spec.layout(adapter.layout).to_framework``), runs it, and hands
back numpy float64 results. Gradients come back under the framework's tensor
names and are mapped to canonical names by the same layout, so no adapter
writes a gate permutation by hand.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import Precision
from ..errors import LookupFailed
from ..registry import Registry


@dataclass
class Outcome:
    y: np.ndarray
    final: dict[str, np.ndarray]
    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict)  # framework weight shapes
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # "x", state names, framework tensor names
    gates: dict[str, np.ndarray] = field(default_factory=dict)  # gate values shaped like y (kernels that return them)


@dataclass(frozen=True)
class Framework:
    name: str
    modules: tuple[str, ...]  # what must import
    install: str  # how to get it

    def available(self) -> bool:
        try:
            for module in self.modules:
                importlib.import_module(module)
        except Exception:  # noqa: BLE001 - a broken install is as missing as an absent one
            return False
        return True

    def version(self) -> str:
        try:
            mod = importlib.import_module(self.modules[-1])
            return str(getattr(mod, "__version__", "?"))
        except Exception:  # noqa: BLE001
            return "not installed"


FRAMEWORKS: Registry[Framework] = Registry("framework")
for _f in [
    Framework("torch", ("torch",), "pip install 'lstmspec[torch]'"),
    Framework("keras", ("tensorflow", "keras"), "pip install 'lstmspec[tf]'"),
    Framework("onnxruntime", ("onnx", "onnxruntime"), "pip install 'lstmspec[onnx]'"),
]:
    FRAMEWORKS.register(_f.name, _f)


class Adapter:
    """One framework layer configuration checked against one spec."""

    name: ClassVar[str]
    framework: ClassVar[str]
    spec: ClassVar[str]
    layout: ClassVar[str | None] = None
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[tuple[str, ...]] = ("float64", "float32")
    gradients: ClassVar[bool] = True
    convention: ClassVar[str] = ""  # stated in reports (e.g. output order of a reverse direction)
    doc: ClassVar[str] = ""
    # Declared restrictions: attribute/option name -> the values this layer
    # can compute. Cases outside are skipped-by-declaration (not failed), and
    # --fuzz draws only inside. Anything not declared is checked.
    supports: ClassVar[dict[str, tuple[Any, ...]]] = {}
    supports_note: ClassVar[str] = ""
    # Also run on specs that extend this one with a transform (row_lstm extends
    # lstm). The transform needs one layer per framework, so variants of a layer
    # (time-first, cell, bidirectional halves) are checked on their own spec only.
    on_extending_specs: ClassVar[bool] = True

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        """Why this case cannot run here (reported as skipped), or None."""
        return None

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        raise NotImplementedError


ADAPTERS: Registry[Adapter] = Registry("framework adapter")
_MODULES = ("torch_layers", "keras_layers", "onnx_lstm")
_loaded = False


def adapter(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: register one instance under ``cls.name``."""
    ADAPTERS.register(cls.name, cls())
    return cls


def all_adapters() -> list[Adapter]:
    global _loaded
    if not _loaded:
        for module in _MODULES:
            importlib.import_module(f"lstmspec.adapters.{module}")
        _loaded = True
    return [ADAPTERS.get(n) for n in ADAPTERS]


def select_adapters(names: list[str] | None) -> list[Adapter]:
    """Adapters by framework name (``torch``) or adapter name (``torch.nn.LSTMCell``)."""
    every = all_adapters()
    if not names:
        return every
    chosen: list[Adapter] = []
    for name in names:
        matches = [a for a in every if a.framework == name or a.name == name]
        if not matches:
            raise LookupFailed("framework or adapter", name, list(FRAMEWORKS) + [a.name for a in every])
        chosen += [a for a in matches if a not in chosen]
    return chosen


def installed(a: Adapter, asked: bool, notes: list[str]) -> bool:
    """Whether ``a``'s framework imports. Missing and asked for by name is a usage error;
    missing and not asked for adds one note (once per framework) and skips it."""
    from ..errors import ConfigError

    fw = FRAMEWORKS.get(a.framework)
    if fw.available():
        return True
    if asked:
        raise ConfigError(f"framework {fw.name} was asked for but is not installed: {fw.install}")
    note = f"skipping {fw.name}: not installed ({fw.install})"
    if note not in notes:
        notes.append(note)
    return False


def as_numpy(value: Any) -> np.ndarray:
    """float64 numpy from a torch/TF/numpy array."""
    if hasattr(value, "detach"):
        import torch

        return value.detach().to("cpu", dtype=torch.float64).numpy()
    if hasattr(value, "numpy"):
        value = value.numpy()
    return np.asarray(value, dtype=np.float64)
