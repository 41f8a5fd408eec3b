"""ONNX Runtime: the ONNX ``LSTM`` operator (CPU, float32), with and without peepholes.

The weights are graph inputs named after the spec's ``onnx`` layout tensors
(``W`` (1, 4*units, input), ``R`` (1, 4*units, units), ``B`` (1, 8*units),
``P`` (1, 3*units); their gate orders are written in the spec file, not here),
fed in the positions the operator defines: X, W, R, B, sequence_lens,
initial_h, initial_c, P. ``sequence_lens`` is never fed.

Every size except ``hidden_size`` (a required attribute in ORT) is a symbolic
dim, so one ``InferenceSession`` serves every case with the same graph
attributes; sessions are cached per (layout, direction, activations,
peepholes, initial state, units) and thread count because creating one costs
far more than running a case.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..check.oracle import CaseData
from ..check.precision import Precision
from .base import Adapter, Outcome, Prepared, adapter, as_numpy

#: Newest version of the LSTM operator (22 widened the types; the semantics are those of 14, which added ``layout``).
OPSET = 22
#: The operator's inputs in their fixed positions; a layout tensor must be one of these.
_INPUTS = ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P")
_RANKS = {"W": 3, "R": 3, "B": 2, "P": 2}


@dataclass(frozen=True)
class OnnxActivation:
    """An ONNX RNN activation name and, for those that take them, its alpha and beta."""

    op: str
    alpha: float | None = None
    beta: float | None = None


#: The spec's activation names (lstmspec/expr/functions.py) as ONNX RNN activations.
ONNX_ACTIVATIONS = {
    "sigmoid": OnnxActivation("Sigmoid"),
    "tanh": OnnxActivation("Tanh"),
    "relu": OnnxActivation("Relu"),
    # ONNX HardSigmoid is clip(alpha*x + beta, 0, 1); spelled out rather than left to the defaults.
    "hard_sigmoid_keras2": OnnxActivation("HardSigmoid", 0.2, 0.5),  # clip(0.2x + 1/2, 0, 1)
    "hard_sigmoid": OnnxActivation("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3: relu6(x + 3)/6 = clip(x/6 + 1/2, 0, 1)
    "linear": OnnxActivation("Affine", 1.0, 0.0),  # alpha*x + beta
}


@dataclass(frozen=True)
class GraphKey:
    """Everything that changes the ONNX graph; sizes other than ``units`` do not."""

    layout: int  # the operator's ``layout`` attribute: 0 time-major, 1 batch-major
    direction: str
    activations: tuple[OnnxActivation, OnnxActivation, OnnxActivation]  # f, g, h
    tensors: tuple[str, ...]  # the layout's tensor names, e.g. ("W", "R", "B") or (..., "P")
    initial_state: bool
    units: int


class SessionUnsupported(Exception):
    """ORT refuses the graph as a documented limitation of its kernel (not a bug in the graph)."""


_SESSIONS: dict[tuple[GraphKey, int], Any] = {}  # (key, threads) -> InferenceSession or SessionUnsupported


def onnx_activations(attrs: dict[str, Any]) -> tuple[OnnxActivation, OnnxActivation, OnnxActivation] | str:
    """ONNX ``activations`` [f, g, h] = [recurrent_activation, activation, activation], or why not."""
    chosen = []
    for name in ("recurrent_activation", "activation", "activation"):
        value = attrs[name]
        if value not in ONNX_ACTIVATIONS:
            return f"{name}={value}: no ONNX RNN activation is mapped to it (mapped: {', '.join(ONNX_ACTIVATIONS)})"
        chosen.append(ONNX_ACTIVATIONS[value])
    return tuple(chosen)  # type: ignore[return-value]


def build_model(key: GraphKey) -> Any:
    """The one-node ONNX model for ``key``, checked by ``onnx.checker``."""
    import onnx
    from onnx import TensorProto, helper

    unknown = [t for t in key.tensors if t not in _RANKS]
    if unknown:
        raise ValueError(f"layout tensors {unknown} are not ONNX LSTM inputs; expected some of {', '.join(_RANKS)}")
    time_batch = ["seq_length", "batch_size"] if key.layout == 0 else ["batch_size", "seq_length"]
    state = ["num_directions", "batch_size"] if key.layout == 0 else ["batch_size", "num_directions"]
    shapes: dict[str, list[Any]] = {"X": time_batch + ["input_size"]}
    for name in key.tensors:
        shapes[name] = ["num_directions"] + [f"{name}_dim{i}" for i in range(1, _RANKS[name])]
    if key.initial_state:
        shapes["initial_h"] = shapes["initial_c"] = state + ["hidden_size"]
    inputs = [name if name in shapes else "" for name in _INPUTS]
    while inputs[-1] == "":
        inputs.pop()
    # [f, g, h] per direction, forward first; both directions of a bidirectional graph get the same
    activations = list(key.activations) * (2 if key.direction == "bidirectional" else 1)
    attrs: dict[str, Any] = dict(hidden_size=key.units, direction=key.direction, layout=key.layout,
                                 activations=[a.op for a in activations])
    # alpha/beta lists are consumed in order by the activations that take them.
    alphas = [a.alpha for a in activations if a.alpha is not None]
    betas = [a.beta for a in activations if a.beta is not None]
    if alphas:
        attrs.update(activation_alpha=alphas, activation_beta=betas)
    node = helper.make_node("LSTM", inputs, ["Y", "Y_h", "Y_c"], **attrs)
    y_shape = (time_batch[:1] + ["num_directions"] + time_batch[1:] if key.layout == 0
               else time_batch + ["num_directions"]) + ["hidden_size"]

    def info(name: str, shape: list[Any]) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(
        [node], "lstm",
        [info(n, shapes[n]) for n in inputs if n],
        [info("Y", y_shape), info("Y_h", state + ["hidden_size"]), info("Y_c", state + ["hidden_size"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model


def session(key: GraphKey, threads: int = 1) -> Any:
    """A cached CPU ``InferenceSession`` for ``key``; raises SessionUnsupported for ORT's own limits.

    ``threads``: intra-op threads (0: ORT's default, all cores). One is right for
    checking many small cases; a timing asks for what ``bench --threads`` says.
    """
    cached = _SESSIONS.get((key, threads))
    if cached is None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # 4 (fatal only), not 3: a refused graph would also print its error on
        # stderr, and every error comes back as the exception handled here.
        options.log_severity_level = 4
        try:
            cached = ort.InferenceSession(build_model(key).SerializeToString(), options,
                                          providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own pybind classes
            sentence = re.search(r"[^.]*\bnot supported\b[^.]*\.", str(exc))
            if sentence is None:
                raise
            cached = SessionUnsupported(f"onnxruntime {ort.__version__} CPU LSTM kernel: {sentence.group(0).strip()}")
        _SESSIONS[(key, threads)] = cached
    if isinstance(cached, SessionUnsupported):
        raise cached
    return cached


class _OnnxLSTM(Adapter):
    framework = "onnxruntime"
    spec = "lstm"
    layout = "onnx"  # the spec's layout; the operator's own ``layout`` attribute is ``onnx_layout``
    devices = ("cpu",)
    # ORT's CPU LSTM computes in float only: a double graph loads but its run fails with "LSTM
    # operator does not support double yet", and a float16 graph gets Casts to float inserted.
    precisions = ("float32",)
    gradients = False
    supports = {"return_sequences": (True,)}
    supports_note = "ONNX's LSTM always returns every step (Y)"
    onnx_layout = 0
    convention = "direction=reverse: Y[t] is the output at input position t (aligned with the input)"

    half: int | None = None  # which half of direction=bidirectional this adapter checks; None: not bidirectional
    other_name = ""

    def _key(self, data: CaseData) -> GraphKey | str:
        activations = onnx_activations(data.attrs)
        if isinstance(activations, str):
            return activations
        tensors = tuple(t.name for t in data.spec.layout(self.layout).tensors)
        direction = "bidirectional" if self.half is not None else data.attrs.get("direction", "forward")
        return GraphKey(self.onnx_layout, direction, activations, tensors, not data.zero_state,
                        int(data.state["h"].shape[-1]))

    def unsupported(self, data: CaseData, device: str, precision: Precision) -> str | None:
        key = self._key(data)
        if isinstance(key, str):
            return key
        try:
            session(key)
        except SessionUnsupported as exc:
            return str(exc)
        return None

    def prepare(self, data: CaseData, device: str, precision: Precision, *, threads: int | None = None) -> Prepared:
        key = self._key(data)
        if isinstance(key, str):  # unsupported() says so first when the runner calls
            raise ValueError(f"{self.name} cannot run this case: {key}")
        layout = data.spec.layout(self.layout)
        tensors = layout.to_framework(data.params, data.rng("bias split"))
        shapes = {name: tuple(t.shape) for name, t in tensors.items()}
        states = {name: data.state[name][None] for name in ("h", "c")}  # (num_directions=1, batch, units)
        k = 0 if self.half is None else self.half
        if self.half is not None:
            # The other direction gets unrelated random weights and state; this half is
            # [k] of every (num_directions=2, ...) tensor, Y[:, k] of the output.
            other = data.rng(self.other_name)
            params = {n: other.uniform(-0.5, 0.5, v.shape) for n, v in data.params.items()}
            halves = [tensors, layout.to_framework(params, other)][:: 1 if k == 0 else -1]
            tensors = {name: np.concatenate([h[name] for h in halves]) for name in tensors}
            halves_state = [states, {n: other.uniform(-0.5, 0.5, v.shape) for n, v in states.items()}]
            states = {n: np.concatenate([h[n] for h in halves_state[:: 1 if k == 0 else -1]]) for n in states}
        feeds = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}
        major = (1, 0, 2) if self.onnx_layout == 0 else (0, 1, 2)  # data.x is (batch, time, input)
        feeds["X"] = np.ascontiguousarray(data.x.transpose(major), dtype=np.float32)
        if key.initial_state:
            for name, state in (("initial_h", "h"), ("initial_c", "c")):
                # (num_directions, batch, units), or (batch, num_directions, units) batch-major
                value = states[state] if self.onnx_layout == 0 else states[state].transpose(1, 0, 2)
                feeds[name] = np.ascontiguousarray(value, dtype=np.float32)
        used = 1 if threads is None else threads
        runs = session(key, used)

        def forward() -> Any:
            return runs.run(["Y", "Y_h", "Y_c"], feeds)

        def outputs() -> Outcome:
            y, h, c = forward()
            if self.onnx_layout == 0:  # Y (time, num_directions, batch, units), Y_h (num_directions, batch, units)
                y, h, c = y[:, k].transpose(1, 0, 2), h[k], c[k]
            else:  # Y (batch, time, num_directions, units), Y_h (batch, num_directions, units)
                y, h, c = y[:, :, k], h[:, k], c[:, k]
            return Outcome(as_numpy(y), {"h": as_numpy(h), "c": as_numpy(c)}, dict(shapes))

        return Prepared(forward, outputs, lambda want_grads: outputs(),
                        note=f"InferenceSession.run, intra_op_num_threads={used} (0 = all cores)")


@adapter
class OnnxLSTM(_OnnxLSTM):
    name = "onnxruntime.LSTM"
    doc = "ONNX LSTM operator in ONNX Runtime (CPU), layout=0: X (time, batch, input), no peepholes"


@adapter
class OnnxLSTMBatchMajor(_OnnxLSTM):
    name = "onnxruntime.LSTM(layout=1)"
    on_extending_specs = False
    doc = "ONNX LSTM operator in ONNX Runtime (CPU), layout=1: X (batch, time, input), no peepholes"
    onnx_layout = 1


@adapter
class OnnxLSTMPeephole(_OnnxLSTM):
    name = "onnxruntime.LSTM+peepholes"
    spec = "lstm_peephole"
    doc = "ONNX LSTM operator with P in ONNX Runtime (CPU), layout=0: X (time, batch, input)"


@adapter
class OnnxLSTMPeepholeBatchMajor(_OnnxLSTM):
    name = "onnxruntime.LSTM+peepholes(layout=1)"
    spec = "lstm_peephole"
    doc = "ONNX LSTM operator with P in ONNX Runtime (CPU), layout=1: X (batch, time, input)"
    onnx_layout = 1


class _OnnxBidirectionalHalf(_OnnxLSTM):
    """One direction of ``direction=bidirectional``, checked on its own (the other gets random weights).

    The shapes checked are those of this direction's slice ``W[k]``, ``R[k]``...
    of the (2, ...) tensors, against the spec's one-direction layout.
    """

    on_extending_specs = False
    supports_note = "one half of a bidirectional ONNX LSTM; ONNX's LSTM always returns every step (Y)"
    untimed = "one half of a bidirectional LSTM: its timing would be that of both directions"


@adapter
class OnnxLSTMBidirectionalForward(_OnnxBidirectionalHalf):
    name = "onnxruntime.LSTM(bidirectional)/forward"
    doc = "the forward half of the ONNX LSTM operator with direction=bidirectional, ONNX Runtime (CPU), layout=0"
    half, other_name = 0, "reverse half"
    supports = {"direction": ("forward",), "return_sequences": (True,)}
    convention = "direction=bidirectional: Y[:, 0] and Y_h[0] are the forward direction"


@adapter
class OnnxLSTMBidirectionalReverse(_OnnxBidirectionalHalf):
    name = "onnxruntime.LSTM(bidirectional)/reverse"
    doc = "the reverse half of the ONNX LSTM operator with direction=bidirectional, ONNX Runtime (CPU), layout=0"
    half, other_name = 1, "forward half"
    supports = {"direction": ("reverse",), "return_sequences": (True,)}
    convention = ("direction=bidirectional: Y[t, 1] is the reverse direction's output at input position t "
                  "(aligned with the input), Y_h[1] its state after input position 0")


@adapter
class OnnxLSTMPeepholeBidirectionalForward(OnnxLSTMBidirectionalForward):
    name = "onnxruntime.LSTM+peepholes(bidirectional)/forward"
    spec = "lstm_peephole"
    doc = "the forward half of the ONNX LSTM operator with P and direction=bidirectional, ONNX Runtime (CPU)"


@adapter
class OnnxLSTMPeepholeBidirectionalReverse(OnnxLSTMBidirectionalReverse):
    name = "onnxruntime.LSTM+peepholes(bidirectional)/reverse"
    spec = "lstm_peephole"
    doc = "the reverse half of the ONNX LSTM operator with P and direction=bidirectional, ONNX Runtime (CPU)"
