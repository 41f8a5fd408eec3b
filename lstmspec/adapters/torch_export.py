"""``torch.nn.LSTM`` through PyTorch's own graph capture: ``torch.jit.script``, ``torch.export``, ``torch.compile``.

Each path takes the module the PyTorch adapter builds (``torch.nn.LSTM(batch_first=True)``,
weights through the spec's ``torch`` layout) and runs what the capture made of it:

* ``torch.jit.script``: the module inside a two-line wrapper (a bare scripted
  ``nn.LSTM`` has no ``forward``: its overloads are compiled as ``forward__0``
  and ``forward__1``), saved with ``torch.jit.save`` and loaded back, as a model
  is shipped. The graph holds ``aten::lstm``; gradients are checked too.
* ``torch.export.export``: the ``ExportedProgram``'s module; its graph holds one
  ``aten.lstm.input``. With ``run_decompositions()`` (the core ATen opset a
  compiler or runtime consumes) the LSTM is unrolled into per-step ``addmm``,
  ``sigmoid``, ``tanh`` and ``mul`` nodes: the decomposition's math is checked.
* ``torch.compile`` (the inductor backend) with ``torch._dynamo.config.allow_rnn
  = True``: without it Dynamo does not capture an RNN module at all and the
  module runs eagerly (0 graphs). Run under ``torch.no_grad()`` (inference), and
  with autograd on as in training (parameters requiring grad, data not; then the
  gradients, the spec's default case only): in torch 2.13 that call raises
  ``expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer.default``, a failed
  case. The report notes the graphs Dynamo captured; a run that captured none fails.

``torch.export`` and ``torch.compile`` import Triton (through ``torch._dynamo``)
when it is installed, which aborts a process that has TensorFlow loaded, so both
capture *and run* in the spawned process ``torch_onnx.run_isolated`` keeps; that
is also why ``bench`` does not time them. A capture that raises is a skip with
its message; a captured program that raises when run is a failed case with the
message. Each case is captured and run once and cached by (path, loaded module,
inputs, gradients).
"""
from __future__ import annotations

import io
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import PRECISIONS, Precision
from .base import FRAMEWORKS, Framework, Outcome, Prepared, adapter
from .conversion import ExportedModelFailed, first_line, quiet_fds
from .torch_layers import Built, NNLSTMBatchFirst
from .torch_onnx import _digest, run_isolated

for _name in ("torch.jit", "torch.export", "torch.compile"):
    FRAMEWORKS.register(_name, Framework(_name, ("torch",), "pip install 'lstmspec[torch]'"))

_CACHE_LIMIT = 64


def count_ops(names: list[str]) -> str:
    """Op names with their counts, most frequent first, e.g. "aten.addmm.default x5, aten.tanh.default x5"."""
    counts = Counter(names)
    return ", ".join(op if n == 1 else f"{op} x{n}" for op, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


# ------------------------------------------------------------------ torch.jit.script, in this process
def _wrappers() -> tuple[type, type]:
    """The modules a user scripts: (with an initial state, without); see ``scripted_modules``."""
    from .scripted_modules import WithState, ZeroState

    return WithState, ZeroState


@adapter
class ScriptedLSTM(NNLSTMBatchFirst):
    """``torch.jit.script`` of a module holding the ``nn.LSTM``, saved and loaded back; autograd through it."""

    name = "torch.jit.script(nn.LSTM)"
    framework = "torch.jit"
    matrix = "reduced"  # script + save + load is about 0.07 s a case
    devices = ("cpu",)
    precisions = ("float64", "float32")
    on_extending_specs = False
    _graph = ""  # the aten ops of the last loaded module's inlined graph, e.g. "aten::lstm"
    doc = "torch.nn.LSTM(batch_first=True) in a module scripted by torch.jit.script, saved and loaded (CPU)"
    convention = ("torch.nn.LSTM(batch_first=True) held by a module whose forward calls it (torch.jit.script of a "
                  "bare nn.LSTM has no forward), scripted, torch.jit.save'd and torch.jit.load'ed; the graph holds "
                  "aten::lstm")

    def build(self, data: CaseData, device: str, precision: Precision) -> Built:
        import torch

        built = super().build(data, device, precision)
        wrapper = _wrappers()[0 if "h" in built.inputs else 1](built.module)
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13: "Please switch to torch.export"
            torch.jit.save(torch.jit.script(wrapper), buffer)
            buffer.seek(0)
            loaded = torch.jit.load(buffer, map_location=device)
        self._graph = count_ops([n.kind() for n in loaded.inlined_graph.nodes() if n.kind().startswith("aten::")
                                 and any(o.type().kind() == "TensorType" for o in n.outputs())])  # not shape checks
        return Built(loaded, built.inputs, built.shapes)

    def call(self, module: Any, inputs: dict[str, Any], data: CaseData) -> tuple[Any, dict[str, Any]]:
        y, h, c = module(*(inputs[k] for k in ("x", "h", "c") if k in inputs))
        return y, {"h": h[0], "c": c[0]}

    def input_grads(self, grads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # the loaded module's parameters are the wrapper's: lstm.weight_ih_l0 is the layout's weight_ih_l0
        return super().input_grads({k.removeprefix("lstm."): v for k, v in grads.items()})

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        prepared = super().prepare(data, device, precision, threads=threads)  # builds: sets self._graph
        prepared.note = f"torch.jit.script -> save -> load; graph: {self._graph}"
        return prepared


# ------------------------------------------------------------------ torch.export, torch.compile: in the worker
@dataclass
class Captured:
    """What one capture and run in the worker gave back: plain numpy, so it crosses the process boundary."""

    refused: str = ""  # the capture raised: a skip
    failed: str = ""  # the captured program raised when run: a failed case
    outputs: list[np.ndarray] = field(default_factory=list)  # y, h_n, c_n as the module returns them
    grads: dict[str, np.ndarray] = field(default_factory=dict)  # "x", "h", "c" and parameter names
    graph: str = ""  # what the captured graph holds


def _run_module(fn: Any, module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None,
                captured: Captured, *, autograd: bool = False) -> None:
    """``fn(*args)`` -> ``captured.outputs`` (and, given cotangents, the gradients of the check's loss, inputs
    included); without cotangents under ``torch.no_grad()`` unless ``autograd`` (the parameters require grad)."""
    import torch

    try:
        if cotangents is None:
            with torch.set_grad_enabled(autograd):
                y, (h, c) = fn(*args)
        else:
            leaves = [a.detach().clone().requires_grad_(True) for a in _flat(args)]
            y, (h, c) = fn(*_unflat(leaves))
            loss = (y.double() * torch.as_tensor(cotangents["y"])).sum()
            loss = loss + (h[0].double() * torch.as_tensor(cotangents["h"])).sum()
            loss = loss + (c[0].double() * torch.as_tensor(cotangents["c"])).sum()
            params = dict(module.named_parameters())
            sources = dict(zip(("x", "h", "c"), leaves)) | params
            grads = torch.autograd.grad(loss, list(sources.values()), allow_unused=True)
            captured.grads = {k: g.detach().double().numpy() for k, g in zip(sources, grads) if g is not None}
    except Exception as exc:  # noqa: BLE001 - the captured program's own failure
        captured.failed = first_line(exc)
        return
    captured.outputs = [t.detach().double().numpy() for t in (y, h, c)]


def _flat(args: tuple[Any, ...]) -> list[Any]:
    return [args[0], *args[1]] if len(args) > 1 else [args[0]]


def _unflat(leaves: list[Any]) -> tuple[Any, ...]:
    return (leaves[0], (leaves[1], leaves[2])) if len(leaves) > 1 else (leaves[0],)


def export_and_run(module: Any, args: tuple[Any, ...], decompose: bool) -> Captured:
    """``torch.export.export(module, args)`` (then ``run_decompositions()``), run on ``args``. In the worker."""
    import torch

    captured = Captured()
    try:
        with quiet_fds():
            program = torch.export.export(module.eval(), args)
            if decompose:
                program = program.run_decompositions()
    except Exception as exc:  # noqa: BLE001 - torch.export raises many kinds
        captured.refused = f"torch.export {torch.__version__} refuses: {first_line(exc)}"
        return captured
    captured.graph = count_ops([str(n.target) for n in program.graph.nodes if n.op == "call_function"
                                and not str(n.target).startswith("<built-in")])
    _run_module(program.module(), module, args, None, captured)
    return captured


def compile_and_run(module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None,
                    allow_rnn: bool = True) -> Captured:
    """``torch.compile(module)`` with ``allow_rnn``, called on ``args``; with cotangents, autograd on. In the worker."""
    import torch
    import torch._dynamo
    from torch._dynamo.utils import counters

    torch._dynamo.config.allow_rnn = allow_rnn
    torch._dynamo.reset()  # a fresh cache: every case's new module would count towards the recompile limit
    counters.clear()
    captured = Captured()
    compiled = torch.compile(module)
    with quiet_fds():
        if cotangents is None:
            _run_module(compiled, module, args, None, captured)
        else:
            # first as in training: the data do not require grad, the parameters do (torch 2.13 raises here);
            # then with the inputs requiring grad too, for the gradients the check compares
            _run_module(compiled, module, args, None, captured, autograd=True)
            if not captured.failed:
                _run_module(compiled, module, args, cotangents, captured)
    graphs, ops = counters["stats"]["unique_graphs"], counters["stats"]["calls_captured"]
    captured.graph = f"{graphs} graph(s) captured by Dynamo, {ops} call(s)"
    if not captured.failed and graphs == 0:
        captured.failed = "torch.compile captured no graph: the module ran eagerly, nothing was compiled"
    return captured


class _Isolated(NNLSTMBatchFirst):
    """Captured and run in the spawned worker, once per case; the outcome comes back as numpy."""

    matrix = "reduced"  # a capture per case
    by_request = True  # captured and run in a separate process, seconds a case: run when named with --framework
    devices = ("cpu",)
    precisions = ("float32",)
    gradients = False
    on_extending_specs = False
    untimed = ("captured and run in a separate process (Triton, which it imports, and TensorFlow cannot share "
               "one): a timing would be that of the process boundary")
    what: ClassVar[str]  # the path as the report names it
    _cache: ClassVar[dict[str, Captured]] = {}

    def capture(self, module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None) -> Captured:
        raise NotImplementedError

    def captured(self, data: CaseData, want_grads: bool) -> tuple[Captured, Built]:
        built = self.build(data, "cpu", PRECISIONS.get("float32"))
        key = f"{self.name}|{want_grads}|{_digest(built.module, built.inputs)}"
        found = self._cache.get(key)
        if found is None:
            inputs = built.inputs
            args = (inputs["x"],) if "h" not in inputs else (inputs["x"], (inputs["h"], inputs["c"]))
            cotangents = None
            if want_grads:
                cotangents = {k: np.asarray(v, dtype=np.float64) for k, v in data.cotangents.items()}
            found = run_isolated(self.what, self.capture, built.module, args, cotangents)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = found
        return found, built

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        reason = super().unsupported(data, device, precision)
        if reason:
            return reason
        found, _ = self.captured(data, self.gradients)
        return found.refused or None

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        def run(want_grads: bool) -> Outcome:
            found, built = self.captured(data, want_grads)
            if found.refused:
                raise ExportedModelFailed(found.refused)
            if found.failed:
                raise ExportedModelFailed(f"{self.what} ({found.graph}): {found.failed}")
            y, h, c = found.outputs
            grads = self.input_grads(dict(found.grads)) if want_grads else {}
            return Outcome(y, {"h": h[0], "c": c[0]}, dict(built.shapes), grads)

        found, _ = self.captured(data, self.gradients)
        return Prepared(lambda: run(False), lambda: run(False), run,
                        note=f"{self.what} in a separate process; graph: {found.graph}")


@adapter
class ExportedLSTM(_Isolated):
    name = "torch.export(nn.LSTM)"
    framework = "torch.export"
    what = "torch.export.export"
    doc = "torch.nn.LSTM(batch_first=True) captured by torch.export.export, the ExportedProgram's module run (CPU)"
    convention = ("torch.nn.LSTM(batch_first=True) captured by torch.export.export with the case's inputs; "
                  "ExportedProgram.module() run under no_grad; the graph holds aten.lstm.input")

    def capture(self, module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None) -> Captured:
        return export_and_run(module, args, False)


@adapter
class DecomposedLSTM(_Isolated):
    name = "torch.export(nn.LSTM).run_decompositions()"
    framework = "torch.export"
    what = "torch.export.export(...).run_decompositions()"
    doc = "torch.nn.LSTM(batch_first=True) exported and decomposed to the core ATen opset, run (CPU)"
    convention = ("torch.nn.LSTM(batch_first=True) captured by torch.export.export with the case's inputs, then "
                  "run_decompositions() (core ATen): the graph holds the LSTM unrolled per step (addmm, sigmoid, "
                  "tanh, mul, add); the ExportedProgram's module run under no_grad")

    def capture(self, module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None) -> Captured:
        return export_and_run(module, args, True)


@adapter
class CompiledLSTM(_Isolated):
    name = "torch.compile(nn.LSTM, allow_rnn)"
    framework = "torch.compile"
    what = "torch.compile(allow_rnn=True)"
    doc = "torch.compile(torch.nn.LSTM(batch_first=True)), inductor, torch._dynamo.config.allow_rnn = True, inference"
    convention = ("torch.compile (inductor) of torch.nn.LSTM(batch_first=True) with torch._dynamo.config.allow_rnn "
                  "= True (without it Dynamo captures no graph and the module runs eagerly), called under "
                  "torch.no_grad(); a fresh Dynamo cache per case")

    def capture(self, module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None) -> Captured:
        return compile_and_run(module, args, None)


@adapter
class CompiledLSTMTraining(_Isolated):
    name = "torch.compile(nn.LSTM, allow_rnn)/autograd"
    framework = "torch.compile"
    what = "torch.compile(allow_rnn=True) with autograd"
    gradients = True
    matrix = "default case"  # compiling the backward pass takes seconds a case
    doc = "torch.compile(torch.nn.LSTM(batch_first=True)), allow_rnn, called with autograd on (as in training)"
    convention = ("torch.compile (inductor) of torch.nn.LSTM(batch_first=True) with torch._dynamo.config.allow_rnn "
                  "= True, called with autograd on: first as in training (the parameters require grad, the data "
                  "do not), then with the inputs requiring grad too for the gradients")

    def capture(self, module: Any, args: tuple[Any, ...], cotangents: dict[str, np.ndarray] | None) -> Captured:
        return compile_and_run(module, args, cotangents)
