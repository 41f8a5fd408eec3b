"""The adapter protocol: how a framework layer is run on a case.

An adapter *prepares* a layer once per case (``prepare``): it builds the
framework's layer, loads the case's canonical parameters into the
framework's own tensors *through the layout declared in the spec*
(``spec.layout(adapter.layout).to_framework``), puts the inputs where the
layer wants them, and hands back a ``Prepared``: callables with all of that
bound. ``lstmspec check`` calls ``Prepared.outcome`` (through ``run``, which
checks what comes back); ``lstmspec bench`` times ``Prepared.forward`` and
``Prepared.forward_backward`` and compares ``Prepared.outputs``. So a layer,
an export or a conversion path is written once and serves both.

Results are numpy float64. Gradients come back under the framework's tensor
names and are mapped to canonical names by the same layout, so no adapter
writes a gate permutation by hand.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
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
    disconnected: tuple[str, ...] = ()  # inputs and parameters no gradient reached (autograd returned None)


@dataclass
class Prepared:
    """One implementation built for one case, its inputs bound: ``check`` compares it, ``bench`` times it.

    Everything costly (the layer, its loaded weights, an ONNX session, a
    ``tf.function`` object, the inputs on the device) is done by ``prepare``;
    the callables only call. ``forward`` and ``forward_backward`` are what a
    timer may call many times; ``outputs`` converts one more ``forward`` so the
    timed call itself can be compared; ``outcome`` is what the check compares
    (for an eager framework it may run differently from the timed graph).
    """

    forward: Callable[[], Any]  # inference, no gradients
    outputs: Callable[[], Outcome]  # forward() once more, as float64 numpy in the spec's layout
    outcome: Callable[[bool], Outcome] | None = None  # what check compares; True: with gradients (framework names)
    forward_backward: Callable[[], Any] | None = None  # the forward pass and the gradients of the case's loss
    context: Callable[[], AbstractContextManager[Any]] = nullcontext  # math mode around every call
    note: str = ""  # how it is called (e.g. "through tf.function"), shown in bench reports


class OutcomeInvalid(Exception):
    """An adapter broke the protocol: its ``_run`` returned something other than float64 numpy results."""

    def __init__(self, adapter: str, what: str, got: str) -> None:
        super().__init__(f"{adapter} returned {what} as {got}, but the adapter protocol is float64 numpy arrays")
        self.adapter, self.what, self.got = adapter, what, got


def _describe_array(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} numpy array"
    return type(value).__name__


def check_outcome(name: str, outcome: Any) -> Outcome:
    """``outcome`` if it is float64 numpy throughout; else OutcomeInvalid naming the field.

    Values are not judged here (NaN, a wrong shape, a missing state are the
    comparison's failures); only the form the comparisons rely on.
    """
    if not isinstance(outcome, Outcome):
        raise OutcomeInvalid(name, "its outcome", type(outcome).__name__)
    arrays = [("y", outcome.y)] + [(f"final[{k!r}]", v) for k, v in outcome.final.items()]
    arrays += [(f"grads[{k!r}]", v) for k, v in outcome.grads.items()]
    arrays += [(f"gates[{k!r}]", v) for k, v in outcome.gates.items()]
    for what, value in arrays:
        if not (isinstance(value, np.ndarray) and value.dtype == np.float64):
            raise OutcomeInvalid(name, what, _describe_array(value))
    for tensor, shape in outcome.tensors.items():
        if not (isinstance(shape, tuple) and all(isinstance(n, int) for n in shape)):
            raise OutcomeInvalid(name, f"the shape of {tensor}", repr(shape))
    return outcome


@dataclass(frozen=True)
class Framework:
    name: str
    modules: tuple[str, ...]  # what must import
    install: str  # how to get it

    def available(self) -> bool:
        from ..quiet import quiet_native_stderr

        try:
            with quiet_native_stderr():  # TensorFlow logs INFO lines to descriptor 2 while it is imported
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
    # The cases a check runs without --matrix full, a name in check.cases.MATRICES: "" (the check's matrix),
    # "reduced" (check.cases.reduced_matrix: export and conversion paths, a conversion per case), or "default
    # case" (the spec's default case in each direction the implementation supports: conversions of seconds).
    matrix: ClassVar[str] = ""
    # The final states it returns (None: all the spec's); the others are not compared, as its convention says.
    final_states: ClassVar[tuple[str, ...] | None] = None
    # Captures or compiles each case in a separate spawned process (paths that import Triton, which cannot
    # share a process with TensorFlow), seconds a case: checked when named with --framework, not by a plain
    # `lstmspec check`, which stays within a minute on two cores.
    by_request: ClassVar[bool] = False
    # Why ``lstmspec bench`` does not time this layer ("": it does), e.g. one half of a
    # bidirectional layer, whose timing would be that of both directions.
    untimed: ClassVar[str] = ""

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        """Why this case cannot run here (reported as skipped), or None."""
        return None

    def own_precision(self) -> str | None:
        """The precision a check without --dtype runs this at, where it is not the check's own default
        (OpenVINO's default-precision row: the device's, e.g. bfloat16); None: the check's."""
        return None

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        """Build and load the layer for ``data`` once, inputs bound.

        ``threads``: None for the check's setting; a count (0: the runtime's
        default) for a timing, used by runtimes that take it per session.
        """
        raise NotImplementedError(f"{self.name} does not prepare a layer")

    def run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        """One case through the adapter's own ``_run``, with the form of what comes back checked."""
        return check_outcome(self.name, self._run(data, device, precision, want_grads))

    def _run(self, data: CaseData, device: str, precision: Precision, want_grads: bool) -> Outcome:
        prepared = self.prepare(data, device, precision)
        if prepared.outcome is None:
            raise NotImplementedError(f"{self.name} prepares no outcome for the check")
        with prepared.context():
            return prepared.outcome(want_grads)


ADAPTERS: Registry[Adapter] = Registry("framework adapter")
_MODULES = ("torch_layers", "torch_projection", "keras_layers", "tf_keras_layers", "onnx_lstm", "torch_onnx",
            "openvino_export", "tf2onnx_export", "torch_export", "tflite_export")
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
